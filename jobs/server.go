package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/empfio/webhooks/outbound"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Worker defaults.
const (
	DefaultConcurrency = 50 // deliveries wait on the network, not the CPU
	// An idle worker looks for new tasks this often (asynq sleeps between a half
	// and one and a half of it): a new delivery is picked up within ~15 ms, at the
	// cost of ~100 cheap Redis calls a second per idle worker (asynq's default is
	// 1 s).
	DefaultPollInterval = 10 * time.Millisecond
	// Due retries are moved to the queue this often (asynq's default is 5 s).
	DefaultRetryPollInterval = time.Second
)

// ServerConfig configures the asynq server of a worker process. Zero values take
// the defaults above.
type ServerConfig struct {
	Queue             string
	Concurrency       int
	PollInterval      time.Duration
	RetryPollInterval time.Duration
	DeliveryTimeout   time.Duration // one attempt's HTTP timeout
	Log               *slog.Logger
}

// NewServer returns an asynq server that runs d on the delivery queue with the
// retry delays d's handler chooses. Give it a client that is not Pipelined:
// asynq's processor dequeues one task at a time and waits for each, so on a
// pipelined client every dequeue waits for the batch ahead of it, and the
// worker picks tasks up one batch round trip apart (bench/RESULTS.md).
func NewServer(rdb redis.UniversalClient, cfg ServerConfig, d *Deliverer) (*asynq.Server, *asynq.ServeMux) {
	if cfg.Queue == "" {
		cfg.Queue = DefaultQueue
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	cfg.PollInterval = orDefault(cfg.PollInterval, DefaultPollInterval)
	cfg.RetryPollInterval = orDefault(cfg.RetryPollInterval, DefaultRetryPollInterval)
	cfg.DeliveryTimeout = orDefault(cfg.DeliveryTimeout, outbound.DefaultTimeout)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   map[string]int{cfg.Queue: 1},
		RetryDelayFunc:           retryDelay,
		TaskCheckInterval:        cfg.PollInterval,
		DelayedTaskCheckInterval: cfg.RetryPollInterval,
		// Running deliveries get one attempt's timeout plus recording it to finish.
		ShutdownTimeout: cfg.DeliveryTimeout + taskTimeoutMargin,
		Logger:          asynqLogger{cfg.Log},
		LogLevel:        asynq.WarnLevel,
		ErrorHandler:    infraErrorLog(cfg.Log),
	})
	mux := asynq.NewServeMux()
	mux.Handle(TypeDeliver, d)
	mux.HandleFunc(TypeDeliverBatch, d.ProcessBatch)
	mux.Handle(TypeCircuit, d.Circuits)
	return srv, mux
}

// infraErrorLogInterval is how often, at most, a task that failed for a reason
// other than its receiver (Postgres unreachable, an attempt not recorded) is
// logged; the count of the others is in the next line.
const infraErrorLogInterval = 10 * time.Second

// infraErrorLog logs the errors of tasks that failed without a delivery decision,
// at most once per infraErrorLogInterval (see infraFailures).
func infraErrorLog(log *slog.Logger) asynq.ErrorHandler {
	failures := newInfraFailures()
	return asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
		failures.log(err, func(since int64) {
			retried, _ := asynq.GetRetryCount(ctx)
			log.Error("delivery task failed; asynq will retry it", "error", err, "retried", retried,
				"task_id", taskID(ctx), "failures_since_last_line", since)
		})
	})
}

// infraFailures logs failures before a delivery decision (Postgres unreachable,
// an attempt not recorded) at most once per infraErrorLogInterval, with the
// count since the last line. A failed attempt or a put-back is not one: it is
// the receiver's doing, and the handler logged it already.
type infraFailures struct {
	limit      rate.Sometimes
	suppressed atomic.Int64
}

func newInfraFailures() *infraFailures {
	return &infraFailures{limit: rate.Sometimes{Interval: infraErrorLogInterval}}
}

// log writes line, given the failures since the last line, unless err is not
// such a failure or a line was written within the interval.
func (f *infraFailures) log(err error, line func(since int64)) {
	var re *retryError
	var te *throttledError
	if errors.As(err, &re) || errors.As(err, &te) {
		return
	}
	f.suppressed.Add(1)
	f.limit.Do(func() { line(f.suppressed.Swap(0)) })
}

func taskID(ctx context.Context) string {
	id, _ := asynq.GetTaskID(ctx)
	return id
}

// asynqLogger routes asynq's logs to slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(sprint(args), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(sprint(args), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(sprint(args), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(sprint(args), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(sprint(args), "component", "asynq") }

func sprint(args []any) string { return fmt.Sprint(args...) }

// orDefault returns d, or def when d is not positive: zero settings take the
// named defaults.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
