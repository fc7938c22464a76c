package api

import (
	"encoding/json"
	"fmt"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// HeaderCalSignature carries Cal.com's hex HMAC-SHA256 of the raw body.
const HeaderCalSignature = "X-Cal-Signature-256"

// calcomEvents maps the Cal.com triggers we handle to outbound event types.
var calcomEvents = map[string]string{
	"BOOKING_CREATED":     webhooks.BookingCreated,
	"BOOKING_RESCHEDULED": webhooks.BookingRescheduled,
	"BOOKING_CANCELLED":   webhooks.BookingCancelled,
}

type calcomEnvelope struct {
	TriggerEvent string          `json:"triggerEvent"`
	CreatedAt    string          `json:"createdAt"`
	Payload      json.RawMessage `json:"payload"`
}

// calcomWebhook: POST /webhooks/calcom, the shared route of single-tenant
// installs. The signature is checked on the raw body before anything is parsed
// (when CALCOM_WEBHOOK_SECRET is set); the organization comes from the booking's
// metadata or the subscriber URL's ?organization_id=. PING → 200; triggers we do
// not handle → 200 {"status":"ignored"}; the same (trigger, uid) of an
// organization again → 200 {"status":"duplicate"}; else 202 accepted.
func (s *Server) calcomWebhook(c *fiber.Ctx) error {
	if s.CalcomSharedRouteOff {
		return webhooks.Errorf(webhooks.ENOTFOUND, "The shared Cal.com route is off here (CALCOM_SHARED_ROUTE=false): post to your organization's own subscriber URL.")
	}
	if err := s.guard.check(c); err != nil {
		return err
	}
	if s.CalcomSecret != "" {
		if err := s.checkCalSignature(c, s.CalcomSecret); err != nil {
			return err
		}
	}
	return s.calcomEvent(c, "")
}

// calcomOrgWebhook: POST /webhooks/calcom/{token}, an organization's own
// subscriber URL. The token names the organization, and the body must be signed
// with that organization's secret: nothing can be posted into another one.
func (s *Server) calcomOrgWebhook(c *fiber.Ctx) error {
	if err := s.guard.check(c); err != nil {
		return err
	}
	orgID, secret, err := s.DB.CalcomByToken(c.UserContext(), webhooks.HashAPIKey(c.Params("token")))
	if webhooks.ErrorCode(err) == webhooks.EUNAUTHORIZED {
		return rejected(webhooks.SourceCalcom, s.guard.failed(c, err))
	} else if err != nil {
		return rejected(webhooks.SourceCalcom, err)
	}
	if err := s.checkCalSignature(c, secret); err != nil {
		return err
	}
	return s.calcomEvent(c, orgID)
}

func (s *Server) checkCalSignature(c *fiber.Ctx, secret string) error {
	if !webhooks.Verify(secret, c.Body(), c.Get(HeaderCalSignature)) {
		return rejected(webhooks.SourceCalcom, s.guard.failed(c, webhooks.Errorf(webhooks.EUNAUTHORIZED,
			"The %s header is missing or does not match the body.", HeaderCalSignature)))
	}
	return nil
}

// calcomEvent handles a verified Cal.com body for orgID ("" : find it in the
// booking or the query).
func (s *Server) calcomEvent(c *fiber.Ctx, orgID string) error {
	var env calcomEnvelope
	if err := decodeJSON(c, &env); err != nil {
		return rejected(webhooks.SourceCalcom, err)
	}
	if env.TriggerEvent == "" {
		return rejected(webhooks.SourceCalcom, webhooks.Invalid(webhooks.FieldError{Field: "triggerEvent", Message: "is required"}))
	}
	if env.TriggerEvent == "PING" {
		return c.JSON(fiber.Map{"status": "ok"})
	}
	eventType, handled := calcomEvents[env.TriggerEvent]
	if !handled {
		inboundTotal.WithLabelValues(webhooks.SourceCalcom, "ignored").Inc()
		return c.JSON(fiber.Map{"status": "ignored"})
	}
	var b calcomBooking
	if err := json.Unmarshal(env.Payload, &b); err != nil || len(env.Payload) == 0 {
		return rejected(webhooks.SourceCalcom, webhooks.Invalid(webhooks.FieldError{Field: "payload", Message: "must be the booking object of a Cal.com webhook"}))
	}
	if b.UID == "" || len(b.UID) > webhooks.MaxExternalIDLength {
		return rejected(webhooks.SourceCalcom, webhooks.Invalid(webhooks.FieldError{Field: "payload.uid",
			Message: fmt.Sprintf("is required, at most %d characters", webhooks.MaxExternalIDLength)}))
	}
	if orgID == "" {
		var err error
		if orgID, err = s.sharedRouteOrganization(c, &b); err != nil {
			return rejected(webhooks.SourceCalcom, err)
		}
	}
	return s.publishBooking(c, orgID, eventType, env, &b)
}

// publishBooking publishes the booking once per organization, trigger and uid:
// Cal.com sends no delivery id. Redis recognises a repeat within the dedup
// window; Postgres (a unique index) any later replay.
func (s *Server) publishBooking(c *fiber.Ctx, orgID, eventType string, env calcomEnvelope, b *calcomBooking) error {
	var occurredAt *time.Time
	if t, err := time.Parse(time.RFC3339, env.CreatedAt); err == nil {
		occurredAt = &t
	}
	ev := newEvent(orgID, eventType, webhooks.SourceCalcom, mustJSON(b.data(eventType, env.CreatedAt)), occurredAt)
	return s.publishOnce(c, "calcom:"+orgID+":"+env.TriggerEvent+":"+b.UID, ev)
}

// sharedRouteOrganization finds the organization of a booking posted to the
// shared route. An organization with a subscriber URL of its own takes its
// bookings there only, signed with its own secret: on the shared route, which
// anyone holding the shared secret (or anyone at all, when it is unset) may
// post to, its id is refused.
func (s *Server) sharedRouteOrganization(c *fiber.Ctx, b *calcomBooking) (string, error) {
	orgID, err := calcomOrganization(c, b)
	if err != nil {
		return "", err
	}
	in, err := s.DB.CalcomIntegration(c.UserContext(), orgID)
	if err != nil {
		return "", err
	}
	if in.Connected {
		return "", webhooks.Errorf(webhooks.EFORBIDDEN, "This organization has its own Cal.com subscriber URL: Cal.com must post there, not to the shared route.")
	}
	return orgID, nil
}

// calcomOrganization finds the organization of a booking: the booking's
// metadata.organization_id, else the subscriber URL's ?organization_id=.
func calcomOrganization(c *fiber.Ctx, b *calcomBooking) (string, error) {
	orgID := b.metaString("organization_id")
	field := "payload.metadata.organization_id"
	if orgID == "" {
		orgID, field = c.Query("organization_id"), "organization_id"
	}
	if orgID == "" {
		return "", webhooks.Invalid(webhooks.FieldError{Field: "organization_id",
			Message: "is unknown: add ?organization_id=<your organization id> to the subscriber URL in Cal.com, or pass metadata[organization_id] on the booking link"})
	}
	id, ok := webhooks.CanonicalID(orgID)
	if !ok {
		return "", webhooks.Invalid(webhooks.FieldError{Field: field, Message: "must be a UUID"})
	}
	return id, nil
}
