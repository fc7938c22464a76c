package jobs

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
	"github.com/empfio/webhooks/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
)

// Publisher stores events and queues their deliveries. Call Wait before
// closing its Queue.
type Publisher struct {
	DB    *store.DB
	Queue *Queue
	Log   *slog.Logger

	mu      sync.Mutex
	behind  int            // events whose deliveries are enqueued after Publish returned
	waited  bool           // Wait was called: Publish enqueues before it returns
	enqueue sync.WaitGroup // of the events behind
}

// enqueueBehindMax bounds the events whose deliveries are enqueued after
// Publish returned. Past it — Redis slow or down, each enqueue waiting for its
// timeout — Publish enqueues before it returns again, so the wait reaches
// the callers instead of piling up in memory.
const enqueueBehindMax = 1024

// Publish stores ev with one delivery per subscribed endpoint (one
// transaction), and returns the deliveries it made once they are committed.
// ev.Envelope is rendered here.
//
// Their tasks are enqueued after it returns: once Publish returns nil the
// event is safe, and a delivery without a task yet (its enqueue still on its
// way, or failed: Redis down) is the sweeper's, as the design has it. So a
// publish answers after its commit, not after a Redis round trip and a
// group's linger more.
//
// Returns ENOTFOUND if the organization does not exist, EUNAVAILABLE if Postgres
// cannot be reached.
func (p *Publisher) Publish(ctx context.Context, ev *webhooks.Event) (deliveries []webhooks.Delivery, err error) {
	ctx, span := telemetry.Tracer.Start(ctx, "publish")
	defer func() {
		if span.IsRecording() { // nothing to build when tracing is off: this is every event's path
			span.SetName("publish " + ev.Type)
			span.SetAttributes(attribute.String("empfio.event_id", ev.ID), attribute.String("empfio.organization_id", ev.OrganizationID),
				attribute.Int("empfio.deliveries", len(deliveries)))
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	if err := ev.RenderEnvelope(); err != nil {
		return nil, webhooks.Errorf(webhooks.EINVALID, "The event data is not valid JSON.")
	}
	deliveries, err = p.DB.Publish(ctx, ev)
	if err != nil {
		return nil, err
	}
	publishedTotal.WithLabelValues(ev.Source).Inc()
	ctx = context.WithoutCancel(ctx)
	if len(deliveries) == 0 {
		return nil, nil
	}
	if !p.enqueueLater() {
		p.enqueueAll(ctx, ev, deliveries)
		return deliveries, nil
	}
	go func() {
		defer p.enqueued()
		p.enqueueAll(ctx, ev, deliveries)
	}()
	return deliveries, nil
}

// enqueueLater reports whether an event's deliveries may be enqueued after
// Publish returns, and counts them behind if so.
func (p *Publisher) enqueueLater() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waited || p.behind >= enqueueBehindMax {
		return false
	}
	p.behind++
	p.enqueue.Add(1)
	enqueueBehind.Inc()
	return true
}

func (p *Publisher) enqueued() {
	p.mu.Lock()
	p.behind--
	p.mu.Unlock()
	enqueueBehind.Dec()
	p.enqueue.Done()
}

// Wait returns once the deliveries of every event Publish returned are
// enqueued (or their enqueue failed, for the sweeper); from then on, Publish
// enqueues before it returns. Call it at shutdown, before closing the Queue.
func (p *Publisher) Wait() {
	p.mu.Lock()
	p.waited = true
	p.mu.Unlock()
	p.enqueue.Wait()
}

// enqueueParallelism bounds the enqueues of one event's fan-out in flight at
// once: each is a Redis round trip, and a wide fan-out should not wait for them
// one by one.
const enqueueParallelism = 16

// enqueueAll gives each delivery its task. A failure is logged and left to
// the sweeper: the deliveries are stored, so nothing is lost.
func (p *Publisher) enqueueAll(ctx context.Context, ev *webhooks.Event, deliveries []webhooks.Delivery) {
	if len(deliveries) == 1 {
		if err := p.Queue.EnqueuePublished(ctx, &deliveries[0], ev.Envelope); err != nil {
			p.Log.WarnContext(ctx, "enqueue failed; the sweeper will requeue", "event_id", ev.ID, "deliveries", 1, "error", err)
		}
		return
	}
	var failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, enqueueParallelism)
	var wg sync.WaitGroup
	for i := range deliveries {
		if failed.Load() > 0 {
			failed.Add(1) // Redis is down: the rest would fail too, one timeout each
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := p.Queue.EnqueuePublished(ctx, &deliveries[i], ev.Envelope); err != nil {
				failed.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		p.Log.WarnContext(ctx, "enqueue failed; the sweeper will requeue", "event_id", ev.ID, "deliveries", n, "error", firstErr)
	}
}
