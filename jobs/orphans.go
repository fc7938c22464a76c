package jobs

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Orphaned tasks: a worker that dies (SIGKILL, OOM, a lost node) leaves its
// tasks active in Redis with a lease nobody extends. asynq's recoverer hands them
// back once a minute, and only those whose lease expired more than 30 s before:
// up to 90 s after the death. The sweeper does it sooner: every OrphanInterval it
// moves each active task whose lease has expired back to pending, so a killed
// worker's deliveries run again within asynq's lease (30 s) plus OrphanInterval.
//
// This reads asynq's key layout (pinned at v0.26.0): the active list, the lease
// zset (scored by expiry, unix seconds) and the pending list of a queue, and the
// task hash's state — the same move as asynq's own requeueCmd (internal/rdb), on
// the condition that the lease has expired. All keys share the queue's hash tag,
// so the script runs on a Redis Cluster too. A live worker extends its leases
// every few seconds, so only a dead or cut-off worker's tasks expire.

// DefaultOrphanInterval is how often the sweeper looks for orphaned tasks.
const DefaultOrphanInterval = 5 * time.Second

var requeueOrphanScript = redis.NewScript(`
local score = redis.call("ZSCORE", KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then return 0 end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("RPUSH", KEYS[3], ARGV[1])
redis.call("HSET", KEYS[4], "state", "pending")
return 1`)

// RequeueOrphans moves the queue's active tasks whose lease expired before now
// back to pending, and returns how many it moved.
func (s *Sweeper) RequeueOrphans(ctx context.Context, now time.Time) (int, error) {
	prefix := "asynq:{" + s.Queue.Name() + "}:"
	cutoff := strconv.FormatInt(now.Unix(), 10)
	ids, err := s.Redis.ZRangeByScore(ctx, prefix+"lease", &redis.ZRangeBy{Min: "-inf", Max: cutoff}).Result()
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, id := range ids {
		n, err := requeueOrphanScript.Run(ctx, s.Redis,
			[]string{prefix + "active", prefix + "lease", prefix + "pending", prefix + "t:" + id}, id, cutoff).Int()
		if err != nil {
			return moved, err
		}
		moved += n
	}
	if moved > 0 {
		sweptTotal.WithLabelValues("orphan_requeued").Add(float64(moved))
	}
	return moved, nil
}
