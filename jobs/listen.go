package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/redis/go-redis/v9"
)

// Listen sessions (see webhooks.ListenScheme): the worker appends each delivery
// to the session's Redis stream and waits for the answer the CLI reports; the
// api streams the deliveries to `empfio listen` and takes its reports.
const (
	// ListenAlive is how long a session counts as connected after the api last
	// saw its stream open; ListenStreamMax bounds what waits in a stream, and
	// ListenStreamTTL how long an unread stream is kept.
	ListenAlive     = 30 * time.Second
	ListenStreamMax = 1000
	ListenStreamTTL = time.Hour
	// ListenAbandoned is how long a listen session's stream may go unread (a
	// CLI killed before it could end the session) before the sweeper deletes
	// it; a connected CLI opens its stream again every listenStreamFor (25 s).
	// The sweeper looks every ListenCheckInterval, so a session is gone within
	// a minute of its CLI.
	ListenAbandoned     = 45 * time.Second
	ListenCheckInterval = 15 * time.Second
	// listenAnswerMargin is added to the delivery timeout for the CLI to carry
	// the local server's answer back.
	listenAnswerMargin = 2 * time.Second
)

func listenStreamKey(id string) string { return "empfio:listen:{" + id + "}" }
func listenAliveKey(id string) string  { return "empfio:listen:{" + id + "}:alive" }
func listenReplyKey(id, reply string) string {
	return "empfio:listen:{" + id + "}:reply:" + reply
}

// Relay hands m, with the headers of this attempt, to listen session id's
// stream, and waits up to timeout (plus the way back) for the answer of the
// local server the CLI forwards it to: that answer is the attempt's result. No
// CLI connected, or no answer in time, fails the attempt like an unreachable
// receiver.
func Relay(ctx context.Context, rdb redis.UniversalClient, id string, m webhooks.ListenMessage, timeout time.Duration) webhooks.AttemptResult {
	res := webhooks.AttemptResult{StartedAt: time.Now()}
	defer func() {
		if res.Duration == 0 {
			res.Duration = time.Since(res.StartedAt)
		}
	}()
	alive, err := rdb.Exists(ctx, listenAliveKey(id)).Result()
	switch {
	case err != nil:
		res.Err = webhooks.Unavailable("Redis", err)
		return res
	case alive == 0:
		res.Err = webhooks.ErrNoListener
		return res
	}
	reply := make([]byte, 16)
	rand.Read(reply)
	m.Reply = hex.EncodeToString(reply)
	b, _ := json.Marshal(m)
	pipe := rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: listenStreamKey(id), MaxLen: ListenStreamMax, Approx: true, Values: []any{"m", b}})
	pipe.Expire(ctx, listenStreamKey(id), ListenStreamTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		res.Err = webhooks.Unavailable("Redis", err)
		return res
	}
	got, err := rdb.BLPop(ctx, timeout+listenAnswerMargin, listenReplyKey(id, m.Reply)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		res.Err = webhooks.ErrNoAnswer
		return res
	case err != nil:
		res.Err = webhooks.Unavailable("Redis", err)
		return res
	}
	var r webhooks.ListenResult
	if json.Unmarshal([]byte(got[1]), &r) != nil {
		res.Err = webhooks.ErrNoAnswer
		return res
	}
	return r.Attempt(res.StartedAt)
}

// ReportListenResult passes the answer r of a delivery listen session id
// forwarded to the worker waiting for it (see Relay). A report nobody waits
// for (too late, or made up) expires unread.
func ReportListenResult(ctx context.Context, rdb redis.UniversalClient, id string, r webhooks.ListenResult) error {
	b, _ := json.Marshal(r)
	key := listenReplyKey(id, r.Reply)
	pipe := rdb.TxPipeline()
	pipe.RPush(ctx, key, b)
	pipe.Expire(ctx, key, time.Minute)
	if _, err := pipe.Exec(ctx); err != nil {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}

// ListenStream reads listen session id's stream for the api.
type ListenStream struct {
	Redis redis.UniversalClient
	ID    string
}

// Next returns the messages after stream id after ("0": from the start),
// waiting up to block for one; it keeps the session alive meanwhile.
func (s *ListenStream) Next(ctx context.Context, after string, block time.Duration) ([]redis.XMessage, error) {
	if err := s.Redis.Set(ctx, listenAliveKey(s.ID), "1", ListenAlive).Err(); err != nil {
		return nil, webhooks.Unavailable("Redis", err)
	}
	streams, err := s.Redis.XRead(ctx, &redis.XReadArgs{Streams: []string{listenStreamKey(s.ID), after}, Count: 100, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, webhooks.Unavailable("Redis", err)
	}
	if len(streams) == 0 {
		return nil, nil
	}
	return streams[0].Messages, nil
}
