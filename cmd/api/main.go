// Command api serves Empfio Webhooks' HTTP API.
//
//	api            migrate, then serve until SIGINT/SIGTERM (in-flight requests drain)
//	api migrate    apply pending migrations and exit
//	api demo FILE  create the demo organization (idempotent) and print its API key,
//	               kept in FILE so that later runs print the same key
//	api secrets rotate-key
//	               re-encrypt every stored secret with SECRET_ENCRYPTION_KEY's first key
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/cmd/internal/config"
	"github.com/empfio/webhooks/cmd/internal/profile"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/outbound"
	"github.com/empfio/webhooks/store"
	"github.com/empfio/webhooks/telemetry"
)

// shutdownTimeout bounds the drain of in-flight requests.
const shutdownTimeout = 30 * time.Second

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopProfile, err := profile.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer stopProfile()
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch cmd {
	case "":
		err = serve(ctx, cfg)
	case "migrate":
		err = migrate(ctx, cfg)
	case "healthcheck": // a container's: is this api ready?
		err = config.Probe(cfg.HTTPAddr, "/readyz")
	case "secrets":
		if len(os.Args) != 3 || os.Args[2] != "rotate-key" {
			err = fmt.Errorf("usage: api secrets rotate-key")
			break
		}
		err = rotateKey(ctx, cfg)
	case "demo":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: api demo KEY_FILE")
			break
		}
		err = demo(ctx, cfg, os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q (want: migrate, demo, secrets, healthcheck)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// rotateKey re-encrypts every stored secret with the first key of
// SECRET_ENCRYPTION_KEY; the older keys may leave the variable afterwards.
func rotateKey(ctx context.Context, cfg *config.Config) error {
	if cfg.SecretEncryptionKey == "" {
		return fmt.Errorf("SECRET_ENCRYPTION_KEY is unset: nothing to rotate to")
	}
	db, err := cfg.Store(ctx) // encrypts with the current key on opening
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("every stored secret is encrypted with the current key")
	return nil
}

func migrate(ctx context.Context, cfg *config.Config) error {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err == nil {
		fmt.Printf("migrations applied: %d\n", n)
	}
	return err
}

func serve(ctx context.Context, cfg *config.Config) error {
	log := cfg.Logger()
	stopTracing, err := telemetry.Setup(ctx, "empfio-api")
	if err != nil {
		return err
	}
	defer stopTracing(context.WithoutCancel(ctx))
	db, err := cfg.Store(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	rdb, err := cfg.Redis()
	if err != nil {
		return err
	}
	defer rdb.Close()

	warnUnset(log, cfg)
	targets := cfg.Targets()
	queue := jobs.NewQueue(rdb, cfg.DeliveryQueue, cfg.DeliveryTimeout)
	queue.Unbatched = !cfg.TaskBatching
	defer queue.Close()
	publisher := &jobs.Publisher{DB: db, Queue: queue, Log: log}
	srv := api.New(api.Config{
		DB:                   db,
		Redis:                rdb,
		Queue:                queue,
		Publisher:            publisher,
		Circuits:             &jobs.Circuits{DB: db, Queue: queue, Breaker: cfg.Breaker(), Publisher: publisher, Log: log},
		Sender:               outbound.NewSender(outbound.SenderConfig{Timeout: cfg.DeliveryTimeout, Targets: targets}),
		Dedup:                &jobs.Dedup{Redis: rdb, Window: cfg.DedupWindow, Lease: cfg.DedupLease},
		Limiter:              jobs.NewRateLimiter(rdb, cfg.RateLimitPerSecond, cfg.RateLimitBurst),
		OpsRedis:             cfg.AsynqRedis(),
		OpsWritable:          cfg.OpsQueuesWritable,
		AuthFailures:         jobs.NewRateLimiterPer(rdb, cfg.AuthFailuresPerMinute, cfg.AuthFailuresPerMinute, time.Minute),
		TrustedProxies:       cfg.Proxies(),
		PublicURL:            cfg.PublicURL,
		Targets:              targets,
		InternalToken:        cfg.InternalAuthToken,
		CalcomSecret:         cfg.CalcomWebhookSecret,
		CalcomSharedRouteOff: !cfg.CalcomSharedRoute,
		AdminToken:           cfg.AdminToken,
		MaxBodyBytes:         cfg.MaxBodyBytes,
		CORSOrigins:          cfg.CORSAllowedOrigins,
		FrameAncestors:       cfg.DashboardFrameAncestors,
		MetricsElsewhere:     cfg.MetricsAddr != "",
		Log:                  log,
	})
	if cfg.MetricsAddr != "" {
		// Metrics on an address of their own, which the network keeps to
		// Prometheus: not on the public listener, unauthenticated.
		metrics := &http.Server{Addr: cfg.MetricsAddr, Handler: srv.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := metrics.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", "error", err)
			}
		}()
		defer metrics.Close()
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.App.Listen(cfg.HTTPAddr) }()
	log.Info("api listening", "addr", cfg.HTTPAddr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("api shutting down; draining in-flight requests")
	return srv.Shutdown(shutdownTimeout)
}

func warnUnset(log interface{ Warn(string, ...any) }, cfg *config.Config) {
	if cfg.InternalAuthToken == "" {
		log.Warn("INTERNAL_AUTH_TOKEN is unset: every agent event is refused (401)")
	}
	if cfg.CalcomWebhookSecret == "" {
		log.Warn("CALCOM_WEBHOOK_SECRET is unset: Cal.com bodies are accepted unsigned")
	}
	if cfg.AdminToken == "" {
		log.Warn("ADMIN_TOKEN is unset: organizations and keys cannot be created over HTTP, and /ops/queues is off")
	}
	if cfg.SecretEncryptionKey == "" {
		log.Warn("SECRET_ENCRYPTION_KEY is unset: endpoint and Cal.com secrets are stored in clear in Postgres; set a key (openssl rand -base64 32) to encrypt them at rest")
	}
	if cfg.PublicURLDefaulted() {
		log.Warn("PUBLIC_URL is unset: the links the api returns (dashboard links, Cal.com subscriber URLs) point at " + cfg.PublicURL)
	}
	if cfg.AllowInsecureTargets {
		log.Warn("ALLOW_INSECURE_TARGETS=true: endpoints may be http:// and loopback addresses; never in production")
	}
}
