package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
	"github.com/gofiber/fiber/v2"
)

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// listEvents: GET /events?event_type=&limit=&cursor= → the organization's events.
func (s *Server) listEvents(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	list, next, err := s.DB.Events(c.UserContext(), webhooks.EventFilter{OrganizationID: orgOf(c),
		Type: c.Query("event_type"), Types: principalOf(c).EventTypes(), Cursor: cursor, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(listOf(list, next))
}

// getEvent: GET /events/{id}.
func (s *Server) getEvent(c *fiber.Ctx) error {
	id, err := idParam(c, "id", "Event")
	if err != nil {
		return err
	}
	ev, err := s.DB.Event(c.UserContext(), orgOf(c), id)
	if err != nil {
		return err
	}
	p := principalOf(c)
	if !p.AllowsEventType(ev.Type) {
		return webhooks.Errorf(webhooks.ENOTFOUND, "Event not found.")
	}
	if ev.Deliveries, err = s.DB.EventDeliveries(c.UserContext(), ev, p.Subscriptions()); err != nil {
		return err
	}
	return c.JSON(ev)
}

type publishRequest struct {
	Event          string          `json:"event"`
	OrganizationID string          `json:"organization_id"`
	Data           json.RawMessage `json:"data"`
	OccurredAt     *time.Time      `json:"occurred_at"`
	OrderingKey    *string         `json:"ordering_key"`
}

// publishEvent: POST /events (internal token) {event, organization_id, data,
// occurred_at?, ordering_key?} → 202 {"status":"accepted","event_id","deliveries"}: other Empfio
// services publish catalog events directly, without dedup.
func (s *Server) publishEvent(c *fiber.Ctx) error {
	var req publishRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var errs []webhooks.FieldError
	switch {
	case webhooks.IsOperational(req.Event) || req.Event == webhooks.WebhookPing:
		errs = append(errs, webhooks.FieldError{Field: "event", Message: "is one of the service's own events, which senders cannot publish"})
	case !webhooks.IsEventType(req.Event):
		errs = append(errs, webhooks.FieldError{Field: "event", Message: "must be an event type of GET /api/v1/event-types"})
	}
	if id, ok := webhooks.CanonicalID(req.OrganizationID); ok {
		req.OrganizationID = id
	} else {
		errs = append(errs, webhooks.FieldError{Field: "organization_id", Message: "must be a UUID"})
	}
	var data map[string]json.RawMessage
	if len(req.Data) == 0 || json.Unmarshal(req.Data, &data) != nil || data == nil {
		errs = append(errs, webhooks.FieldError{Field: "data", Message: "must be a JSON object"})
	} else {
		errs = append(errs, webhooks.ValidateEventData(req.Event, data)...)
	}
	if req.OrderingKey != nil {
		errs = append(errs, webhooks.CheckOrderingKey("ordering_key", *req.OrderingKey)...)
	}
	if len(errs) > 0 {
		return webhooks.Invalid(errs...)
	}
	ev := newEvent(req.OrganizationID, req.Event, webhooks.SourceAPI, nil, req.OccurredAt)
	ev.Data = webhooks.EventData(req.Event, data, ev.OccurredAt)
	ev.OrderingKey = req.OrderingKey
	if key := c.Get(headerIdempotencyKey); key != "" {
		if err := webhooks.CheckIdempotencyKey(key); err != nil {
			return err
		}
		ev.Idempotency = &webhooks.Idempotency{Key: key, Hash: webhooks.IdempotencyHash(c.Body())}
	}
	ds, err := s.Publisher.Publish(c.UserContext(), ev)
	if errors.Is(err, store.ErrStoredBefore) && ev.Idempotency != nil {
		return s.idempotentReplay(c, ev)
	} else if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "accepted", "event_id": ev.ID, "deliveries": len(ds)})
}

const (
	headerIdempotencyKey     = "Idempotency-Key"
	headerIdempotentReplayed = "Idempotent-Replayed"
)

// idempotentReplay answers a POST /events whose Idempotency-Key stored an
// event before, within its window: the first answer again (202, the same
// event_id) when the body is the same, 409 when it is not. Nothing is stored.
func (s *Server) idempotentReplay(c *fiber.Ctx, ev *webhooks.Event) error {
	id, hash, n, found, err := s.DB.IdempotentEvent(c.UserContext(), ev.OrganizationID, ev.Idempotency.Key)
	switch {
	case err != nil:
		return err
	case !found: // expired between the publish and this read: the sender's retry stores it
		return webhooks.Errorf(webhooks.ECONFLICT, "The Idempotency-Key was in use a moment ago; send the request again.")
	case !bytes.Equal(hash, ev.Idempotency.Hash):
		return webhooks.Errorf(webhooks.ECONFLICT, "The Idempotency-Key was used with another body within the last 24 hours.")
	}
	c.Set(headerIdempotentReplayed, "true")
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "accepted", "event_id": id, "deliveries": n})
}

// newEvent returns an event received now that occurred at occurredAt, if given.
func newEvent(orgID, eventType, source string, data json.RawMessage, occurredAt *time.Time) *webhooks.Event {
	id, now := webhooks.NewEventID()
	ev := &webhooks.Event{ID: id, OrganizationID: orgID, Type: eventType, Source: source,
		Data: data, OccurredAt: now, ReceivedAt: now}
	if occurredAt != nil {
		ev.OccurredAt = occurredAt.UTC()
	}
	return ev
}
