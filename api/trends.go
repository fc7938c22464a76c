package api

import (
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// webhookTrends: GET /webhooks/{id}/trends?window=24h|7d → the webhook's
// deliveries by outcome and its attempts' latency, a point per bucket (an
// hour over 24 hours, six over 7 days), for charts.
func (s *Server) webhookTrends(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	window := c.Query("window", "24h")
	start, bucket, ok := webhooks.TrendRange(window, time.Now())
	if !ok {
		return webhooks.Invalid(webhooks.FieldError{Field: "window", Message: `must be "24h" or "7d"`})
	}
	points, err := s.DB.Trends(c.UserContext(), e.OrganizationID, e.ID, start, bucket)
	if err != nil {
		return err
	}
	return c.JSON(webhooks.Trends{Window: window, Bucket: webhooks.FormatBucket(bucket), Points: points})
}
