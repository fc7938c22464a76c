package jobs

import (
	"context"
	"log/slog"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
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
func (p *Publisher) Publish(ctx context.Context, ev *webhooks.Event) (int, error) {
	if err := ev.RenderEnvelope(); err != nil {
		return 0, webhooks.Errorf(webhooks.EINVALID, "The event data is not valid JSON.")
	}
	ids, err := p.DB.Publish(ctx, ev)
	if err != nil {
		return 0, err
	}
	publishedTotal.WithLabelValues(ev.Source).Inc()
	for i, id := range ids {
		if err := p.Queue.Enqueue(context.WithoutCancel(ctx), id); err != nil {
			p.Log.Warn("enqueue failed; the sweeper will requeue", "event_id", ev.ID, "deliveries", len(ids)-i, "error", err)
			break // Redis is down: the rest would fail too, one timeout each
		}
	}
	return len(ids), nil
}
