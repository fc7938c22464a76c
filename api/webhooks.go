package api

import (
	"context"
	"fmt"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/outbound"
	"github.com/empfio/webhooks/store"
	"github.com/gofiber/fiber/v2"
)

type createWebhookRequest struct {
	URL         string                `json:"url"`
	Events      []string              `json:"events"`
	Description string                `json:"description"`
	RetryPolicy *webhooks.RetryPolicy `json:"retry_policy"`
	RateLimit   *webhooks.RateLimit   `json:"rate_limit"`
	Headers     map[string]string     `json:"headers"`
	Filter      webhooks.Filter       `json:"filter"`
	Ordered     bool                  `json:"ordered"`
}

// PingResult is the outcome of a webhook.ping.
type PingResult struct {
	OK         bool    `json:"ok"`
	StatusCode *int    `json:"status_code"`
	DurationMS int64   `json:"duration_ms"`
	Error      *string `json:"error"`
}

type webhookWithSecret struct {
	*webhooks.Endpoint
	Secret string      `json:"secret"`
	Ping   *PingResult `json:"ping,omitempty"`
}

// validateEndpoint checks e's fields and its URL's network target.
func (s *Server) validateEndpoint(ctx context.Context, e *webhooks.Endpoint) error {
	if err := s.Targets.CheckURL(ctx, e.URL); err != nil {
		return err
	}
	return e.Validate()
}

// createWebhook: POST /webhooks → 201 with the secret and the result of a ping
// sent before answering. The webhook is saved whatever the ping's outcome.
func (s *Server) createWebhook(c *fiber.Ctx) error {
	var req createWebhookRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	e := &webhooks.Endpoint{OrganizationID: orgOf(c), URL: req.URL, Events: req.Events,
		Description: req.Description, RetryPolicy: req.RetryPolicy, RateLimit: req.RateLimit, Headers: req.Headers, Filter: req.Filter,
		Ordered: req.Ordered}
	if err := s.validateEndpoint(c.UserContext(), e); err != nil {
		return err
	}
	if err := principalOf(c).CheckSubscriptions(e.Events); err != nil {
		return err
	}
	if err := s.DB.CreateEndpoint(c.UserContext(), e); err != nil {
		return err
	}
	s.audit(c, e.OrganizationID, webhooks.AuditWebhookCreated, "webhook", e.ID, fiber.Map{"url": e.URL, "events": e.Events})
	ping := s.ping(c.UserContext(), e)
	return c.Status(fiber.StatusCreated).JSON(webhookWithSecret{Endpoint: e, Secret: e.Secret, Ping: ping})
}

// ping sends a signed webhook.ping to e through the delivery Sender and records
// a success on the endpoint.
func (s *Server) ping(ctx context.Context, e *webhooks.Endpoint) *PingResult {
	id, now := webhooks.NewEventID()
	ev := webhooks.Event{ID: id, OrganizationID: e.OrganizationID, Type: webhooks.WebhookPing, OccurredAt: now, ReceivedAt: now}
	ev.Data = mustJSON(map[string]string{"webhook_id": e.ID, "message": "This is a test delivery from Empfio Webhooks."})
	if err := ev.RenderEnvelope(); err != nil {
		panic(err) // the envelope of a ping is always valid JSON
	}
	res := s.Sender.Send(ctx, outbound.Message{ID: ev.ID, EventType: ev.Type, URL: e.URL,
		Secrets: e.SigningSecrets(time.Now()), Body: ev.Envelope, Headers: e.Headers})
	out := &PingResult{OK: res.OK(), DurationMS: res.Duration.Milliseconds(), Error: res.ErrorText()}
	if res.StatusCode != 0 {
		out.StatusCode = &res.StatusCode
	}
	failure := out.Error
	if !out.OK && failure == nil {
		text := fmt.Sprintf("HTTP %d", res.StatusCode)
		failure = &text
	}
	if err := s.DB.RecordPing(context.WithoutCancel(ctx), e.ID, res.StartedAt, failure); err != nil {
		s.log.WarnContext(ctx, "record ping", "endpoint_id", e.ID, "error", err)
	} else {
		t := res.StartedAt
		e.LastPingAt, e.LastPingError = &t, failure
		if out.OK {
			e.LastPingOKAt = &t
		}
	}
	return out
}

