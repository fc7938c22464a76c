package api

import (
	"crypto/subtle"
	"encoding/hex"
	"strings"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
)

const localOrg = "organization_id"

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

func unauthorized(c *fiber.Ctx, msg string) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="empfio"`)
	return webhooks.Errorf(webhooks.EUNAUTHORIZED, "%s", msg)
}

// internalAuth admits Empfio's own services by INTERNAL_AUTH_TOKEN.
func (s *Server) internalAuth(c *fiber.Ctx) error {
	if !tokenMatches(bearer(c), s.InternalToken) {
		return unauthorized(c, "A valid internal bearer token is required.")
	}
	return c.Next()
}

// adminAuth admits operators by ADMIN_TOKEN.
func (s *Server) adminAuth(c *fiber.Ctx) error {
	if !tokenMatches(bearer(c), s.AdminToken) {
		return unauthorized(c, "A valid admin bearer token is required.")
	}
	return c.Next()
}

// orgAuth admits an organization's API key, scopes the request to its
// organization, and applies the key's rate limit.
func (s *Server) orgAuth(c *fiber.Ctx) error {
	key := bearer(c)
	if !strings.HasPrefix(key, "emp_") {
		return unauthorized(c, "An API key (Authorization: Bearer emp_…) is required.")
	}
	hash := webhooks.HashAPIKey(key)
	orgID, err := s.DB.Authenticate(c.UserContext(), hash)
	if webhooks.ErrorCode(err) == webhooks.EUNAUTHORIZED {
		return unauthorized(c, webhooks.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	if s.Limiter != nil {
		if after, err := s.Limiter.Allow(c.UserContext(), hex.EncodeToString(hash[:8])); err != nil {
			return rateLimited(c, err, after.Seconds())
		}
	}
	c.Locals(localOrg, orgID)
	return c.Next()
}

// orgOf returns the organization of the authenticated request.
func orgOf(c *fiber.Ctx) string { return c.Locals(localOrg).(string) }
