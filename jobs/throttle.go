package jobs

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// DefaultMaxInFlight is how many deliveries to one endpoint may be in flight at
// once across all workers (ENDPOINT_MAX_IN_FLIGHT); 0: no cap. The cap is off
// by default for now: measured with make bench, a cap of 10 held one endpoint to
// ~660 deliveries/s (from ~2,300), the deliveries over it spinning through
// put-backs. Set it where one hanging receiver must not hold the workers' slots.
const DefaultMaxInFlight = 0

// ThrottleLeaseMargin is added to the delivery timeout for how long a delivery
// may hold its endpoint's slot: past it, a worker that died frees the slot.
const ThrottleLeaseMargin = 15 * time.Second

// throttleRetry is how long a delivery put back for its endpoint's sake waits
// before it is tried again (with up to as much again of jitter).
const throttleRetry = 200 * time.Millisecond

// Throttle protects receivers and the workers from each other. It caps the
// deliveries in flight to one endpoint across all workers (a Redis sorted set of
// leases, so the slot of a worker that died frees itself), and keeps each
// endpoint under its own rate_limit (GCRA, go-redis/redis_rate). A delivery over
// either is put back with a short delay, without an attempt recorded and without
// spending its retry budget (the schedule counts recorded attempts only).
type Throttle struct {
	Redis       redis.UniversalClient
	MaxInFlight int           // 0: no cap
	Lease       time.Duration // how long a slot is held at most: the delivery timeout and a margin
	limiter     *redis_rate.Limiter
}

// NewThrottle returns a Throttle on rdb; lease bounds how long one delivery
// holds its slot.
func NewThrottle(rdb redis.UniversalClient, maxInFlight int, lease time.Duration) *Throttle {
	return &Throttle{Redis: rdb, MaxInFlight: maxInFlight, Lease: lease, limiter: redis_rate.NewLimiter(rdb)}
}

// acquireScript takes a slot for ARGV[1] unless the endpoint's live slots are
// at the cap; expired slots (their worker died) are dropped first.
var acquireScript = redis.NewScript(`
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[2])
if redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 1 end
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call("ZADD", KEYS[1], ARGV[3], ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return 1`)

func inFlightKey(endpointID string) string { return "empfio:inflight:{" + endpointID + "}" }

// Acquire takes a slot of endpoint e for delivery id, and a token of its rate
// limit. ok is false when the delivery must wait; wait is then how long.
func (t *Throttle) Acquire(ctx context.Context, e *webhooks.Endpoint, id string) (wait time.Duration, ok bool, err error) {
	if t.MaxInFlight > 0 {
		now := time.Now()
		got, err := acquireScript.Run(ctx, t.Redis, []string{inFlightKey(e.ID)}, id,
			strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(t.Lease).UnixMilli(), 10),
			t.MaxInFlight, t.Lease.Milliseconds()*2).Int()
		if err != nil {
			return 0, false, webhooks.Unavailable("Redis", err)
		}
		if got == 0 {
			throttledTotal.WithLabelValues("in_flight").Inc()
			return jitter(throttleRetry), false, nil
		}
	}
	if e.RateLimit != nil {
		per := e.RateLimit.PerSecond
		res, err := t.limiter.Allow(ctx, "empfio:endpoint-rate:{"+e.ID+"}", redis_rate.Limit{Rate: per, Burst: 1, Period: time.Second})
		if err != nil {
			t.Release(ctx, e, id)
			return 0, false, webhooks.Unavailable("Redis", err)
		}
		if res.Allowed == 0 {
			t.Release(ctx, e, id)
			throttledTotal.WithLabelValues("rate_limit").Inc()
			return res.RetryAfter + jitter(res.RetryAfter/4+time.Millisecond), false, nil
		}
	}
	return 0, true, nil
}

// Release gives the slot of delivery id back.
func (t *Throttle) Release(ctx context.Context, e *webhooks.Endpoint, id string) {
	if t.MaxInFlight > 0 {
		t.Redis.ZRem(context.WithoutCancel(ctx), inFlightKey(e.ID), id)
	}
}

// jitter returns d plus up to d more, so put-back deliveries do not return in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d)
}

// throttledError puts a delivery back for its endpoint's sake (see Throttle).
type throttledError struct{ delay time.Duration }

func (e *throttledError) Error() string { return "endpoint busy: delivery put back" }
