package api

import (
	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// publishOnce publishes ev unless key was seen within the dedup window, and
// answers 202 {"status":"accepted","event_id"} or 200 {"status":"duplicate"}.
// If publishing fails after the key was taken, the key is released so that the
// sender's retry is not taken for a duplicate, and the error is answered (404 for
// an unknown organization, 503 for an outage).
func (s *Server) publishOnce(c *fiber.Ctx, key string, ev *webhooks.Event) error {
	ctx := c.UserContext()
	fresh, err := s.Dedup.Claim(ctx, key)
	if err != nil {
		inboundTotal.WithLabelValues(ev.Source, "error").Inc()
		return err
	}
	if !fresh {
		inboundTotal.WithLabelValues(ev.Source, "duplicate").Inc()
		s.log.Info("inbound duplicate", "source", ev.Source, "organization_id", ev.OrganizationID, "event_type", ev.Type)
		return c.JSON(fiber.Map{"status": "duplicate"})
	}
	if _, err := s.Publisher.Publish(ctx, ev); err != nil {
		if rerr := s.Dedup.Release(ctx, key); rerr != nil {
			s.log.Warn("release dedup key", "error", rerr)
		}
		inboundTotal.WithLabelValues(ev.Source, "error").Inc()
		return err
	}
	inboundTotal.WithLabelValues(ev.Source, "accepted").Inc()
	s.log.Info("inbound accepted", "source", ev.Source, "organization_id", ev.OrganizationID, "event_id", ev.ID, "event_type", ev.Type)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"status": "accepted", "event_id": ev.ID})
}

// rejected counts an inbound request refused for its content or credentials.
func rejected(source string, err error) error {
	inboundTotal.WithLabelValues(source, "rejected").Inc()
	return err
}
