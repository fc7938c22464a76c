package api

import (
	"crypto/subtle"
	"encoding/hex"
	"strings"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

const localPrincipal = "principal"

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// tokenMatches compares in constant time; an empty expected token matches nothing.
func tokenMatches(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// unauthorized answers a failed authentication: 401, or 429 once its address
// has failed too often (see authGuard).
func (s *Server) unauthorized(c *fiber.Ctx, msg string) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="empfio"`)
	return s.guard.failed(c, webhooks.Errorf(webhooks.EUNAUTHORIZED, "%s", msg))
}

// internalAuth admits Empfio's own services by INTERNAL_AUTH_TOKEN.
func (s *Server) internalAuth(c *fiber.Ctx) error {
	if err := s.guard.check(c); err != nil {
		return err
	}
	if !tokenMatches(bearer(c), s.InternalToken) {
		return s.unauthorized(c, "A valid internal bearer token is required.")
	}
	return c.Next()
}

// adminAuth admits operators by ADMIN_TOKEN.
func (s *Server) adminAuth(c *fiber.Ctx) error {
	if err := s.guard.check(c); err != nil {
		return err
	}
	if !tokenMatches(bearer(c), s.AdminToken) {
		return s.unauthorized(c, "A valid admin bearer token is required.")
	}
	return c.Next()
}

// orgAuth admits an organization's API key, or a portal session opened with one,
// scopes the request to its organization, and applies the rate limit of the
// credential. A read-only portal session may only read.
func (s *Server) orgAuth(c *fiber.Ctx) error {
	if err := s.guard.check(c); err != nil {
		return err
	}
	token := bearer(c)
	hash := webhooks.HashAPIKey(token)
	var p webhooks.Principal
	var err error
	switch {
	case strings.HasPrefix(token, webhooks.PortalTokenPrefix):
		p.Portal, err = s.DB.AuthenticatePortal(c.UserContext(), hash)
		if err == nil {
			p.OrganizationID, p.APIKeyID = p.Portal.OrganizationID, p.Portal.APIKeyID
		}
	case strings.HasPrefix(token, "emp_"):
		p.OrganizationID, p.APIKeyID, err = s.DB.Authenticate(c.UserContext(), hash)
	default:
		return s.unauthorized(c, "An API key (Authorization: Bearer emp_…) is required.")
	}
	if webhooks.ErrorCode(err) == webhooks.EUNAUTHORIZED {
		return s.unauthorized(c, webhooks.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	if s.Limiter != nil {
		if after, err := s.Limiter.Allow(c.UserContext(), hex.EncodeToString(hash[:8])); err != nil {
			return rateLimited(c, err, after.Seconds())
		}
	}
	if p.ReadOnly() && c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		return webhooks.Errorf(webhooks.EFORBIDDEN, "This dashboard link is read-only.")
	}
	c.Locals(localPrincipal, &p)
	return c.Next()
}

// keyOnly refuses portal sessions: what it guards needs an API key itself
// (opening more portal sessions, revealing a secret to a read-only viewer).
func keyOnly(c *fiber.Ctx) error {
	if principalOf(c).Portal != nil {
		return webhooks.Errorf(webhooks.EFORBIDDEN, "This needs an API key, not a dashboard link.")
	}
	return c.Next()
}

// writable refuses read-only principals.
func writable(c *fiber.Ctx) error {
	if principalOf(c).ReadOnly() {
		return webhooks.Errorf(webhooks.EFORBIDDEN, "This dashboard link is read-only.")
	}
	return c.Next()
}

// principalOf returns who the authenticated request acts for.
func principalOf(c *fiber.Ctx) *webhooks.Principal {
	return c.Locals(localPrincipal).(*webhooks.Principal)
}

// orgOf returns the organization of the authenticated request.
func orgOf(c *fiber.Ctx) string { return principalOf(c).OrganizationID }
