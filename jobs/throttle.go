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

// slotLinger is how long a slot given back while no delivery of this worker
// waits for one stays this worker's before it goes back to Redis: a fast
// endpoint's next delivery almost always comes sooner and takes it without a
// Redis call. slotRefresh is how old a reused slot's lease may be before its
// reuse renews it (one call), so that every worker reads how long the endpoint's
// oldest delivery has been in flight within that much.
const (
	slotLinger  = 20 * time.Millisecond
	slotRefresh = 50 * time.Millisecond
)

// Throttle protects receivers and the workers from each other. It caps the
// deliveries in flight to one endpoint across all workers (a Redis sorted set of
// leased slots, so the slots of a worker that died free themselves), and keeps
// each endpoint under its own rate_limit (GCRA, go-redis/redis_rate). A delivery
// over either is put back with a short delay, without an attempt recorded and
// without spending its retry budget (the schedule counts recorded attempts only).
//
// A slot a delivery gives back goes first to a delivery of the same worker
// waiting for one, then lingers in the worker for slotLinger; only then is it
// given back to Redis. A slot is counted in Redis for as long as a worker holds
// it, busy or lingering, so the cap holds across workers at every moment.
type Throttle struct {
	Redis       redis.UniversalClient
	MaxInFlight int           // 0: no cap
	Lease       time.Duration // how long a slot is held at most: the delivery timeout and a margin
	limiter     *redis_rate.Limiter

	mu    sync.Mutex
	slots map[string]*localSlots // per endpoint, what this worker holds or waits for
}

// localSlots are the slots of one endpoint this worker holds (held: busy or
// idle; idle: with no delivery in them), and its deliveries waiting for one,
// oldest first.
type localSlots struct {
	held    []*slot
	idle    []*slot
	waiting []chan *slot
}

// slot is a slot of an endpoint's cap, held in Redis as member with the score
// started + Lease.
type slot struct {
	endpointID string
	member     string
	started    time.Time // when its lease in Redis began; written under Throttle.mu
	idleGen    int       // counts its stays in idle, so a stale linger timer knows
}

// NewThrottle returns a Throttle on rdb; lease bounds how long one delivery
// holds its slot.
func NewThrottle(rdb redis.UniversalClient, maxInFlight int, lease time.Duration) *Throttle {
	return &Throttle{Redis: rdb, MaxInFlight: maxInFlight, Lease: lease, limiter: redis_rate.NewLimiter(rdb)}
}

// acquireScript takes (or renews) slot ARGV[1] unless the endpoint's live
// slots are at the cap; expired slots (their worker died) are dropped first. It
// returns 0 when the slot is held, else the earliest lease expiry of the slots
// held (unix ms), which tells how long the oldest delivery has been in flight.
var acquireScript = redis.NewScript(`
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[2])
if not redis.call("ZSCORE", KEYS[1], ARGV[1]) and redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[4]) then
  local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
  return tonumber(oldest[2])
end
redis.call("ZADD", KEYS[1], ARGV[3], ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[5])
return 0`)

func inFlightKey(endpointID string) string { return "empfio:inflight:{" + endpointID + "}" }

// Acquire takes a slot of endpoint e for a delivery, and a token of its rate
// limit. When the delivery may go it returns release, which gives the slot back
// once the receiver has answered; else the error that puts the delivery back.
func (t *Throttle) Acquire(ctx context.Context, e *webhooks.Endpoint) (release func(), back *throttledError, err error) {
	release = func() {}
	if t.MaxInFlight > 0 {
		s, busyFor, err := t.takeSlot(ctx, e.ID)
		if err != nil {
			return nil, nil, err
		}
		if s == nil {
			throttledTotal.WithLabelValues("in_flight").Inc()
			// A slow endpoint's backlog backs off by the task's put-backs
			// (see retryDelay): each costs a load and a trip through Redis.
			wait := min(max(throttleRetry, busyFor), throttleMaxRetry)
			if busyFor < throttleSlow {
				return nil, &throttledError{delay: jitter(wait)}, nil
			}
			return nil, &throttledError{delay: wait, slow: true}, nil
		}
		release = func() { t.giveBack(s) }
	}
	if e.RateLimit != nil {
		per := e.RateLimit.PerSecond
		res, err := t.limiter.Allow(ctx, "empfio:endpoint-rate:{"+e.ID+"}", redis_rate.Limit{Rate: per, Burst: 1, Period: time.Second})
		if err != nil {
			release()
			return nil, nil, webhooks.Unavailable("Redis", err)
		}
		if res.Allowed == 0 {
			release()
			throttledTotal.WithLabelValues("rate_limit").Inc()
			return nil, &throttledError{delay: res.RetryAfter + jitter(res.RetryAfter/4+time.Millisecond)}, nil
		}
	}
	return release, nil, nil
}

