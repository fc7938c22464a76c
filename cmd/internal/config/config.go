// Package config reads the environment of the api and worker processes, once, at
// start-up, and builds the clients both of them need.
package config

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/outbound"

	"github.com/empfio/webhooks/store"
	"github.com/empfio/webhooks/telemetry"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/kelseyhightower/envconfig"
	"github.com/redis/go-redis/v9"
)

// Config is every setting of Empfio Webhooks, from the environment. Defaults
// are not written here: Defaults takes each from the named constant of the
// package that uses it.
type Config struct {
	DatabaseURL       string   `envconfig:"DATABASE_URL"`
	DatabaseReadURL   string   `envconfig:"DATABASE_READ_URL"`
	RedisURL          string   `envconfig:"REDIS_URL"`
	RedisClusterAddrs []string `envconfig:"REDIS_CLUSTER_ADDRS"`
	RedisPipelining   bool     `envconfig:"REDIS_PIPELINING"`
	HTTPAddr          string   `envconfig:"HTTP_ADDR"`
	PublicURL         string   `envconfig:"PUBLIC_URL"`
	TrustedProxies    []string `envconfig:"TRUSTED_PROXIES"`

	InternalAuthToken   string `envconfig:"INTERNAL_AUTH_TOKEN"`
	CalcomWebhookSecret string `envconfig:"CALCOM_WEBHOOK_SECRET"`
	CalcomSharedRoute   bool   `envconfig:"CALCOM_SHARED_ROUTE"`
	AdminToken          string `envconfig:"ADMIN_TOKEN"`
	SecretEncryptionKey string `envconfig:"SECRET_ENCRYPTION_KEY"`

	WorkerConcurrency   int           `envconfig:"WORKER_CONCURRENCY"`
	DeliveryTimeout     time.Duration `envconfig:"DELIVERY_TIMEOUT"`
	DeliveryMaxRetries  int           `envconfig:"DELIVERY_MAX_RETRIES"`
	DeliveryRetryWindow time.Duration `envconfig:"DELIVERY_RETRY_WINDOW"`
	DeliveryQueue       string        `envconfig:"DELIVERY_QUEUE"`
	QueuePollInterval   time.Duration `envconfig:"QUEUE_POLL_INTERVAL"`
	RetryPollInterval   time.Duration `envconfig:"RETRY_POLL_INTERVAL"`
	SweepInterval       time.Duration `envconfig:"SWEEP_INTERVAL"`
	SweepGrace          time.Duration `envconfig:"SWEEP_GRACE"`

	EndpointDisableAfter time.Duration `envconfig:"ENDPOINT_DISABLE_AFTER"`
	EndpointMaxInFlight  int           `envconfig:"ENDPOINT_MAX_IN_FLIGHT"`
	TaskBatching         bool          `envconfig:"TASK_BATCHING"`
	BreakerFailures      int           `envconfig:"BREAKER_FAILURES"`
	BreakerProbeInterval time.Duration `envconfig:"BREAKER_PROBE_INTERVAL"`
	BreakerReleaseRate   int           `envconfig:"BREAKER_RELEASE_RATE"`

	RetentionPeriod time.Duration `envconfig:"RETENTION_PERIOD"`

	DedupWindow             time.Duration `envconfig:"DEDUP_WINDOW"`
	DedupLease              time.Duration `envconfig:"DEDUP_LEASE"`
	AllowInsecureTargets    bool          `envconfig:"ALLOW_INSECURE_TARGETS"`
	AllowedTargetCIDRs      []string      `envconfig:"ALLOWED_TARGET_CIDRS"`
	MaxBodyBytes            int           `envconfig:"MAX_BODY_BYTES"`
	CORSAllowedOrigins      string        `envconfig:"CORS_ALLOWED_ORIGINS"`
	DashboardFrameAncestors string        `envconfig:"DASHBOARD_FRAME_ANCESTORS"`
	RateLimitPerSecond      int           `envconfig:"RATE_LIMIT_PER_SECOND"`
	RateLimitBurst          int           `envconfig:"RATE_LIMIT_BURST"`
	AuthFailuresPerMinute   int           `envconfig:"AUTH_FAILURES_PER_MINUTE"`
	OpsQueuesWritable       bool          `envconfig:"OPS_QUEUES_WRITABLE"`
	LogLevel                string        `envconfig:"LOG_LEVEL"`
	LogFormat               string        `envconfig:"LOG_FORMAT"`
	MetricsAddr             string        `envconfig:"METRICS_ADDR"`

	publicURLDefaulted bool
}

