package jobs

import (
	"context"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/redis/go-redis/v9"
)

// DefaultDedupWindow is how long an inbound event is remembered (DEDUP_WINDOW).
const DefaultDedupWindow = 60 * time.Second

// Dedup remembers inbound events for Window (DefaultDedupWindow when zero) with
// Redis SET NX EX, so a repeat inside the window is recognised by every API
// process.
type Dedup struct {
	Redis  redis.UniversalClient
	Window time.Duration
}

const dedupPrefix = "empfio:dedup:"

// Claim records key and reports whether it is new. Returns EUNAVAILABLE when
// Redis cannot be reached: the caller must refuse the event, not accept it blindly.
func (d *Dedup) Claim(ctx context.Context, key string) (bool, error) {
	ok, err := d.Redis.SetNX(ctx, dedupPrefix+key, 1, orDefault(d.Window, DefaultDedupWindow)).Result()
	if err != nil {
		return false, webhooks.Unavailable("Redis", err)
	}
	return ok, nil
}

// Release forgets key, so that a sender's retry of an event that could not be
// stored is not mistaken for a duplicate.
func (d *Dedup) Release(ctx context.Context, key string) error {
	if err := d.Redis.Del(context.WithoutCancel(ctx), dedupPrefix+key).Err(); err != nil {
		return webhooks.Unavailable("Redis", err)
	}
	return nil
}