// listWebhooks: GET /webhooks?limit=&cursor= → a page, newest first.
func (s *Server) listWebhooks(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	list, next, err := s.DB.Endpoints(c.UserContext(), orgOf(c), cursor, limit, principalOf(c).Subscriptions())
	if err != nil {
		return err
	}
	if err := s.DB.AddStats(c.UserContext(), list...); err != nil {
		return err
	}
	return c.JSON(listOf(list, next))
}

// endpoint loads the webhook named by the :id parameter, scoped to the
// caller: another organization's, one a limited dashboard link does not see
// (webhooks.Principal.Sees) and a listen session's are not found.
func (s *Server) endpoint(c *fiber.Ctx) (*webhooks.Endpoint, error) {
	id, err := idParam(c, "id", "Webhook")
	if err != nil {
		return nil, err
	}
	e, err := s.DB.Endpoint(c.UserContext(), orgOf(c), id)
	if err != nil {
		return nil, err
	}
	if _, listen := webhooks.ListenSession(e.URL); listen || !principalOf(c).Sees(e) {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Webhook not found.")
	}
	return e, nil
}

// getWebhook: GET /webhooks/{id}, with its stats.
func (s *Server) getWebhook(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	if err := s.DB.AddStats(c.UserContext(), e); err != nil {
		return err
	}
	return c.JSON(e)
}

// updateWebhook: PATCH /webhooks/{id} with any of url, events, description,
// enabled, retry_policy, rate_limit; with "enabled": true, replay says what
// happens to what was held or failed while the endpoint was off.
func (s *Server) updateWebhook(c *fiber.Ctx) error {
	before, err := s.endpoint(c)
	if err != nil {
		return err
	}
	var u webhooks.EndpointUpdate
	if err := decodeJSON(c, &u); err != nil {
		return err
	}
	if err := u.Check(); err != nil {
		return err
	}
	if u.URL.Value != nil {
		if err := s.Targets.CheckURL(c.UserContext(), *u.URL.Value); err != nil {
			return err
		}
	}
	e, wasEnabled, release, err := s.DB.UpdateEndpoint(c.UserContext(), orgOf(c), before.ID, &u, func(e *webhooks.Endpoint) error {
		if err := e.Validate(); err != nil {
			return err
		}
		return principalOf(c).CheckSubscriptions(e.Events)
	})
	if err != nil {
		return err
	}
	switch {
	case !wasEnabled && e.Enabled:
		s.audit(c, e.OrganizationID, webhooks.AuditWebhookEnabled, "webhook", e.ID, fiber.Map{"fields": bodyFields(c), "replay": u.Replay})
	case wasEnabled && !e.Enabled:
		s.audit(c, e.OrganizationID, webhooks.AuditWebhookDisabled, "webhook", e.ID, fiber.Map{"fields": bodyFields(c)})
	default:
		s.audit(c, e.OrganizationID, webhooks.AuditWebhookUpdated, "webhook", e.ID, fiber.Map{"fields": bodyFields(c)})
	}
	if wasEnabled && !e.Enabled {
		s.Publisher.PublishOperational(c.UserContext(), webhooks.WebhookDisabledEvent(e, "disabled by a user", time.Now()))
	}
	if release && s.Circuits != nil {
		if err := s.Circuits.ScheduleRelease(c.UserContext(), e.ID, "", "enabled", time.Now()); err != nil {
			// Held in Postgres: the sweeper starts the release when Redis is back.
			s.log.WarnContext(c.UserContext(), "starting the release of held deliveries failed; the sweeper will start it", "webhook_id", e.ID, "error", err)
		}
	}
	return c.JSON(e)
}

// deleteWebhook: DELETE /webhooks/{id} → 204; its deliveries go with it.
func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	if err := s.DB.DeleteEndpoint(c.UserContext(), orgOf(c), e.ID); err != nil {
		return err
	}
	s.audit(c, e.OrganizationID, webhooks.AuditWebhookDeleted, "webhook", e.ID, fiber.Map{"url": e.URL})
	return c.SendStatus(fiber.StatusNoContent)
}

// testRequest is the body of POST /webhooks/{id}/test; none sends a ping.
type testRequest struct {
	EventType string `json:"event_type"`
}

// TestEvent is the answer of a test event of a chosen type.
type TestEvent struct {
	Status     string `json:"status"` // accepted
	EventID    string `json:"event_id"`
	DeliveryID string `json:"delivery_id"`
}

