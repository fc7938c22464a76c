// Package apptest runs the whole service in-process for tests: a real api server
// on a loopback port and, optionally, a real asynq worker and sweeper, on a
// database and Redis database of the test's own.
package apptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/outbound"
	"github.com/empfio/webhooks/store"
	"github.com/empfio/webhooks/telemetry"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Tokens the test app is configured with.
const (
	AdminToken    = "test-admin-token"
	InternalToken = "test-internal-token"
	CalcomSecret  = "empfio-calcom-test-secret"
)

// Options adjust the app; zero values give the test defaults.
type Options struct {
	Worker        bool                   // run a worker (and sweeper) too
	Schedule      webhooks.RetrySchedule // default: 3 retries over 7 s
	Timeout       time.Duration          // per attempt; default 2 s
	DedupWindow   time.Duration          // default 60 s
	DedupLease    time.Duration          // default 10 s
	Secure        bool                   // enforce https and address rules
	Resolver      outbound.Resolver      // with Secure: the name resolver
	TLSConfig     *tls.Config            // client TLS for receivers (httptest TLS servers)
	MaxBodyBytes  int
	RateLimit     int // per second per key; default 1000
	SweepInterval time.Duration
	SweepGrace    time.Duration
	Breaker       webhooks.Breaker // default: off (tests of the breaker set it)
	Concurrency   int              // worker concurrency; default 10
	PollInterval  time.Duration    // how often an idle worker looks for tasks; default 20 ms
	LogOutput     io.Writer        // where the app logs; default stderr
	LogInfo       bool             // log info lines too; default warnings and up
	OpsWritable   bool             // /ops/queues may change tasks
	AuthFailures  int              // failed authentications a minute per address; 0: no limit
	RedisCluster  bool             // a three-node Redis Cluster of the test's own instead of a database
	MaxInFlight   int              // deliveries in flight per endpoint; 0: no cap
	Unbatched     bool             // each published delivery has a task of its own (TASK_BATCHING=false)
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies       []netip.Prefix
	CalcomSharedRouteOff bool          // CALCOM_SHARED_ROUTE=false
	ListenIdle           time.Duration // how long a listen session's stream may go unread; default jobs.ListenAbandoned
	Database             string        // the URL of a database to run on instead of a fresh one (migrated at start)
	// Tracing wires Postgres's and Redis's spans as cmd/ does when tracing is
	// on (telemetry.PgxTracer, telemetry.InstrumentRedis), with
	// REDIS_PIPELINING=false, so that each command's span joins the trace of
	// what sent it; the test installs the tracer provider and sets
	// OTEL_EXPORTER_OTLP_ENDPOINT first.
	Tracing bool
}

// App is a running service.
type App struct {
	URL       string
	DB        *store.DB
	DSN       string
	Redis     redis.UniversalClient
	RedisURL  string // empty on a Redis Cluster
	Queue     *jobs.Queue
	Server    *api.Server
	Deliverer *jobs.Deliverer
	Sweeper   *jobs.Sweeper
	Circuits  *jobs.Circuits
	Log       *slog.Logger

	client       redis.UniversalClient // the app's parts' own: Redis, pipelined
	direct       redis.UniversalClient // the asynq server's: Redis, not pipelined
	concurrency  int
	pollInterval time.Duration
}