// takeSlot takes a slot of endpoint endpointID: one this worker holds idle, or
// a new one from Redis, or, while the endpoint is fast, one a delivery of this
// worker gives back within throttleWait. It returns nil and how long the
// endpoint's oldest delivery has been in flight when there is none.
func (t *Throttle) takeSlot(ctx context.Context, endpointID string) (*slot, time.Duration, error) {
	deadline := time.Now().Add(throttleWait)
	for {
		s, full := t.takeIdle(endpointID)
		if s == nil {
			var busyFor time.Duration
			if full { // this worker holds the whole cap: no need to ask Redis
				busyFor = t.localBusyFor(endpointID)
			} else {
				s = &slot{endpointID: endpointID, member: newToken(), started: time.Now()}
				expiry, err := t.lease(ctx, s)
				if err != nil {
					return nil, 0, err
				}
				if expiry == 0 {
					t.hold(s)
					return s, 0, nil
				}
				busyFor = max(s.started.Sub(time.UnixMilli(expiry).Add(-t.Lease)), 0)
			}
			left := time.Until(deadline)
			if busyFor >= throttleSlow || left <= 0 {
				return nil, busyFor, nil
			}
			if s = t.await(ctx, endpointID, left); s == nil {
				return nil, busyFor, nil
			}
		}
		// A slot kept idle or handed over in this worker starts a new use: its
		// lease, which tells every worker how long the use has lasted, is made
		// current.
		if ok, err := t.renew(ctx, s); ok || err != nil {
			return s, 0, err
		}
		// Redis lost it (flushed) and the cap is full now: it is gone.
	}
}

// lease asks Redis for slot s from s.started on; 0 when it holds it, else the
// earliest lease expiry of the endpoint's slots (see acquireScript).
func (t *Throttle) lease(ctx context.Context, s *slot) (int64, error) {
	expiry, err := acquireScript.Run(ctx, t.Redis, []string{inFlightKey(s.endpointID)}, s.member,
		strconv.FormatInt(s.started.UnixMilli(), 10), strconv.FormatInt(s.started.Add(t.Lease).UnixMilli(), 10),
		t.MaxInFlight, t.Lease.Milliseconds()*2).Int64()
	if err != nil {
		return 0, webhooks.Unavailable("Redis", err)
	}
	return expiry, nil
}

// renew readies a slot this worker held for its next delivery: a lease older
// than slotRefresh is renewed. False when Redis no longer had the slot and the
// cap has no room for it again.
func (t *Throttle) renew(ctx context.Context, s *slot) (bool, error) {
	if time.Since(s.started) < slotRefresh {
		return true, nil
	}
	t.mu.Lock() // localBusyFor reads it
	s.started = time.Now()
	t.mu.Unlock()
	expiry, err := t.lease(ctx, s)
	if err != nil || expiry != 0 {
		t.drop(s)
	}
	return err == nil && expiry == 0, err
}

// takeIdle returns a slot of endpointID this worker holds idle, the one given
// back last (the others are the first to return to Redis), or nil, and then
// whether this worker holds the endpoint's whole cap.
func (t *Throttle) takeIdle(endpointID string) (s *slot, full bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.slots[endpointID]
	if l == nil {
		return nil, false
	}
	if len(l.idle) == 0 {
		return nil, len(l.held) >= t.MaxInFlight
	}
	s = l.idle[len(l.idle)-1]
	l.idle = l.idle[:len(l.idle)-1]
	return s, false
}

