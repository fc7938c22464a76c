package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
)

// DefaultBreakerInterval is how often the breaker's rounds run: probes go out
// and held deliveries are released within about this long of being due.
const DefaultBreakerInterval = time.Second

// probeStuckAfter is how long a probe may be on its way before a circuit whose
// probe delivery ended some other way is opened again. It is longer than a
// sweep takes to give a lost task back, so a probe lost with Redis is
// requeued, not replaced.
const probeStuckAfter = 5 * time.Minute

// breakerCountInterval is how often the rounds count circuits and held
// deliveries for the metrics.
const breakerCountInterval = 15 * time.Second

// BreakerRounds is the circuit breaker's periodic work (see webhooks.Breaker and
// Deliverer): it sends the probe of each open circuit that is due — its oldest
// held delivery — releases the held deliveries of closed circuits in their
// original order at the release rate, disables endpoints whose circuit stayed
// open for Breaker.DisableAfter, and reopens circuits whose probe was lost.
//
// Held deliveries have no task: they live in Postgres only, so a Redis flush
// while a circuit is open loses none of them. Any number of workers may run
// BreakerRounds; a Postgres advisory lock lets one at a time work, which keeps
// each endpoint's releases in order.
type BreakerRounds struct {
	DB        *store.DB
	Queue     *Queue
	Publisher *Publisher // for webhook.disabled; nil: none
	Breaker   webhooks.Breaker
	Interval  time.Duration // DefaultBreakerInterval when zero
	Log       *slog.Logger

	counted time.Time
}

// Run runs a round every Interval until ctx ends.
func (r *BreakerRounds) Run(ctx context.Context) {
	every(ctx, orDefault(r.Interval, DefaultBreakerInterval), func() {
		if err := r.Round(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("circuit breaker round failed", "error", err)
		}
	})
}

// Round runs one round, unless another worker is running one.
func (r *BreakerRounds) Round(ctx context.Context) error {
	_, err := r.DB.WithBreakerLock(ctx, func() error {
		if err := r.probe(ctx); err != nil {
			return err
		}
		if _, err := r.DB.ReopenStuckProbes(ctx, probeStuckAfter); err != nil {
			return err
		}
		if err := r.disableLongOpen(ctx); err != nil {
			return err
		}
		if err := r.releaseAll(ctx); err != nil {
			return err
		}
		return r.count(ctx)
	})
	return err
}

func (r *BreakerRounds) probe(ctx context.Context) error {
	ids, err := r.DB.ClaimProbes(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		// Not enqueued (Redis down): the delivery is pending and overdue, and
		// the sweeper gives it its task.
		if _, err := r.Queue.enqueue(ctx, id); err != nil {
			return err
		}
		r.Log.Info("probe sent to an open circuit", "delivery_id", id)
	}
	return nil
}

func (r *BreakerRounds) disableLongOpen(ctx context.Context) error {
	if r.Breaker.DisableAfter <= 0 {
		return nil
	}
	list, err := r.DB.LongOpen(ctx, time.Now().Add(-r.Breaker.DisableAfter))
	if err != nil {
		return err
	}
	for _, e := range list {
		if err := disableEndpoint(ctx, r.DB, r.Publisher, r.Log, e, r.Breaker.DisableReason(*e.Health.Since), "circuit"); err != nil {
			return err
		}
	}
	return nil
}

// releaseAll releases, for every endpoint releasing, one round's worth of its
// held deliveries, endpoints side by side.
func (r *BreakerRounds) releaseAll(ctx context.Context) error {
	list, err := r.DB.ReleasingEndpoints(ctx)
	if err != nil {
		return err
	}
	span := orDefault(r.Interval, DefaultBreakerInterval)
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, rel := range list {
		wg.Go(func() { errs[i] = r.release(ctx, rel, span) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// releaseOrderWait bounds how long a release waits for the delivery released
// before it to be attempted: a receiver that answers within it gets held
// deliveries strictly in their original order; a slower one does not hold the
// release up longer.
const releaseOrderWait = 2 * time.Second

// release sends, for about span, an endpoint's held deliveries one by one,
// oldest first: at most one every 1/rate, each once the one before it was
// attempted (up to releaseOrderWait). Each is made pending and given its task
// when its turn comes, so what is not reached waits, held, for the next round.
func (r *BreakerRounds) release(ctx context.Context, rel store.Releasing, span time.Duration) error {
	rate := r.Breaker.ReleaseRateFor(&webhooks.Endpoint{RateLimit: rel.RateLimit})
	gap := time.Second / time.Duration(rate)
	end := time.Now().Add(span)
	released := 0
	for next := time.Now(); next.Before(end); {
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
			return nil
		}
		next = time.Now().Add(gap)
		id, err := r.DB.ReleaseOldestHeld(ctx, rel.EndpointID)
		if err != nil || id == "" {
			return err
		}
		// Not enqueued (Redis down): the delivery is pending and overdue, and
		// the sweeper gives it its task.
		if _, err := r.Queue.enqueue(ctx, id); err != nil {
			return err
		}
		released++
		if err := r.awaitAttempt(ctx, id); err != nil {
			return err
		}
	}
	r.Log.Debug("released held deliveries", "endpoint_id", rel.EndpointID, "count", released)
	return nil
}

// awaitAttempt waits until delivery id is no longer pending — attempted, or
// held again — or releaseOrderWait passes.
func (r *BreakerRounds) awaitAttempt(ctx context.Context, id string) error {
	deadline := time.Now().Add(releaseOrderWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		status, err := r.DB.DeliveryStatus(ctx, id)
		if err != nil || status != webhooks.StatusPending {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// count refreshes the circuit gauges, at most every breakerCountInterval.
func (r *BreakerRounds) count(ctx context.Context) error {
	if time.Since(r.counted) < breakerCountInterval {
		return nil
	}
	states, held, err := r.DB.CircuitCounts(ctx)
	if err != nil {
		return err
	}
	for state, n := range states {
		circuitsNow.WithLabelValues(state).Set(float64(n))
	}
	heldNow.Set(float64(held))
	r.counted = time.Now()
	return nil
}
