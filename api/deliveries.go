package api

import (
	"time"

	"github.com/empfio/webhooks/outbound"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// listDeliveries: GET /webhooks/{id}/deliveries?status=&event_type=&limit=&cursor=
func (s *Server) listDeliveries(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	f := webhooks.DeliveryFilter{OrganizationID: e.OrganizationID, EndpointID: e.ID,
		Status: c.Query("status"), EventType: c.Query("event_type"), EventTypes: principalOf(c).EventTypes(), Cursor: cursor, Limit: limit}
	switch f.Status {
	case "", webhooks.StatusPending, webhooks.StatusRetrying, webhooks.StatusHeld, webhooks.StatusSucceeded, webhooks.StatusFailed:
	default:
		return webhooks.Invalid(webhooks.FieldError{Field: "status", Message: "must be pending, retrying, held, succeeded or failed"})
	}
	if f.EventType != "" && !webhooks.IsEventType(f.EventType) {
		return webhooks.Invalid(webhooks.FieldError{Field: "event_type", Message: "is not an event type; see GET /api/v1/event-types"})
	}
	if v := c.Query("event_id"); v != "" {
		id, ok := webhooks.CanonicalID(v)
		if !ok {
			return webhooks.Invalid(webhooks.FieldError{Field: "event_id", Message: "must be a UUID"})
		}
		f.EventID = id
	}
	if f.Since, err = timeQuery(c, "since"); err != nil {
		return err
	}
	if f.Until, err = timeQuery(c, "until"); err != nil {
		return err
	}
	if f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until) {
		return webhooks.Invalid(webhooks.FieldError{Field: "until", Message: "must be after since"})
	}
	list, next, err := s.DB.Deliveries(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(listOf(list, next))
}

// delivery loads the delivery named by the :id parameter, with its attempts,
// scoped to the caller: another organization's, and one a limited dashboard
// link may not see (its type, or its endpoint), are not found.
func (s *Server) delivery(c *fiber.Ctx) (*webhooks.Delivery, error) {
	id, err := idParam(c, "id", "Delivery")
	if err != nil {
		return nil, err
	}
	d, err := s.DB.Delivery(c.UserContext(), orgOf(c), id)
	if err != nil {
		return nil, err
	}
	if p := principalOf(c); p.Limited() {
		e, err := s.DB.Endpoint(c.UserContext(), d.OrganizationID, d.EndpointID)
		if err != nil {
			return nil, err
		}
		if !p.AllowsEventType(d.EventType) || !p.Sees(e) {
			return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Delivery not found.")
		}
	}
	return d, nil
}

// getDelivery: GET /deliveries/{id} → the delivery with every attempt, and
// the delivery it waits for when an earlier one of its ordering key is open.
func (s *Server) getDelivery(c *fiber.Ctx) error {
	d, err := s.delivery(c)
	if err != nil {
		return err
	}
	d.Request.Headers = s.Sender.StableHeaders(outbound.Message{ID: d.ID, EventType: d.EventType, Headers: d.Request.Headers})
	if waiting, err := s.DB.WaitingFor(c.UserContext(), d); err != nil {
		return err
	} else if waiting != "" {
		d.WaitingFor = &waiting
	}
	return c.JSON(d)
}

// retryDelivery: POST /deliveries/{id}/retry → 202; a fresh attempt now, whatever
// the delivery's status (webhooks.RetryNow): a final delivery gets exactly one
// attempt, a held one is sent as its endpoint's probe.
func (s *Server) retryDelivery(c *fiber.Ctx) error {
	d, err := s.delivery(c)
	if err != nil {
		return err
	}
	r := webhooks.RetryNow(d.Status)
	if r.Probe && s.Circuits != nil {
		e, err := s.DB.EndpointByID(c.UserContext(), d.EndpointID)
		if err != nil {
			return err
		}
		now := time.Now()
		if _, err := s.Circuits.Apply(c.UserContext(), e, func(cur webhooks.Circuit) webhooks.Step {
			return s.Circuits.Breaker.StartProbe(cur, d.ID, now)
		}); err != nil {
			return err
		}
	}
	if d, err = s.DB.RetryDelivery(c.UserContext(), d, r); err != nil {
		return err
	}
	s.audit(c, d.OrganizationID, webhooks.AuditDeliveryRetried, "delivery", d.ID, fiber.Map{"webhook_id": d.EndpointID})
	if err := s.Queue.RunNow(c.UserContext(), d.ID, d.CreatedAt); err != nil {
		// The delivery is due in Postgres: the sweeper queues it when Redis is back.
		s.log.WarnContext(c.UserContext(), "retry enqueue failed; the sweeper will requeue", "delivery_id", d.ID, "error", err)
	}
	return c.Status(fiber.StatusAccepted).JSON(d)
}

// replay: POST /webhooks/{id}/replay {since, until} → 202 {"replayed": n}: the
// endpoint's failed deliveries created in [since, until) are sent again once.
func (s *Server) replay(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	var req webhooks.ReplayRange
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	since, until, err := req.Bounds(time.Now())
	if err != nil {
		return err
	}
	list, err := s.DB.ReplayFailed(c.UserContext(), e.OrganizationID, e.ID, since, until, principalOf(c).EventTypes())
	if err != nil {
		return err
	}
	s.audit(c, e.OrganizationID, webhooks.AuditDeliveriesReplayed, "webhook", e.ID, fiber.Map{"since": since, "until": until, "replayed": len(list)})
	for _, d := range list {
		if err := s.Queue.RunNow(c.UserContext(), d.ID, d.CreatedAt); err != nil {
			s.log.WarnContext(c.UserContext(), "replay enqueue failed; the sweeper will requeue", "delivery_id", d.ID, "error", err)
			break
		}
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"replayed": len(list)})
}