// localBusyFor is how long the oldest slot of endpointID this worker holds has
// been in its lease.
func (t *Throttle) localBusyFor(endpointID string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	oldest := time.Now()
	if l := t.slots[endpointID]; l != nil {
		for _, s := range l.held {
			if s.started.Before(oldest) {
				oldest = s.started
			}
		}
	}
	return time.Since(oldest)
}

// hold counts slot s, just leased, as this worker's.
func (t *Throttle) hold(s *slot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.localLocked(s.endpointID)
	l.held = append(l.held, s)
}

// await waits up to d for a delivery of this worker to give back a slot of
// endpointID (the oldest waiter is served first), and returns it, or nil.
func (t *Throttle) await(ctx context.Context, endpointID string, d time.Duration) *slot {
	ch := make(chan *slot, 1)
	t.mu.Lock()
	l := t.localLocked(endpointID)
	l.waiting = append(l.waiting, ch)
	t.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case s := <-ch:
		return s
	case <-timer.C:
	case <-ctx.Done():
	}
	t.mu.Lock()
	if i := slices.Index(l.waiting, ch); i >= 0 {
		l.waiting = slices.Delete(l.waiting, i, i+1)
	}
	t.tidyLocked(endpointID, l)
	t.mu.Unlock()
	select {
	case s := <-ch: // given as the timer fired: pass it on
		t.giveBack(s)
	default:
	}
	return nil
}

// giveBack hands slot s to the oldest delivery of this worker waiting for one,
// or keeps it idle for slotLinger before it goes back to Redis.
func (t *Throttle) giveBack(s *slot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.localLocked(s.endpointID)
	if len(l.waiting) > 0 {
		ch := l.waiting[0]
		l.waiting = l.waiting[1:]
		t.tidyLocked(s.endpointID, l)
		ch <- s
		return
	}
	s.idleGen++
	gen := s.idleGen
	l.idle = append(l.idle, s)
	time.AfterFunc(slotLinger, func() { t.expire(s, gen) })
}

// expire gives slot s back to Redis if it is still idle since its gen-th stay.
func (t *Throttle) expire(s *slot, gen int) {
	t.mu.Lock()
	l := t.slots[s.endpointID]
	i := -1
	if l != nil && s.idleGen == gen {
		i = slices.Index(l.idle, s)
	}
	if i >= 0 {
		l.idle = slices.Delete(l.idle, i, i+1)
	}
	t.mu.Unlock()
	if i >= 0 {
		t.drop(s)
	}
}

// drop stops holding slot s: this worker forgets it and Redis frees it.
func (t *Throttle) drop(s *slot) {
	t.mu.Lock()
	if l := t.slots[s.endpointID]; l != nil {
		if i := slices.Index(l.held, s); i >= 0 {
			l.held = slices.Delete(l.held, i, i+1)
		}
		t.tidyLocked(s.endpointID, l)
	}
	t.mu.Unlock()
	t.Redis.ZRem(context.Background(), inFlightKey(s.endpointID), s.member)
}

// Close gives every idle slot back to Redis at once; a worker that stops calls it.
func (t *Throttle) Close() {
	t.mu.Lock()
	var idle []*slot
	for _, l := range t.slots {
		idle = append(idle, l.idle...)
		l.idle = nil
	}
	t.mu.Unlock()
	for _, s := range idle {
		t.drop(s)
	}
}

// localLocked returns what this worker has of endpointID; t.mu is held.
func (t *Throttle) localLocked(endpointID string) *localSlots {
	if t.slots == nil {
		t.slots = map[string]*localSlots{}
	}
	l := t.slots[endpointID]
	if l == nil {
		l = &localSlots{}
		t.slots[endpointID] = l
	}
	return l
}

// tidyLocked forgets endpointID when this worker has nothing of it; t.mu is held.
func (t *Throttle) tidyLocked(endpointID string, l *localSlots) {
	if len(l.held) == 0 && len(l.waiting) == 0 && t.slots[endpointID] == l {
		delete(t.slots, endpointID)
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
