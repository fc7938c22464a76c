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

// Publisher stores events and queues their deliveries.
type Publisher struct {
	DB    *store.DB
	Queue *Queue
	Log   *slog.Logger
}

// Publish stores ev with one delivery per subscribed endpoint (one transaction),
// then enqueues one task per delivery, and returns how many deliveries it made.
// ev.Envelope is rendered here. Once Publish returns nil the event is safe: a
// delivery whose enqueue failed (Redis down) is picked up by the sweeper.
// Returns ENOTFOUND if the organization does not exist, EUNAVAILABLE if Postgres
// cannot be reached.
func (p *Publisher) Publish(ctx context.Context, ev *webhooks.Event) (n int, err error) {
	ctx, span := telemetry.Tracer.Start(ctx, "publish")
	defer func() {
		if span.IsRecording() { // nothing to build when tracing is off: this is every event's path
			span.SetName("publish " + ev.Type)
			span.SetAttributes(attribute.String("empfio.event_id", ev.ID), attribute.String("empfio.organization_id", ev.OrganizationID),
				attribute.Int("empfio.deliveries", n))
		}
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	if err := ev.RenderEnvelope(); err != nil {
		return 0, webhooks.Errorf(webhooks.EINVALID, "The event data is not valid JSON.")
	}
	deliveries, err := p.DB.Publish(ctx, ev)
	if err != nil {
		return 0, err
	}
	publishedTotal.WithLabelValues(ev.Source).Inc()
	p.enqueue(context.WithoutCancel(ctx), ev, deliveries)
	return len(deliveries), nil
}

// enqueueParallelism bounds the enqueues of one event's fan-out in flight at
// once: each is a Redis round trip, and a wide fan-out should not wait for them
// one by one.
const enqueueParallelism = 16

// enqueue gives each delivery its task. A failure is logged and left to the
// sweeper: the deliveries are stored, so nothing is lost.
func (p *Publisher) enqueue(ctx context.Context, ev *webhooks.Event, deliveries []store.Published) {
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