// Start runs the app until t ends.
func Start(t testing.TB, o Options) *App {
	t.Helper()
	appsStarted.Add(1)
	o = o.withDefaults()
	var db *store.DB
	var dsn string
	if o.Database == "" {
		db, dsn = testenv.DB(t)
		if o.Tracing {
			var err error
			if db, err = store.Open(context.Background(), dsn, telemetry.PgxTracer()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
		}
	} else { // a database of the test's own, as it left it: migrated here
		var err error
		dsn = o.Database
		if db, err = store.Open(context.Background(), dsn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The app's parts have a client of their own, pipelined and set as cmd/
	// makes it by default (REDIS_PIPELINING), and the worker's asynq server a
	// plain one, as cmd/worker gives it (RedisDirect); App.Redis is a plain
	// client on the same Redis, for the tests.
	var raw, own, direct redis.UniversalClient
	var redisURL string
	var opsRedis asynq.RedisConnOpt
	if o.RedisCluster {
		cluster, addrs := testenv.RedisCluster(t)
		raw, opsRedis = cluster, asynq.RedisClusterClientOpt{Addrs: addrs}
		own = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs,
			MaxRetries: jobs.PipelineMaxRetries, ReadTimeout: jobs.PipelineReadTimeout})
		direct = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	} else {
		single, u := testenv.Redis(t)
		raw, redisURL, opsRedis = single, u, asynq.RedisClientOpt{Addr: single.Options().Addr, DB: single.Options().DB}
		own = redis.NewClient(&redis.Options{Addr: single.Options().Addr, DB: single.Options().DB,
			MaxRetries: jobs.PipelineMaxRetries, ReadTimeout: jobs.PipelineReadTimeout})
		direct = redis.NewClient(&redis.Options{Addr: single.Options().Addr, DB: single.Options().DB})
	}
	if o.Tracing {
		testenv.Must(t, telemetry.InstrumentRedis(own))
		testenv.Must(t, telemetry.InstrumentRedis(direct))
	}
	rdb, err := jobs.Pipelined(own)
	if err != nil {
		t.Fatal(err)
	}
	if o.Tracing {
		rdb.Close()
		rdb = direct
	}
	t.Cleanup(func() { rdb.Close(); direct.Close() }) // closing a client twice is harmless
	log := slog.New(webhooks.LogHandler(telemetry.LogHandler(slog.NewMultiHandler(slog.NewTextHandler(o.LogOutput, &slog.HandlerOptions{Level: o.logLevel()}), allLevels()))))
	targets := outbound.TargetPolicy{AllowInsecure: !o.Secure, Resolver: o.Resolver}
	sender := outbound.NewSender(outbound.SenderConfig{Timeout: o.Timeout, Targets: targets, TLSConfig: o.TLSConfig})
	queue := jobs.NewQueue(rdb, "", o.Timeout)
	queue.Unbatched = o.Unbatched
	t.Cleanup(queue.Close)
	a := &App{DB: db, DSN: dsn, Redis: raw, RedisURL: redisURL, Queue: queue, Log: log, client: rdb, direct: direct}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.URL = "http://" + ln.Addr().String()
	// The worker's publisher (operational events) and the circuits; the api
	// has its own publisher, as its process does.
	publisher := &jobs.Publisher{DB: db, Queue: queue, Log: log}
	t.Cleanup(publisher.Wait) // after the worker stops, before the queue closes
	a.Circuits = &jobs.Circuits{DB: db, Queue: queue, Breaker: o.Breaker, Publisher: publisher, Log: log}
	a.Server = api.New(api.Config{
		DB: db, Redis: rdb, Queue: queue, Circuits: a.Circuits,
		Publisher:     &jobs.Publisher{DB: db, Queue: queue, Log: log},
		Sender:        sender,
		Dedup:         &jobs.Dedup{Redis: rdb, Window: o.DedupWindow, Lease: o.DedupLease},
		Limiter:       jobs.NewRateLimiter(rdb, o.RateLimit, o.RateLimit),
		OpsRedis:      opsRedis,
		OpsWritable:   o.OpsWritable,
		AuthFailures:  authFailures(rdb, o.AuthFailures),
		Targets:       targets,
		InternalToken: InternalToken, CalcomSecret: CalcomSecret, AdminToken: AdminToken,
		MaxBodyBytes: o.MaxBodyBytes, CORSOrigins: "https://app.example.com", Log: log,
		PublicURL: a.URL, TrustedProxies: o.TrustedProxies, CalcomSharedRouteOff: o.CalcomSharedRouteOff,
	})
	go a.Server.App.Listener(ln)
	t.Cleanup(func() { a.Server.Shutdown(5 * time.Second) })
	a.Deliverer = &jobs.Deliverer{DB: db, Sender: sender, Schedule: o.Schedule, Circuits: a.Circuits, Publisher: publisher,
		Throttle: jobs.NewThrottle(rdb, o.MaxInFlight, o.Timeout+jobs.ThrottleLeaseMargin),
		Redis:    rdb, Queue: queue, InFlight: o.Concurrency, Log: log}
	a.Sweeper = &jobs.Sweeper{DB: db, Queue: queue, Circuits: a.Circuits, Redis: rdb, Interval: o.SweepInterval, Grace: o.SweepGrace,
		WatchInterval: 100 * time.Millisecond, ListenInterval: 100 * time.Millisecond, ListenIdle: o.ListenIdle, Log: log}
	a.concurrency, a.pollInterval = o.Concurrency, o.PollInterval
	if o.Worker {
		a.StartWorker(t, o.Timeout)
	}
	return a
}

func authFailures(rdb redis.UniversalClient, perMinute int) *jobs.RateLimiter {
	if perMinute == 0 {
		return nil
	}
	return jobs.NewRateLimiterPer(rdb, perMinute, perMinute, time.Minute)
}

func (o Options) logLevel() slog.Level {
	if o.LogInfo {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func (o Options) withDefaults() Options {
	if o.Schedule.Window == 0 {
		o.Schedule = webhooks.RetrySchedule{MaxRetries: 3, Window: 7 * time.Second}
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.DedupWindow == 0 {
		o.DedupWindow = 60 * time.Second
	}
	if o.RateLimit == 0 {
		o.RateLimit = 1000
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = 200 * time.Millisecond
	}
	if o.SweepGrace == 0 {
		o.SweepGrace = time.Minute
	}
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.LogOutput == nil {
		o.LogOutput = os.Stderr
	}

	if o.Concurrency == 0 {
		o.Concurrency = 10
	}
	if o.Breaker.Failures > 0 && o.Breaker.ReleaseRate == 0 {
		o.Breaker.ReleaseRate = webhooks.DefaultReleaseRate
	}
	return o
}

// StartWorker runs an asynq server with the app's Deliverer, and the sweeper,
// until t ends.
func (a *App) StartWorker(t testing.TB, timeout time.Duration) {
	srv, mux := jobs.NewServer(a.direct, jobs.ServerConfig{
		Concurrency: a.concurrency, PollInterval: a.pollInterval, RetryPollInterval: 100 * time.Millisecond,
		DeliveryTimeout: timeout, Log: a.Log,
	}, a.Deliverer)
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		a.Sweeper.Run(ctx)
		wg.Wait()
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done; srv.Shutdown() })
}

// Response is an answer of the app.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing t when it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", r.Status, err, r.Body)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request with a bearer token (when not empty) and a JSON body (a
// string or []byte is sent as is; anything else is marshalled).
func (a *App) Do(t testing.TB, method, path, token string, body any) *Response {
	t.Helper()
	return a.DoWith(t, method, path, body, map[string]string{"Authorization": bearer(token), "Content-Type": "application/json"})
}

// DoWith sends a request with exactly the given headers (empty values are left out).
func (a *App) DoWith(t testing.TB, method, path string, body any, headers map[string]string) *Response {
	t.Helper()
	return Request(t, method, a.URL+path, body, headers)
}

// Request sends a request to url with exactly the given headers (empty values are
// left out) and a body as App.Do takes it, and returns the whole answer. A
// transport error fails t.
func Request(t testing.TB, method, url string, body any, headers map[string]string) *Response {
	t.Helper()
	r, err := TryRequest(t, method, url, body, headers)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TryRequest is Request that returns a transport error instead of failing t
// (a server may answer and close before a too-large request is all sent).
func TryRequest(t testing.TB, method, url string, body any, headers map[string]string) (*Response, error) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewReader([]byte(b))
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	checkAnswer(t, method, url, out)
	return out, nil
}

func bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

// Org creates an organization through the admin API and returns its id and key.
func (a *App) Org(t testing.TB, name string) (orgID, key string) {
	t.Helper()
	r := a.Do(t, "POST", "/api/v1/organizations", AdminToken, map[string]string{"name": name})
	if r.Status != http.StatusCreated {
		t.Fatalf("create organization: %d %s", r.Status, r.Body)
	}
	var out struct {
		Organization webhooks.Organization `json:"organization"`
		APIKey       webhooks.APIKey       `json:"api_key"`
	}
	r.JSON(t, &out)
	Remember(out.APIKey.Key)
	return out.Organization.ID, out.APIKey.Key
}

// Webhook registers url for events and returns the webhook's id and secret.
func (a *App) Webhook(t testing.TB, key, url string, events ...string) (id, secret string) {
	t.Helper()
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": url, "events": events})
	if r.Status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	m := r.Map(t)
	Remember(m["secret"].(string))
	return m["id"].(string), m["secret"].(string)
}
