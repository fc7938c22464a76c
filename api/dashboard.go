package api

import (
	"net/http"
	"strings"

	"github.com/empfio/webhooks/dashboard"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/etag"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// DefaultFrameAncestors lets only the dashboard's own origin frame it
// (DASHBOARD_FRAME_ANCESTORS); the product's origin is added to embed it.
const DefaultFrameAncestors = "'self'"

// mountDashboard serves the embedded dashboard at /dashboard/ with a strict
// Content-Security-Policy: scripts, styles, fonts and images come from this
// origin only (no inline script), it talks to this origin only, and only
// FrameAncestors may put it in a frame. Files go compressed (br or gzip, as
// the browser accepts) with an ETag of what was sent, so a reload revalidates
// each one with a 304 instead of downloading it again.
func (s *Server) mountDashboard() {
	ancestors := s.FrameAncestors
	if ancestors == "" {
		ancestors = DefaultFrameAncestors
	}
	csp := strings.Join([]string{
		"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
		"font-src 'self'", "connect-src 'self'", "manifest-src 'self'", "base-uri 'none'", "form-action 'none'",
		"frame-ancestors " + ancestors,
	}, "; ")
	s.App.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/dashboard/", fiber.StatusFound) })
	s.mountPage("/dashboard", csp, compress.LevelBestCompression, dashboard.FS())
}

// mountPage serves the embedded files of root under prefix as a page of this
// origin: under policy csp, compressed at level, each with an ETag of what
// was sent and revalidated on every load (a new binary brings new files).
func (s *Server) mountPage(prefix, csp string, level compress.Level, root http.FileSystem) {
	s.App.Use(prefix, func(c *fiber.Ctx) error {
		// Without the slash the page's relative scripts would be looked up
		// under /, and it would never load.
		if c.Path() == prefix {
			return c.Redirect(prefix+"/", fiber.StatusMovedPermanently)
		}
		c.Set(fiber.HeaderContentSecurityPolicy, csp)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Next()
	}, etag.New(), compress.New(compress.Config{Level: level}), filesystem.New(filesystem.Config{Root: root, Index: "index.html"}))
}
