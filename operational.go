package webhooks

import "time"

// Operational events are the service's own news about an organization's
// endpoints and deliveries (webhook.disabled, webhook.circuit_opened,
// webhook.circuit_closed, delivery.failed), published to the
// organization like any other event — to a Slack relay or a pager, say. Two rules
// keep them from feeding on themselves: one is never sent to the endpoint it is
// about (Event.Exclude), and a delivery of an operational event that fails causes
// no delivery.failed.

// IsOperational reports whether eventType is one of the service's own events.
func IsOperational(eventType string) bool {
	switch eventType {
	case WebhookDisabled, DeliveryFailed, WebhookCircuitOpened, WebhookCircuitClosed:
		return true
	}
	return false
}

// DeliveryFailedEvent is the delivery.failed event of a delivery of job that
// failed for good with rec as its attempt number number; nil for a delivery of an
// operational event, and for one to a listen session (the CLI's, not the
// organization's).
func DeliveryFailedEvent(job *Job, rec AttemptRecord, number int, now time.Time) *Event {
	if IsOperational(job.Delivery.EventType) || job.Endpoint.IsListenSession() {
		return nil
	}
	return operationalEvent(job.Delivery.OrganizationID, DeliveryFailed, job.Endpoint.ID, now, map[string]any{
		"delivery_id": job.Delivery.ID, "webhook_id": job.Endpoint.ID, "event_id": job.Delivery.EventID,
		"event_type": job.Delivery.EventType, "attempts": number, "last_status_code": rec.Attempt.StatusCode,
		"last_error": rec.LastError, "failed_at": FormatTime(now),
	})
}

// WebhookDisabledEvent is the webhook.disabled event of endpoint e, disabled at
// now for reason.
func WebhookDisabledEvent(e *Endpoint, reason string, now time.Time) *Event {
	return operationalEvent(e.OrganizationID, WebhookDisabled, e.ID, now, map[string]any{
		"webhook_id": e.ID, "url": e.URL, "reason": reason, "disabled_at": FormatTime(now),
	})
}

// CircuitOpenedEvent is the webhook.circuit_opened event of endpoint e, whose
// circuit opened at now after failures failed attempts in a row, the last
// recorded as rec; the first probe goes at probeAt.
func CircuitOpenedEvent(e *Endpoint, failures int, rec AttemptRecord, now, probeAt time.Time) *Event {
	return operationalEvent(e.OrganizationID, WebhookCircuitOpened, e.ID, now, map[string]any{
		"webhook_id": e.ID, "url": e.URL, "consecutive_failures": failures, "last_status_code": rec.Attempt.StatusCode,
		"last_error": rec.LastError, "opened_at": FormatTime(now), "next_probe_at": FormatTime(probeAt),
	})
}

// CircuitClosedEvent is the webhook.circuit_closed event of endpoint e, whose
// circuit, open since openedAt, closed at now with held deliveries to release.
func CircuitClosedEvent(e *Endpoint, openedAt *time.Time, held int, now time.Time) *Event {
	var opened any
	if openedAt != nil {
		opened = FormatTime(*openedAt)
	}
	return operationalEvent(e.OrganizationID, WebhookCircuitClosed, e.ID, now, map[string]any{
		"webhook_id": e.ID, "url": e.URL, "opened_at": opened, "closed_at": FormatTime(now), "held": held,
	})
}

func operationalEvent(orgID, eventType, about string, now time.Time, data map[string]any) *Event {
	id, received := NewEventID()
	return &Event{ID: id, OrganizationID: orgID, Type: eventType, Source: SourceService, OccurredAt: now.UTC(),
		ReceivedAt: received, Data: mustMarshal(data), Exclude: about}
}
