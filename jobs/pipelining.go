package jobs

import (
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Pipelined returns rdb with go-redis's automatic pipelining: the commands that
// goroutines issue at the same moment — asynq's enqueues, dequeues and acks,
// the inbound dedup claims, the rate limits and the in-flight cap's scripts —
// go to Redis together, one write and one read for the lot, instead of a round
// trip each. Each call still blocks until its own reply is in and returns its
// own result, so callers do not change; a lone command is sent at once, so
// nothing waits at idle. Blocking reads (a listen session's XREAD BLOCK) and
// MULTI/EXEC pipelines keep connections of their own.
//
// Why: on a machine shared by every process, the system calls of one round
// trip per command were the api's and the worker's largest single cost, and
// Redis's own (bench/RESULTS.md).
//
// What changes for callers: a command's context no longer cuts it short once
// it is queued (the connection's read and write timeouts still bound it), and
// a batch cut by a dropped connection is sent again whole, as a lone command
// is. Closing the result closes rdb.
func Pipelined(rdb redis.UniversalClient) (redis.UniversalClient, error) {
	ap, err := rdb.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("redis pipelining: %w", err)
	}
	return pipelined{ap, rdb}, nil
}

// pipelined is an autopipeliner that owns its client.
type pipelined struct {
	*redis.AutoPipeliner
	base redis.UniversalClient
}

// Close stops the pipeliner, once what is queued is sent, then the client.
func (p pipelined) Close() error {
	p.AutoPipeliner.Close()
	return p.base.Close()
}