// Defaults of the settings only the processes' wiring knows.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/empfio?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultHTTPAddr    = ":8080"
	DefaultLogLevel    = "info"
	DefaultLogFormat   = "json"
)

// Defaults returns the configuration of an empty environment. Each value is the
// named default of the package that uses it, so it is written once.
func Defaults() Config {
	return Config{
		DatabaseURL:             DefaultDatabaseURL,
		RedisURL:                DefaultRedisURL,
		RedisPipelining:         true,
		TaskBatching:            true,
		CalcomSharedRoute:       true,
		HTTPAddr:                DefaultHTTPAddr,
		WorkerConcurrency:       jobs.DefaultConcurrency,
		DeliveryTimeout:         outbound.DefaultTimeout,
		DeliveryMaxRetries:      webhooks.DefaultMaxRetries,
		DeliveryRetryWindow:     webhooks.DefaultRetryWindow,
		DeliveryQueue:           jobs.DefaultQueue,
		QueuePollInterval:       jobs.DefaultPollInterval,
		RetryPollInterval:       jobs.DefaultRetryPollInterval,
		SweepInterval:           jobs.DefaultSweepInterval,
		SweepGrace:              jobs.DefaultSweepGrace,
		EndpointDisableAfter:    webhooks.DefaultDisableAfter,
		BreakerFailures:         webhooks.DefaultBreakerFailures,
		BreakerProbeInterval:    webhooks.DefaultProbeInterval,
		BreakerReleaseRate:      webhooks.DefaultReleaseRate,
		EndpointMaxInFlight:     jobs.DefaultMaxInFlight,
		RetentionPeriod:         jobs.DefaultRetentionPeriod,
		DedupWindow:             jobs.DefaultDedupWindow,
		DedupLease:              jobs.DefaultDedupLease,
		MaxBodyBytes:            api.DefaultMaxBodyBytes,
		RateLimitPerSecond:      jobs.DefaultRateLimitPerSecond,
		RateLimitBurst:          jobs.DefaultRateLimitBurst,
		AuthFailuresPerMinute:   jobs.DefaultAuthFailuresPerMinute,
		LogLevel:                DefaultLogLevel,
		LogFormat:               DefaultLogFormat,
		DashboardFrameAncestors: api.DefaultFrameAncestors,
	}
}

// Load reads the environment. A bad value gives one error line that names the
// variable and what was expected.
func Load() (*Config, error) {
	c := Defaults()
	// envconfig leaves a field as it is when its variable is unset.
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s=%q is not valid: expected %s", pe.KeyName, pe.Value, expected(pe.TypeName))
		}
		return nil, err
	}
	return &c, c.validate()
}

func expected(typeName string) string {
	switch typeName {
	case "Duration", "time.Duration":
		return "a duration such as 10s, 5m or 24h"
	case "int":
		return "a whole number"
	case "bool":
		return "true or false"
	}
	return "a " + typeName
}