// testWebhook: POST /webhooks/{id}/test → without a body, the outcome of a
// ping sent now; with {"event_type": t}, 202: t's catalog example published to
// this webhook alone, a real delivery (signed, logged, retried like any
// other) whose id the answer gives.
func (s *Server) testWebhook(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	var req testRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	if req.EventType == "" {
		return c.JSON(s.ping(c.UserContext(), e))
	}
	t, ok := webhooks.LookupEventType(req.EventType)
	switch {
	case !ok || webhooks.IsOperational(req.EventType) || req.EventType == webhooks.WebhookPing:
		return webhooks.Invalid(webhooks.FieldError{Field: "event_type", Message: "must be an event type of GET /api/v1/event-types that senders publish"})
	case !e.Subscribes(t.Name) || !principalOf(c).AllowsEventType(t.Name):
		return webhooks.Invalid(webhooks.FieldError{Field: "event_type", Message: "is not one of the event types this webhook receives"})
	case !e.Enabled:
		return webhooks.Errorf(webhooks.ECONFLICT, "The webhook is disabled: enable it to send it a test event.")
	}
	ev := newEvent(e.OrganizationID, t.Name, webhooks.SourceTrigger, t.Example, nil) // the catalog's strings: fiber's are reused buffers
	ev.Targets = []string{e.ID}
	ds, err := s.Publisher.Publish(c.UserContext(), ev)
	if err != nil {
		return err
	}
	if len(ds) == 0 { // disabled or deleted in the meantime
		return webhooks.Errorf(webhooks.ECONFLICT, "The webhook no longer takes deliveries.")
	}
	return c.Status(fiber.StatusAccepted).JSON(TestEvent{Status: "accepted", EventID: ev.ID, DeliveryID: ds[0].ID})
}

// revealSecret: GET /webhooks/{id}/secret.
func (s *Server) revealSecret(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	s.audit(c, e.OrganizationID, webhooks.AuditSecretRevealed, "webhook", e.ID, nil)
	return c.JSON(secretView(e))
}

func secretView(e *webhooks.Endpoint) fiber.Map {
	m := fiber.Map{"secret": e.Secret, "previous_secret_expires_at": nil}
	if e.PreviousSecretExpiresAt != nil && time.Now().Before(*e.PreviousSecretExpiresAt) {
		m["previous_secret_expires_at"] = e.PreviousSecretExpiresAt
	}
	return m
}

// rotateSecret: POST /webhooks/{id}/secret/rotate {"grace": "24h"} → the new
// secret; the previous one keeps signing until the grace period ends.
func (s *Server) rotateSecret(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	var req webhooks.SecretRotation
	if err := decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	grace, err := req.GracePeriod()
	if err != nil {
		return err
	}
	e, err = s.DB.RotateSecret(c.UserContext(), orgOf(c), e.ID, grace)
	if err != nil {
		return err
	}
	s.audit(c, e.OrganizationID, webhooks.AuditSecretRotated, "webhook", e.ID, fiber.Map{"grace": webhooks.FormatDuration(grace)})
	return c.JSON(secretView(e))
}

// filterTestRequest is the body of POST /webhooks/{id}/filter-test.
type filterTestRequest struct {
	Filter webhooks.Filter `json:"filter"`
}

// FilterTestResult says which of the organization's recent events a filter
// would let through to a webhook.
type FilterTestResult struct {
	Checked int                  `json:"checked"`
	Passed  int                  `json:"passed"`
	Events  []store.FilterResult `json:"events"`
}

// filterTestLimit is how many recent events a filter is tried on.
const filterTestLimit = 100

// filterTest: POST /webhooks/{id}/filter-test {"filter": …} → which of the
// organization's last 100 events of the webhook's types the filter would let
// through, evaluated as publishing evaluates it. A bad filter is 422 on
// "filter"; null lets everything through.
func (s *Server) filterTest(c *fiber.Ctx) error {
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	var req filterTestRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	path, err := webhooks.CompileFilter(req.Filter)
	if err != nil {
		return err
	}
	events, err := s.DB.FilterTest(c.UserContext(), e.OrganizationID, e.Events, path, filterTestLimit) // a limited link sees only webhooks within its types
	if err != nil {
		return err
	}
	out := FilterTestResult{Checked: len(events), Events: events}
	for _, ev := range events {
		if ev.Passes {
			out.Passed++
		}
	}
	return c.JSON(out)
}
