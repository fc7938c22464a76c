package api

import (
	"errors"
	"time"

	"github.com/empfio/webhooks/store"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/jobs"
	"github.com/gofiber/fiber/v2"
)

// retryAfterInFlight is the Retry-After of a 409 for an event another request is
// storing: by then it is stored (a duplicate) or its claim was released.
const retryAfterInFlight = "1"

// publishOnce publishes ev, with the ordering key its data give
// (webhooks.DeriveOrderingKey), unless it was stored under key within the
// dedup window, and answers:
//   - 202 {"status":"accepted","event_id"}: stored now;
//   - 200 {"status":"duplicate","event_id"}: stored before — "duplicate" is only
//     ever said of an event that is stored;
//   - 409 with Retry-After: another request holds the key and the event is not
//     stored yet (it is being stored, or its request died; once the claim is
//     older than the lease, a retry takes it over and is accepted);
//   - the publishing error (404 for an unknown organization, 503 for an outage),
//     after releasing the key, so the sender's retry is accepted at once.
func (s *Server) publishOnce(c *fiber.Ctx, key string, ev *webhooks.Event) error {
	ctx := c.UserContext()
	claim, err := s.Dedup.Claim(ctx, key)
	if err != nil {
		inboundTotal.WithLabelValues(ev.Source, "error").Inc()
		return err
	}
	switch claim.State {
	case jobs.Seen:
		return s.duplicate(c, ev, claim.SeenEventID)
	case jobs.InFlight:
		if err := s.claimedElsewhere(c, claim, key, ev); err != nil || claim.State != jobs.Claimed {
			return err
		}
	}
	ev.DedupKey = &key
	ev.OrderingKey = webhooks.DeriveOrderingKey(ev.Type, ev.Data)
	_, err = s.Publisher.Publish(ctx, ev)
	if errors.Is(err, store.ErrStoredBefore) {
		return s.storedBefore(c, claim, key, ev)
	}
	if err != nil {
		if rerr := claim.Release(ctx); rerr != nil {
			s.log.WarnContext(ctx, "release dedup key", "error", rerr)
		}
		inboundTotal.WithLabelValues(ev.Source, "error").Inc()
		return err
	}
	inboundTotal.WithLabelValues(ev.Source, "accepted").Inc()
	s.log.InfoContext(ctx, "inbound accepted", "source", ev.Source, "organization_id", ev.OrganizationID, "event_id", ev.ID, "event_type", ev.Type)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "accepted", "event_id": ev.ID})
}

// claimedElsewhere answers a request whose key another request claimed: a
// duplicate if the event is in Postgres already, else 409 — unless the claim
// outlived its lease (its request died), when the claim becomes this request's
// (claim.State is then Claimed) and nil is returned: store the event.
func (s *Server) claimedElsewhere(c *fiber.Ctx, claim *jobs.Claim, key string, ev *webhooks.Event) error {
	since := time.Now().Add(-s.Dedup.WindowLength())
	id, stored, err := s.DB.EventByDedupKey(c.UserContext(), ev.OrganizationID, key, since)
	if err != nil {
		inboundTotal.WithLabelValues(ev.Source, "error").Inc()
		return err
	}
	if stored {
		return s.duplicate(c, ev, id)
	}
	mine, err := claim.TakeOver(c.UserContext())
	if err != nil {
		inboundTotal.WithLabelValues(ev.Source, "error").Inc()
		return err
	}
	if mine {
		return nil
	}
	inboundTotal.WithLabelValues(ev.Source, "in_flight").Inc()
	c.Set(fiber.HeaderRetryAfter, retryAfterInFlight)
	return webhooks.Errorf(webhooks.ECONFLICT, "The same event is being accepted by another request; retry in a second.")
}

// storedBefore answers a Cal.com booking stored before, past the dedup window: a
// duplicate of that event.
func (s *Server) storedBefore(c *fiber.Ctx, claim *jobs.Claim, key string, ev *webhooks.Event) error {
	id, _, err := s.DB.EventByDedupKey(c.UserContext(), ev.OrganizationID, key, time.Time{})
	if err != nil {
		claim.Release(c.UserContext())
		return err
	}
	if err := claim.MarkSeen(c.UserContext(), id); err != nil {
		s.log.WarnContext(c.UserContext(), "mark dedup key seen", "event_id", id, "error", err)
	}
	return s.duplicate(c, ev, id)
}

func (s *Server) duplicate(c *fiber.Ctx, ev *webhooks.Event, eventID string) error {
	inboundTotal.WithLabelValues(ev.Source, "duplicate").Inc()
	s.log.InfoContext(c.UserContext(), "inbound duplicate", "source", ev.Source, "organization_id", ev.OrganizationID, "event_type", ev.Type, "event_id", eventID)
	return c.JSON(fiber.Map{"status": "duplicate", "event_id": eventID})
}

// rejected counts an inbound request refused for its content or credentials.
func rejected(source string, err error) error {
	inboundTotal.WithLabelValues(source, "rejected").Inc()
	return err
}