func (c *Config) validate() error {
	if _, err := pgconn.ParseConfig(c.DatabaseURL); err != nil {
		return fmt.Errorf("DATABASE_URL is not valid: expected a URL such as postgres://user@host:5432/db (%s)", firstLine(err))
	}
	if _, err := pgconn.ParseConfig(c.DatabaseReadURL); c.DatabaseReadURL != "" && err != nil {
		return fmt.Errorf("DATABASE_READ_URL is not valid: expected a URL such as postgres://user@replica:5432/db (%s)", firstLine(err))
	}
	if len(c.RedisClusterAddrs) == 0 {
		if _, err := redis.ParseURL(c.RedisURL); err != nil {
			return fmt.Errorf("REDIS_URL is not valid: expected a URL such as redis://host:6379/0 (%s)", firstLine(err))
		}
	}
	checks := []struct {
		ok   bool
		name string
		want string
	}{
		{c.WorkerConcurrency >= 1, "WORKER_CONCURRENCY", "at least 1"},
		{c.DeliveryTimeout >= time.Second, "DELIVERY_TIMEOUT", "at least 1s"},
		{c.DeliveryMaxRetries >= 0 && c.DeliveryMaxRetries <= 20, "DELIVERY_MAX_RETRIES", "0 to 20"},
		{c.DeliveryRetryWindow >= time.Second, "DELIVERY_RETRY_WINDOW", "at least 1s"},
		{c.QueuePollInterval > 0, "QUEUE_POLL_INTERVAL", "a positive duration"},
		{c.RetryPollInterval > 0, "RETRY_POLL_INTERVAL", "a positive duration"},
		{c.SweepInterval > 0, "SWEEP_INTERVAL", "a positive duration"},
		{c.SweepGrace > 0, "SWEEP_GRACE", "a positive duration"},
		{c.EndpointDisableAfter > 0, "ENDPOINT_DISABLE_AFTER", "a positive duration"},
		{c.BreakerFailures >= 0, "BREAKER_FAILURES", "0 (no circuit breaker) or more"},
		{c.BreakerProbeInterval >= 100*time.Millisecond && c.BreakerProbeInterval <= webhooks.MaxProbeInterval, "BREAKER_PROBE_INTERVAL", "between 100ms and 15m"},
		{c.BreakerReleaseRate >= 1 && c.BreakerReleaseRate <= webhooks.MaxRateLimit, "BREAKER_RELEASE_RATE", "1 to 10000"},
		{c.EndpointMaxInFlight >= 0, "ENDPOINT_MAX_IN_FLIGHT", "0 (no cap) or more"},
		{c.DedupWindow >= time.Second, "DEDUP_WINDOW", "at least 1s"},
		{c.DedupLease >= 100*time.Millisecond && c.DedupLease < c.DedupWindow, "DEDUP_LEASE", "at least 100ms and less than DEDUP_WINDOW"},
		{c.RetentionPeriod >= time.Hour, "RETENTION_PERIOD", "at least 1h"},
		{c.MaxBodyBytes >= 1024, "MAX_BODY_BYTES", "at least 1024"},
		{c.RateLimitPerSecond >= 1, "RATE_LIMIT_PER_SECOND", "at least 1"},
		{c.RateLimitBurst >= 1, "RATE_LIMIT_BURST", "at least 1"},
		{c.AuthFailuresPerMinute >= 1, "AUTH_FAILURES_PER_MINUTE", "at least 1"},
		{c.DeliveryQueue != "", "DELIVERY_QUEUE", "a queue name"},
		{c.DashboardFrameAncestors != "" && !strings.ContainsAny(c.DashboardFrameAncestors, ";,\r\n"),
			"DASHBOARD_FRAME_ANCESTORS", "space-separated CSP sources such as 'self' https://app.empfio.com"},
	}
	for _, ck := range checks {
		if !ck.ok {
			return fmt.Errorf("%s is not valid: expected %s", ck.name, ck.want)
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("LOG_FORMAT=%q is not valid: expected json or text", c.LogFormat)
	}
	if _, err := c.allowedCIDRs(); err != nil {
		return err
	}
	if _, err := parsePrefixes("TRUSTED_PROXIES", c.TrustedProxies); err != nil {
		return err
	}
	if err := c.checkPublicURL(); err != nil {
		return err
	}
	if _, err := c.keyring(); err != nil {
		return fmt.Errorf("SECRET_ENCRYPTION_KEY is not valid: %v (generate a key with: openssl rand -base64 32)", err)
	}
	return nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL=%q is not valid: expected debug, info, warn or error", s)
	}
	return l, nil
}

// Logger returns a logger on stderr at LOG_LEVEL: JSON, or text for people
// (LOG_FORMAT=text). A line logged with a request's context names its request id.
func (c *Config) Logger() *slog.Logger {
	l, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	return slog.New(webhooks.LogHandler(telemetry.LogHandler(h)))
}

// Redis returns a client for REDIS_CLUSTER_ADDRS when set, else REDIS_URL,
// whose concurrent commands share round trips (jobs.Pipelined) unless
// REDIS_PIPELINING=false.
func (c *Config) Redis() (redis.UniversalClient, error) {
	if !c.RedisPipelining {
		return c.RedisDirect(), nil
	}
	rdb := c.redis(jobs.PipelineMaxRetries, jobs.PipelineReadTimeout)
	p, err := jobs.Pipelined(rdb)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return p, nil
}

// RedisDirect returns a client of the same Redis whose every command makes its
// own round trip, for a caller that issues one command at a time and waits for
// it. asynq's processor dequeues so: on the pipelined client each dequeue waits
// for the batch ahead of it to come back, and the worker picks tasks up a batch
// round trip apart (bench/RESULTS.md).
func (c *Config) RedisDirect() redis.UniversalClient { return c.redis(0, 0) }

