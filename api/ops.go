package api

import (
	"net/url"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/basicauth"
	"github.com/hibiken/asynqmon"
)

// OpsPath is where asynqmon is served, behind basic auth (any user, ADMIN_TOKEN
// as password).
const OpsPath = "/ops/queues"

// mountOps serves asynqmon when ADMIN_TOKEN and a Redis connection are set. It is
// read-only unless OpsWritable (OPS_QUEUES_WRITABLE=true): running, deleting or
// pausing tasks by hand can break the delivery log's promises. Writes, when
// allowed, must come from the page itself: a cross-origin request is refused,
// so another site cannot use an operator's saved credentials.
func (s *Server) mountOps() {
	if s.AdminToken == "" || s.OpsRedis == nil {
		return
	}
	mon := asynqmon.New(asynqmon.Options{RootPath: OpsPath, RedisConnOpt: s.OpsRedis, ReadOnly: !s.OpsWritable})
	s.closers = append(s.closers, mon.Close)
	const realm = "empfio operations"
	login := basicauth.New(basicauth.Config{
		Realm:      realm,
		Authorizer: func(_, password string) bool { return tokenMatches(password, s.AdminToken) },
		Unauthorized: func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="`+realm+`"`)
			err := webhooks.Errorf(webhooks.EUNAUTHORIZED, "The admin token is required (as the password).")
			if c.Get(fiber.HeaderAuthorization) == "" {
				return err // the browser's first request, before it asks: not a guess
			}
			return s.guard.failed(c, err)
		},
	})
	s.App.Use(OpsPath, notFramed, s.guardCheck, login, sameOriginWrites, adaptor.HTTPHandler(mon))
}

// notFramed keeps every page under it out of frames: a framed page could be
// clicked on by another site, its writes looking same-origin.
func notFramed(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentSecurityPolicy, "frame-ancestors 'none'")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	return c.Next()
}

// guardCheck refuses a client locked out by its failed authentications.
func (s *Server) guardCheck(c *fiber.Ctx) error {
	if err := s.guard.check(c); err != nil {
		return err
	}
	return c.Next()
}

// sameOriginWrites refuses requests that change state when the browser says they
// come from another origin (Sec-Fetch-Site, else Origin).
func sameOriginWrites(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if site := c.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return webhooks.Errorf(webhooks.EFORBIDDEN, "Cross-origin changes to the queues are refused.")
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" {
		if u, err := url.Parse(origin); err != nil || u.Host != c.Hostname() {
			return webhooks.Errorf(webhooks.EFORBIDDEN, "Cross-origin changes to the queues are refused.")
		}
	}
	return c.Next()
}
