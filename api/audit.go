package api

import (
	"encoding/json"
	"slices"
	"strings"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

// audit records that this request did action to a target of the
// organization, once it succeeded: who (the principal, or the admin token on
// the admin routes), from where (the client's address, TRUSTED_PROXIES
// applied), and detail (what changed, never a secret). A failure to record
// is logged: the change itself is made.
func (s *Server) audit(c *fiber.Ctx, orgID, action, targetType, targetID string, detail any) {
	ev := &webhooks.AuditEvent{OrganizationID: orgID, Action: action, TargetType: targetType,
		IP: clientAddr(c, s.TrustedProxies), UserAgent: truncate(c.Get(fiber.HeaderUserAgent), 256), RequestID: requestID(c)}
	if targetID != "" {
		ev.TargetID = &targetID
	}
	if p, ok := c.Locals(localPrincipal).(*webhooks.Principal); ok {
		ev.APIKeyID = &p.APIKeyID
		if p.Portal != nil {
			ev.PortalSessionID = &p.Portal.ID
		}
	}
	if detail != nil {
		ev.Detail, _ = json.Marshal(detail)
	}
	if err := s.DB.RecordAudit(c.UserContext(), ev); err != nil {
		s.log.ErrorContext(c.UserContext(), "audit event not recorded", "action", action, "organization_id", orgID, "error", err)
	}
}

// bodyFields returns the names of the top-level fields of the request's JSON
// body, sorted: what a PATCH changed, without its values.
func bodyFields(c *fiber.Ctx) []string {
	var m map[string]json.RawMessage
	json.Unmarshal(c.Body(), &m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return strings.Clone(s) // fiber's strings are reused buffers
	}
	return strings.Clone(s[:n])
}

// auditLog: GET /audit-log?action=&limit=&cursor= → the organization's audit
// events, newest first (API keys only: it tells who did what to everything).
func (s *Server) auditLog(c *fiber.Ctx) error {
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	action := c.Query("action")
	if action != "" && !slices.Contains(webhooks.AuditActions, action) {
		return webhooks.Invalid(webhooks.FieldError{Field: "action", Message: "must be one of " + strings.Join(webhooks.AuditActions, ", ")})
	}
	list, next, err := s.DB.AuditLog(c.UserContext(), webhooks.AuditFilter{OrganizationID: orgOf(c), Action: strings.Clone(action),
		Cursor: cursor, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(listOf(list, next))
}
