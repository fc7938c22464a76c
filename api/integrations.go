package api

import (
	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// connectCalcom: POST /integrations/calcom → 201 {subscriber_url, secret, ...}:
// the organization's own Cal.com subscriber URL and secret, shown this once. A
// second call replaces both: the previous URL stops working.
func (s *Server) connectCalcom(c *fiber.Ctx) error {
	in, err := s.DB.PutCalcomIntegration(c.UserContext(), orgOf(c))
	if err != nil {
		return err
	}
	s.audit(c, orgOf(c), webhooks.AuditCalcomConnected, "calcom_integration", "", nil)
	in.SubscriberURL = s.PublicURL + "/api/v1/webhooks/calcom/" + in.Token
	return c.Status(fiber.StatusCreated).JSON(in)
}

// calcomIntegration: GET /integrations/calcom → whether and since when the
// organization has its own subscriber URL ({"connected": false} if not).
func (s *Server) calcomIntegration(c *fiber.Ctx) error {
	in, err := s.DB.CalcomIntegration(c.UserContext(), orgOf(c))
	if err != nil {
		return err
	}
	return c.JSON(in)
}
