// Package api serves Empfio's HTTP surface with fiber: the management REST API,
// the inbound webhooks, health, readiness, metrics, the dashboard and asynqmon.
package api

import (
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/outbound"
	"github.com/empfio/webhooks/store"
	"github.com/empfio/webhooks/telemetry"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// DefaultMaxBodyBytes is the largest request body accepted (MAX_BODY_BYTES).
const DefaultMaxBodyBytes = 1 << 20

// Config holds the Server's dependencies and settings.
type Config struct {
	DB        *store.DB
	Redis     redis.UniversalClient
	Queue     *jobs.Queue
	Publisher *jobs.Publisher
	Circuits  *jobs.Circuits // the breaker, for a held delivery's retry and the release on enabling; nil: none
	Sender    *outbound.Sender
	Dedup     *jobs.Dedup
	Limiter   *jobs.RateLimiter // nil: no rate limit
	// AuthFailures limits failed authentications per client address; nil: no limit.
	AuthFailures *jobs.RateLimiter
	// TrustedProxies are the load balancers whose X-Forwarded-For names the
	// client (TRUSTED_PROXIES); empty: the connecting address is the client.
	TrustedProxies []netip.Prefix
	// PublicURL is where clients reach this service (PUBLIC_URL): the links it
	// returns (portal, Cal.com subscriber URL, listen stream) start with it,
	// never with the request's Host.
	PublicURL string
	OpsRedis  asynq.RedisConnOpt // asynqmon's connection; nil: no /ops/queues
	// OpsWritable lets /ops/queues run, delete and pause tasks
	// (OPS_QUEUES_WRITABLE); it is read-only otherwise.
	OpsWritable bool
	Targets     outbound.TargetPolicy

	InternalToken string // agent-event and POST /events; empty refuses all
	CalcomSecret  string // empty accepts unsigned Cal.com bodies
	// CalcomSharedRouteOff turns POST /webhooks/calcom off
	// (CALCOM_SHARED_ROUTE=false): only organizations' own subscriber URLs
	// take bookings.
	CalcomSharedRouteOff bool
	AdminToken           string // organizations and keys; empty refuses all

	MaxBodyBytes int
	// MetricsElsewhere leaves /metrics off the public listener: the process
	// serves MetricsHandler on an address of its own (METRICS_ADDR).
	MetricsElsewhere bool
	CORSOrigins      string // comma-separated; empty: no CORS headers
	// FrameAncestors are the CSP sources that may frame the dashboard
	// (DASHBOARD_FRAME_ANCESTORS); empty: DefaultFrameAncestors.
	FrameAncestors string
	Log            *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	Config
	App     *fiber.App
	log     *slog.Logger
	closers []func() error // connections the server opened itself (asynqmon's)

	guard *authGuard
}

// Shutdown stops accepting requests, lets in-flight ones finish within timeout,
// waits for the enqueues of what they published, and closes the connections
// the server opened itself.
func (s *Server) Shutdown(timeout time.Duration) error {
	err := s.App.ShutdownWithTimeout(timeout)
	if s.Publisher != nil {
		s.Publisher.Wait()
	}
	for _, c := range s.closers {
		err = errors.Join(err, c())
	}
	return err
}

// New returns a Server with every route registered.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Server{Config: cfg, log: cfg.Log, guard: &authGuard{failures: cfg.AuthFailures, trusted: cfg.TrustedProxies}}
	s.App = fiber.New(fiber.Config{
		AppName:               "empfio-webhooks",
		BodyLimit:             cfg.MaxBodyBytes,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	s.App.Use(recover.New(), requestIDs(), withRequestContext, tracing, s.accessLog)
	if cfg.CORSOrigins != "" {
		s.App.Use(cors.New(cors.Config{
			AllowOrigins: cfg.CORSOrigins,
			AllowHeaders: "Authorization, Content-Type",
			AllowMethods: "GET, POST, PATCH, DELETE",
			MaxAge:       600,
		}))
	}
	s.routes()
	return s
}

// accessLog logs one line per request with its outcome.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	level := slog.LevelDebug
	if isInbound(c.Path()) {
		level = slog.LevelInfo // every inbound event is logged with its outcome
	}
	took := time.Since(start)
	s.log.Log(c.UserContext(), level, "request", "method", c.Method(), "path", s.loggedPath(c), "status", c.Response().StatusCode(),
		"duration_ms", took.Milliseconds())
	// fiber's method string points into a buffer it reuses: a label keeps a
	// copy. The route label is the app's own string.
	requestSeconds.WithLabelValues(strings.Clone(c.Method()), routeLabel(c), strconv.Itoa(c.Response().StatusCode())).Observe(took.Seconds())
	return nil
}

// routeLabel is the route pattern of a request for the metrics, or
// "unmatched": a label never takes a path as sent, so the series stay few. It
// is the app's own string (the route as registered), safe to keep.
// (fiber's Route is the last route it tried, matched or not.)
func routeLabel(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Method == "USE" {
		return "unmatched"
	}
	if prefix, wild := strings.CutSuffix(r.Path, "*"); wild && strings.HasPrefix(c.Path(), prefix) || routeMatches(r.Path, c.Path()) {
		return r.Path
	}
	return "unmatched"
}

// loggedPath is what a log line names of a request's path: its route pattern,
// never the path itself. A parameter may be a credential (the token of a
// Cal.com subscriber URL), and so may a path that matched no route with its
// method (a 404, a 405): it is named by the pattern of a route of its shape
// ("/api/v1/webhooks/calcom/:token" for a GET of one), or the prefix a
// middleware serves ("/dashboard"), else "unmatched".
func (s *Server) loggedPath(c *fiber.Ctx) string {
	if r := routeLabel(c); r != "unmatched" {
		return r
	}
	path := c.Path()
	for _, r := range s.App.GetRoutes() {
		if r.Method == "USE" && r.Path != "/" && (path == r.Path || strings.HasPrefix(path, r.Path+"/")) || routeMatches(r.Path, path) {
			return r.Path
		}
	}
	return "unmatched"
}

// maxRequestIDLength bounds an incoming X-Request-Id the api takes as its own.
const maxRequestIDLength = 128

// requestIDs honours an incoming X-Request-Id made of letters, digits and
// -_.:/+= (at most maxRequestIDLength), and otherwise makes one; either is
// echoed in the answer and carried by the request's context, so every line
// the request logs names it.
func requestIDs() fiber.Handler {
	generate := requestid.New()
	return func(c *fiber.Ctx) error {
		if id := c.Get(fiber.HeaderXRequestID); id != "" && !validRequestID(id) {
			c.Request().Header.Del(fiber.HeaderXRequestID)
		}
		return generate(c)
	}
}

// tracing makes a server span of each request, in the trace of the
// traceparent it came with, and puts it in the request's context: the
// publish, the enqueue and, through the task, each delivery attempt follow it
// (see telemetry). The span is named for the route pattern, never the path.
func tracing(c *fiber.Ctx) error {
	if untraced(c.Path()) {
		return c.Next()
	}
	ctx := telemetry.FromHeaders(c.UserContext(), func(k string) string { return c.Get(k) })
	ctx, span := telemetry.Tracer.Start(ctx, "HTTP", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	c.SetUserContext(ctx)
	err := c.Next()
	if span.IsRecording() { // nothing to build when tracing is off
		route := routeLabel(c)
		span.SetName(c.Method() + " " + route) // concatenation copies fiber's method string
		span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", c.Response().StatusCode()))
	}
	return err
}

// untraced are the paths probed and scraped all day, whose spans would bury
// the ones that matter: health, readiness, metrics and asynqmon's pages.
func untraced(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics" || strings.HasPrefix(path, "/ops/queues")
}

// withRequestContext puts the request id into the request's context.
func withRequestContext(c *fiber.Ctx) error {
	c.SetUserContext(webhooks.WithRequestID(c.UserContext(), requestID(c)))
	return c.Next()
}

func validRequestID(id string) bool {
	if len(id) > maxRequestIDLength {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/+=", r)
		if !ok {
			return false
		}
	}
	return true
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	return id
}
