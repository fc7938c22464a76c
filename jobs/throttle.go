package jobs

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// DefaultMaxInFlight is how many deliveries to one endpoint may be in flight at
// once across all workers (ENDPOINT_MAX_IN_FLIGHT); 0: no cap.
const DefaultMaxInFlight = 10

// throttleWait is how long a delivery over its endpoint's cap waits in its
// worker for a slot this worker gives back before it is put back: with a fast
// receiver a slot frees within milliseconds, and a put-back costs a trip through
// Redis and a reload. It waits only while the endpoint is fast — its oldest
// delivery in flight younger than throttleSlow; a slow or hanging endpoint's
// deliveries are put back at once, for about as long as that oldest one has
// been in flight (at most throttleMaxRetry), so they cost the workers nothing.
const (
	throttleWait     = 50 * time.Millisecond
	throttleSlow     = 250 * time.Millisecond
	throttleMaxRetry = 5 * time.Second
)

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

	mu      sync.Mutex
	waiting map[string][]chan struct{} // per endpoint, the deliveries of this worker waiting for a slot, oldest first
}

// NewThrottle returns a Throttle on rdb; lease bounds how long one delivery
// holds its slot.
func NewThrottle(rdb redis.UniversalClient, maxInFlight int, lease time.Duration) *Throttle {
	return &Throttle{Redis: rdb, MaxInFlight: maxInFlight, Lease: lease, limiter: redis_rate.NewLimiter(rdb)}
}

// acquireScript takes a slot for ARGV[1] unless the endpoint's live slots are
// at the cap; expired slots (their worker died) are dropped first. It returns
// 0 when the slot is taken, else the earliest lease expiry of the slots held
// (unix ms), which tells how long the oldest delivery has been in flight.
var acquireScript = redis.NewScript(`
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[2])
if redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 0 end
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[4]) then
  local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
  return tonumber(oldest[2])
end
redis.call("ZADD", KEYS[1], ARGV[3], ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return 0`)

func inFlightKey(endpointID string) string { return "empfio:inflight:{" + endpointID + "}" }

// Acquire takes a slot of endpoint e for delivery id, and a token of its rate
// limit. It returns nil when the delivery may go, else the error that puts it
// back.
func (t *Throttle) Acquire(ctx context.Context, e *webhooks.Endpoint, id string) (*throttledError, error) {
	if t.MaxInFlight > 0 {
		busyFor, err := t.takeSlot(ctx, e.ID, id)
		if err != nil {
			return nil, err
		}
		if busyFor >= 0 {
			throttledTotal.WithLabelValues("in_flight").Inc()
			// A slow endpoint's backlog backs off by the task's put-backs
			// (see retryDelay): each costs a load and a trip through Redis.
			wait := min(max(throttleRetry, busyFor), throttleMaxRetry)
			if busyFor < throttleSlow {
				return &throttledError{delay: jitter(wait)}, nil
			}
			return &throttledError{delay: wait, slow: true}, nil
		}
	}
	if e.RateLimit != nil {
		per := e.RateLimit.PerSecond
		res, err := t.limiter.Allow(ctx, "empfio:endpoint-rate:{"+e.ID+"}", redis_rate.Limit{Rate: per, Burst: 1, Period: time.Second})
		if err != nil {
			t.Release(ctx, e, id)
			return nil, webhooks.Unavailable("Redis", err)
		}
		if res.Allowed == 0 {
			t.Release(ctx, e, id)
			throttledTotal.WithLabelValues("rate_limit").Inc()
			return &throttledError{delay: res.RetryAfter + jitter(res.RetryAfter/4+time.Millisecond)}, nil
		}
	}
	return nil, nil
}

// takeSlot takes a slot of endpoint endpointID for delivery id, waiting up to
// throttleWait for one that a delivery of this worker gives back while the
// endpoint is fast. It returns -1 when it has the slot, else how long the
// endpoint's oldest delivery in flight has been.
func (t *Throttle) takeSlot(ctx context.Context, endpointID, id string) (time.Duration, error) {
	deadline := time.Now().Add(throttleWait)
	for {
		now := time.Now()
		expiry, err := acquireScript.Run(ctx, t.Redis, []string{inFlightKey(endpointID)}, id,
			strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(t.Lease).UnixMilli(), 10),
			t.MaxInFlight, t.Lease.Milliseconds()*2).Int64()
		if err != nil {
			return 0, webhooks.Unavailable("Redis", err)
		}
		if expiry == 0 {
			return -1, nil
		}
		busyFor := now.Sub(time.UnixMilli(expiry).Add(-t.Lease))
		left := time.Until(deadline)
		if busyFor >= throttleSlow || left <= 0 || !t.await(ctx, endpointID, left) {
			return max(busyFor, 0), nil
		}
	}
}

// await waits until a delivery of this worker gives back a slot of endpointID
// (the oldest waiter is woken first, one per slot), for at most d; false when
// none was given back in time.
func (t *Throttle) await(ctx context.Context, endpointID string, d time.Duration) bool {
	ch := make(chan struct{}, 1)
	t.mu.Lock()
	if t.waiting == nil {
		t.waiting = map[string][]chan struct{}{}
	}
	t.waiting[endpointID] = append(t.waiting[endpointID], ch)
	t.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	q := t.waiting[endpointID]
	for i, c := range q {
		if c == ch {
			t.waiting[endpointID] = slices.Delete(q, i, i+1)
			break
		}
	}
	if len(t.waiting[endpointID]) == 0 {
		delete(t.waiting, endpointID)
	}
	select {
	case <-ch: // woken as the timer fired: pass the slot on
		t.wakeLocked(endpointID)
	default:
	}
	return false
}

// wakeLocked wakes the oldest delivery of this worker waiting for a slot of
// endpointID; t.mu is held.
func (t *Throttle) wakeLocked(endpointID string) {
	q := t.waiting[endpointID]
	if len(q) == 0 {
		return
	}
	q[0] <- struct{}{}
	if len(q) == 1 {
		delete(t.waiting, endpointID)
	} else {
		t.waiting[endpointID] = q[1:]
	}
}

// Release gives the slot of delivery id back, to the oldest delivery of this
// worker waiting for one when there is one.
func (t *Throttle) Release(ctx context.Context, e *webhooks.Endpoint, id string) {
	if t.MaxInFlight > 0 {
		t.Redis.ZRem(context.WithoutCancel(ctx), inFlightKey(e.ID), id)
		t.mu.Lock()
		t.wakeLocked(e.ID)
		t.mu.Unlock()
	}
}

// jitter returns d plus up to d more, so put-back deliveries do not return in step.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d)
}

// throttledError puts a delivery back for its endpoint's sake (see Throttle),
// for delay; a slow endpoint's for delay doubled by each put-back before, up to
// throttleMaxBackoff (see Delay), with jitter.
type throttledError struct {
	delay time.Duration
	slow  bool
}

// throttleMaxBackoff bounds the wait of a slow endpoint's put-back delivery.
const throttleMaxBackoff = time.Minute

// Delay is how long the delivery waits after its putBacks-th put-back.
func (e *throttledError) Delay(putBacks int) time.Duration {
	if !e.slow {
		return e.delay
	}
	return jitter(min(e.delay<<min(putBacks, 6), throttleMaxBackoff) / 2)
}

func (e *throttledError) Error() string { return "endpoint busy: delivery put back" }
