package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/redis/go-redis/v9"
)

// Listen sessions (see webhooks.ListenScheme): the worker appends each delivery
// to the session's Redis stream; the api streams it to `empfio listen`.
const (
	// ListenAlive is how long a session counts as connected after the api last
	// saw its stream open; ListenStreamMax bounds what waits in a stream, and
	// ListenStreamTTL how long an unread stream is kept.
	ListenAlive     = 30 * time.Second
	ListenStreamMax = 1000
	ListenStreamTTL = time.Hour
	// ListenAbandoned is how long a listen session's stream may go unread
	// (a CLI killed before it could end it) before Retention deletes it.
	ListenAbandoned = time.Hour
)

func listenStreamKey(id string) string { return "empfio:listen:{" + id + "}" }
func listenAliveKey(id string) string  { return "empfio:listen:{" + id + "}:alive" }

// ListenMessage is one delivery handed to a listen session: the request as
// it would be POSTed.
type ListenMessage struct {
	DeliveryID string            `json:"delivery_id"`
	EventType  string            `json:"event_type"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"` // the envelope, byte for byte
}

// errNoListener fails the attempt of a delivery to a session nobody listens to.
var errNoListener = errors.New("no `empfio listen` is connected to this session")

// Relay hands m, with the headers of this attempt, to listen session id's
// stream. The attempt succeeds (202) once it is there, and fails like an
// unreachable receiver when no CLI is connected.
func Relay(ctx context.Context, rdb redis.UniversalClient, id string, m ListenMessage) webhooks.AttemptResult {
	res := webhooks.AttemptResult{StartedAt: time.Now()}
	defer func() { res.Duration = time.Since(res.StartedAt) }()
	alive, err := rdb.Exists(ctx, listenAliveKey(id)).Result()
	switch {
	case err != nil:
		res.Err = webhooks.Unavailable("Redis", err)
		return res
	case alive == 0:
		res.Err = errNoListener
		return res
	}
	b, _ := json.Marshal(m)
	pipe := rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: listenStreamKey(id), MaxLen: ListenStreamMax, Approx: true, Values: []any{"m", b}})
	pipe.Expire(ctx, listenStreamKey(id), ListenStreamTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		res.Err = webhooks.Unavailable("Redis", err)
		return res
	}
	res.StatusCode = http.StatusAccepted
	res.Body = []byte("handed to the empfio listen session")
	return res
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
