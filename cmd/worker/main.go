// Command worker delivers webhooks: an asynq server on the delivery queue, the
// sweeper that gives lost deliveries their task back, and retention. Run any
// number of them. On SIGINT/SIGTERM running deliveries get DELIVERY_TIMEOUT plus a
// margin to finish.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/cmd/internal/config"
	"github.com/empfio/webhooks/cmd/internal/profile"
	"github.com/empfio/webhooks/jobs"
	"github.com/empfio/webhooks/outbound"
	"github.com/empfio/webhooks/telemetry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

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
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" { // a container's: is this worker serving its metrics?
		err = config.Probe(cfg.MetricsAddr, "/metrics")
	} else if len(os.Args) > 1 {
		err = fmt.Errorf("unknown command %q (want: healthcheck)", os.Args[1])
	} else {
		err = run(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config.Config) error {
	log := cfg.Logger()
	stopTracing, err := telemetry.Setup(ctx, "empfio-worker")
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

	schedule := webhooks.RetrySchedule{MaxRetries: cfg.DeliveryMaxRetries, Window: cfg.DeliveryRetryWindow}
	queue := jobs.NewQueue(rdb, cfg.DeliveryQueue, cfg.DeliveryTimeout)
	queue.Unbatched = !cfg.TaskBatching
	defer queue.Close()
	publisher := &jobs.Publisher{DB: db, Queue: queue, Log: log}
	circuits := &jobs.Circuits{DB: db, Queue: queue, Breaker: cfg.Breaker(), Publisher: publisher, Log: log}
	deliverer := &jobs.Deliverer{
		DB:        db,
		Sender:    outbound.NewSender(outbound.SenderConfig{Timeout: cfg.DeliveryTimeout, Targets: cfg.Targets()}),
		Schedule:  schedule,
		Circuits:  circuits,
		Publisher: publisher,
		Throttle:  jobs.NewThrottle(rdb, cfg.EndpointMaxInFlight, cfg.DeliveryTimeout+jobs.ThrottleLeaseMargin),
		Redis:     rdb,
		Queue:     queue,
		InFlight:  cfg.WorkerConcurrency,
		Log:       log,
	}
	// asynq's server dequeues one task at a time: it gets a client of its own,
	// not pipelined (RedisDirect).
	srvRdb := cfg.RedisDirect()
	defer srvRdb.Close()
	srv, mux := jobs.NewServer(srvRdb, jobs.ServerConfig{
		Queue:             cfg.DeliveryQueue,
		Concurrency:       cfg.WorkerConcurrency,
		PollInterval:      cfg.QueuePollInterval,
		RetryPollInterval: cfg.RetryPollInterval,
		DeliveryTimeout:   cfg.DeliveryTimeout,
		Log:               log,
	}, deliverer)
	if cfg.MetricsAddr != "" {
		if err := jobs.RegisterQueueMetrics(prometheus.DefaultRegisterer, rdb, cfg.DeliveryQueue, db); err != nil {
			return err
		}
		go serveMetrics(cfg.MetricsAddr, log)
	}
	if err := srv.Start(mux); err != nil {
		return err
	}
	sweeper := &jobs.Sweeper{DB: db, Queue: queue, Circuits: circuits, Redis: rdb,
		Interval: cfg.SweepInterval, Grace: cfg.SweepGrace, Log: log}
	maintenance := &jobs.Maintenance{DB: db, Retention: cfg.RetentionPeriod, Log: log}
	// The sweeper and maintenance stop before the asynq server, so that no
	// requeue races the shutdown.
	bgCtx, stopBackground := context.WithCancel(context.Background())
	var background sync.WaitGroup
	background.Go(func() { sweeper.Run(bgCtx) })
	background.Go(func() { maintenance.Run(bgCtx) })
	log.Info("worker started", "queue", cfg.DeliveryQueue, "concurrency", cfg.WorkerConcurrency)

	<-ctx.Done()
	log.Info("worker shutting down; letting running deliveries finish")
	stopBackground()
	background.Wait()
	srv.Shutdown()
	publisher.Wait()           // the operational events' enqueues, before the queue closes
	deliverer.Throttle.Close() // the slots lingering in this worker, for the others
	return nil
}

func serveMetrics(addr string, log interface{ Error(string, ...any) }) {
	err := http.ListenAndServe(addr, promhttp.Handler())
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener", "error", err)
	}
}
