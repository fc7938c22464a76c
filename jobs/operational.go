package jobs

import (
	"context"
	"log/slog"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
)

// PublishOperational publishes an operational event (webhooks.IsOperational)
// on p; a nil p or ev publishes nothing. A failure is logged, not returned:
// what the event tells of has already happened and is recorded.
func (p *Publisher) PublishOperational(ctx context.Context, ev *webhooks.Event) {
	if p == nil || ev == nil {
		return
	}
	if _, err := p.Publish(context.WithoutCancel(ctx), ev); err != nil {
		p.Log.WarnContext(ctx, "publishing an operational event failed", "event_type", ev.Type, "organization_id", ev.OrganizationID, "error", err)
	}
}

// disableEndpoint turns endpoint e off for reason and, when this call did,
// says so once: a log line, empfio_endpoints_disabled_total{reason=cause} and
// webhook.disabled on pub. Only the database's error is returned.
func disableEndpoint(ctx context.Context, db *store.DB, pub *Publisher, log *slog.Logger, e *webhooks.Endpoint, reason, cause string) error {
	disabled, err := db.DisableEndpoint(context.WithoutCancel(ctx), e.ID, reason)
	if err != nil || !disabled {
		return err
	}
	disabledTotal.WithLabelValues(cause).Inc()
	log.Warn("endpoint disabled", "endpoint_id", e.ID, "organization_id", e.OrganizationID, "reason", reason)
	pub.PublishOperational(ctx, webhooks.WebhookDisabledEvent(e, reason, time.Now()))
	return nil
}
