package api

import (
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// createPortalSession: POST /portal-sessions (API key only) {read_only,
// allowed_event_types, ttl} → 201 {url, expires_at, ...}: a dashboard link for the
// caller's organization. The token rides in the URL's fragment, which browsers
// never send to a server, and the dashboard moves it out of the address bar.
func (s *Server) createPortalSession(c *fiber.Ctx) error {
	var req webhooks.PortalRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	p := principalOf(c)
	session, err := req.Session(p.OrganizationID, p.APIKeyID, time.Now().UTC())
	if err != nil {
		return err
	}
	if err := s.DB.CreatePortalSession(c.UserContext(), session); err != nil {
		return err
	}
	s.audit(c, p.OrganizationID, webhooks.AuditPortalSessionCreated, "portal_session", session.ID, fiber.Map{
		"read_only": session.ReadOnly, "allowed_event_types": session.AllowedEventTypes, "expires_at": session.ExpiresAt})
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"id": session.ID, "url": s.PublicURL + "/dashboard/#portal=" + session.Token,
		"expires_at": session.ExpiresAt, "read_only": session.ReadOnly,
		"allowed_event_types": session.AllowedEventTypes,
	})
}

// sessionInfo: GET /session → who the credential acts for: the organization,
// whether it is a read-only dashboard link, the event types it may use, and
// whether endpoints may be http:// here. The dashboard reads it at sign-in.
func (s *Server) sessionInfo(c *fiber.Ctx) error {
	p := principalOf(c)
	org, err := s.DB.Organization(c.UserContext(), p.OrganizationID)
	if err != nil {
		return err
	}
	out := fiber.Map{"organization": org, "kind": "api_key", "read_only": false,
		"allowed_event_types": nil, "expires_at": nil, "insecure_targets_allowed": s.Targets.AllowInsecure}
	if p.Portal != nil {
		out["kind"], out["read_only"], out["expires_at"] = "portal", p.Portal.ReadOnly, p.Portal.ExpiresAt
		if len(p.Portal.AllowedEventTypes) > 0 {
			out["allowed_event_types"] = p.Portal.AllowedEventTypes
		}
	}
	return c.JSON(out)
}