// redis returns a client; non-zero arguments replace go-redis's retries and
// read timeout (a read_timeout in REDIS_URL is kept).
// When tracing is on, every command is traced (telemetry.InstrumentRedis).
func (c *Config) redis(maxRetries int, readTimeout time.Duration) redis.UniversalClient {
	var rdb redis.UniversalClient
	if len(c.RedisClusterAddrs) > 0 {
		rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.RedisClusterAddrs,
			MaxRetries: maxRetries, ReadTimeout: readTimeout})
	} else {
		opt, _ := redis.ParseURL(c.RedisURL) // checked by Load
		opt.MaxRetries = cmp.Or(maxRetries, opt.MaxRetries)
		opt.ReadTimeout = cmp.Or(opt.ReadTimeout, readTimeout)
		rdb = redis.NewClient(opt)
	}
	telemetry.InstrumentRedis(rdb) // an error leaves the commands untraced, not the client broken
	return rdb
}

// AsynqRedis returns the same connection settings for asynqmon.
func (c *Config) AsynqRedis() asynq.RedisConnOpt {
	if len(c.RedisClusterAddrs) > 0 {
		return asynq.RedisClusterClientOpt{Addrs: c.RedisClusterAddrs}
	}
	opt, _ := asynq.ParseRedisURI(c.RedisURL)
	return opt
}

// Targets is the policy of which addresses endpoints may point to.
func (c *Config) Targets() outbound.TargetPolicy {
	cidrs, _ := c.allowedCIDRs() // checked by Load
	return outbound.TargetPolicy{AllowInsecure: c.AllowInsecureTargets, AllowedCIDRs: cidrs}
}

func (c *Config) allowedCIDRs() ([]netip.Prefix, error) {
	return parsePrefixes("ALLOWED_TARGET_CIDRS", c.AllowedTargetCIDRs)
}

// Proxies returns TRUSTED_PROXIES: the load balancers whose X-Forwarded-For
// the api believes.
func (c *Config) Proxies() []netip.Prefix {
	p, _ := parsePrefixes("TRUSTED_PROXIES", c.TrustedProxies) // checked by Load
	return p
}

// parsePrefixes reads the comma-separated ranges (10.0.0.0/8) or single
// addresses of variable name.
func parsePrefixes(name string, list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%s=%q is not valid: expected comma-separated ranges or addresses such as 10.0.0.0/8,fd00::/8,192.0.2.7", name, strings.Join(list, ","))
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// checkPublicURL makes PUBLIC_URL an absolute http(s) URL without a path's
// trailing slash; unset, it is http://localhost and HTTP_ADDR's port (a
// development default: DefaultPublicURLWarning is logged).
func (c *Config) checkPublicURL() error {
	if c.PublicURL == "" {
		_, port, err := net.SplitHostPort(c.HTTPAddr)
		if err != nil || port == "" {
			port = "8080"
		}
		c.PublicURL, c.publicURLDefaulted = "http://localhost:"+port, true
		return nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("PUBLIC_URL=%q is not valid: expected where clients reach the api, such as https://webhooks.example.com", c.PublicURL)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return nil
}

// PublicURLDefaulted reports whether PUBLIC_URL was unset, and the links the
// api returns point at localhost.
func (c *Config) PublicURLDefaulted() bool { return c.publicURLDefaulted }

// keyring parses SECRET_ENCRYPTION_KEY; nil when it is unset.
func (c *Config) keyring() (*store.Keyring, error) {
	if c.SecretEncryptionKey == "" {
		return nil, nil
	}
	return store.ParseKeyring(c.SecretEncryptionKey)
}

// Store connects to DATABASE_URL (and DATABASE_READ_URL for the delivery
// log's and the events' reads, when set) and applies pending migrations (under
// an advisory lock, so processes starting together do not race). With
// SECRET_ENCRYPTION_KEY set, secrets are encrypted at rest, and any stored in
// clear (or under an older key) are encrypted now.
func (c *Config) Store(ctx context.Context) (*store.DB, error) {
	db, err := store.Open(ctx, c.DatabaseURL, telemetry.PgxTracer())
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if c.DatabaseReadURL != "" {
		if err := db.ReadFrom(ctx, c.DatabaseReadURL); err != nil {
			db.Close()
			return nil, err
		}
	}
	if k, _ := c.keyring(); k != nil { // checked by Load
		db.UseKeyring(k)
		if _, err := db.EncryptSecrets(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("encrypt stored secrets: %w", err)
		}
	}
	return db, nil
}

// Breaker is the circuit breaker's policy.
func (c *Config) Breaker() webhooks.Breaker {
	return webhooks.Breaker{Failures: c.BreakerFailures, ProbeInterval: c.BreakerProbeInterval,
		ReleaseRate: c.BreakerReleaseRate, DisableAfter: c.EndpointDisableAfter}
}
