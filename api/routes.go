package api

import (
	"slices"
	"strings"

	webhooks "github.com/empfio/webhooks"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// routes registers the route table: every route of the api, and the
// middleware of the paths that take more than one (the inbound routes' 405s,
// asynqmon, the dashboard).
func (s *Server) routes() {
	a := s.App
	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	if !s.MetricsElsewhere {
		a.Get("/metrics", adaptor.HTTPHandler(s.MetricsHandler()))
	}
	a.Get(OpenAPIPath, s.openAPI)

	v1 := "/api/v1"
	// Inbound events: POST only. Any other method is a 405 here, before the
	// routes of /webhooks/:id could take "agent-event" or "calcom" for an id.
	a.Use(v1+"/webhooks", postOnly)
	a.Post(v1+"/webhooks/agent-event", s.internalAuth, s.agentEvent)
	a.Post(v1+"/webhooks/calcom", s.calcomWebhook)
	a.Post(v1+"/webhooks/calcom/:token", s.calcomOrgWebhook)
	a.Post(v1+"/events", s.internalAuth, s.publishEvent)

	// Administration.
	a.Post(v1+"/organizations", s.adminAuth, s.createOrganization)
	a.Post(v1+"/organizations/:id/api-keys", s.adminAuth, s.createAPIKey)
	a.Get(v1+"/organizations/:id/api-keys", s.adminAuth, s.listAPIKeys)
	a.Delete(v1+"/organizations/:id/api-keys/:key_id", s.adminAuth, s.revokeAPIKey)

	// The management API of one organization.
	org := func(method, path string, h ...fiber.Handler) {
		h = append([]fiber.Handler{s.orgAuth}, h...)
		if method == fiber.MethodGet {
			a.Get(v1+path, h...) // and HEAD
			return
		}
		a.Add(method, v1+path, h...)
	}
	org(fiber.MethodGet, "/session", s.sessionInfo)
	org(fiber.MethodPost, "/portal-sessions", keyOnly, s.createPortalSession)
	org(fiber.MethodGet, "/event-types", s.eventTypes)
	org(fiber.MethodGet, "/integrations/calcom", keyOnly, s.calcomIntegration)
	org(fiber.MethodPost, "/integrations/calcom", keyOnly, s.connectCalcom)
	org(fiber.MethodGet, "/webhooks", s.listWebhooks)
	org(fiber.MethodPost, "/webhooks", s.createWebhook)
	org(fiber.MethodGet, "/webhooks/:id", s.getWebhook)
	org(fiber.MethodPatch, "/webhooks/:id", s.updateWebhook)
	org(fiber.MethodDelete, "/webhooks/:id", s.deleteWebhook)
	org(fiber.MethodPost, "/webhooks/:id/test", s.testWebhook)
	org(fiber.MethodPost, "/webhooks/:id/filter-test", s.filterTest)
	org(fiber.MethodGet, "/webhooks/:id/secret", writable, s.revealSecret)
	org(fiber.MethodPost, "/webhooks/:id/secret/rotate", s.rotateSecret)
	org(fiber.MethodGet, "/webhooks/:id/deliveries", s.listDeliveries)
	org(fiber.MethodGet, "/webhooks/:id/trends", s.webhookTrends)
	org(fiber.MethodPost, "/webhooks/:id/replay", s.replay)
	org(fiber.MethodGet, "/deliveries/:id", s.getDelivery)
	org(fiber.MethodPost, "/deliveries/:id/retry", s.retryDelivery)
	org(fiber.MethodGet, "/audit-log", keyOnly, s.auditLog)
	org(fiber.MethodGet, "/events", s.listEvents)
	org(fiber.MethodGet, "/events/:id", s.getEvent)
	org(fiber.MethodPost, "/event-types/:type/trigger", writable, s.triggerEvent)
	org(fiber.MethodPost, "/listen-sessions", keyOnly, s.createListenSession)
	org(fiber.MethodGet, "/listen-sessions/:id/stream", keyOnly, s.listenStream)
	org(fiber.MethodDelete, "/listen-sessions/:id", keyOnly, s.endListenSession)
	org(fiber.MethodPost, "/listen-sessions/:id/results", keyOnly, s.reportListenResult)

	s.mountOps()
	s.mountDashboard()
	s.mountReference()
}

// localAllow holds a 405's Allow header, when the route that refuses knows it.
const localAllow = "allow"

// postOnly refuses any method but POST on the inbound routes.
func postOnly(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodPost || !isInbound(c.Path()) {
		return c.Next()
	}
	c.Locals(localAllow, fiber.MethodPost)
	return webhooks.Errorf(webhooks.EMETHOD, "This route takes POST only.")
}

// isInbound reports whether path is one of the inbound webhooks.
func isInbound(path string) bool {
	const calcom = "/api/v1/webhooks/calcom"
	return path == "/api/v1/webhooks/agent-event" || path == calcom || strings.HasPrefix(path, calcom+"/")
}

// allowed returns the methods the routes of path take, for a 405's Allow header.
func (s *Server) allowed(path string) string {
	var methods []string
	for _, r := range s.App.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || !routeMatches(r.Path, path) || slices.Contains(methods, r.Method) {
			continue
		}
		methods = append(methods, r.Method)
	}
	slices.Sort(methods)
	return strings.Join(methods, ", ")
}

// routeMatches reports whether path fits pattern, whose ":name" segments take
// any one non-empty segment.
func routeMatches(pattern, path string) bool {
	ps, qs := strings.Split(strings.Trim(pattern, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/")
	if len(ps) != len(qs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, ":") {
			if qs[i] == "" {
				return false
			}
		} else if p != qs[i] {
			return false
		}
	}
	return true
}
