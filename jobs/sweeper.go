package jobs

import (
	"context"
	"log/slog"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
	"github.com/hibiken/asynq"
)

// Sweeper defaults: a sweep every 30 s of deliveries overdue by more than a minute
// gives every non-final delivery a live task back within two minutes.
const (
	DefaultSweepInterval = 30 * time.Second
	DefaultSweepGrace    = time.Minute
	sweepBatch           = 500
)

// Sweeper upholds the no-loss invariant: a delivery that is not final always has a
// live task in Redis, or gets one back within Grace+Interval — after Redis was
// flushed or restarted, after the API died between commit and enqueue, after a
// worker was killed mid-delivery.
//
// For each delivery overdue by more than Grace it asks asynq for the task:
//   - none (lost): a new task, due now;
//   - archived (asynq gave up, e.g. its recoverer after crashes on the task's last
//     retry, which calls no handler): a new run if the delivery's schedule has
//     attempts left, else the delivery is marked failed in Postgres;
//   - anything else: alive, left alone.
//
// Any number of workers may run a Sweeper: a Postgres advisory lock lets one sweep
// at a time.
type Sweeper struct {
	DB       *store.DB
	Queue    *Queue
	Schedule webhooks.RetrySchedule
	Interval time.Duration
	Grace    time.Duration
	Log      *slog.Logger
}

// Run sweeps every Interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil {
			s.Log.Warn("sweep failed", "error", err)
		} else if n > 0 {
			s.Log.Info("swept overdue deliveries", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep runs one pass and returns how many deliveries it looked at.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	return s.DB.SweepOverdue(ctx, s.Grace, sweepBatch, func(ctx context.Context, ids []string) error {
		for _, id := range ids {
			if err := s.check(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Sweeper) check(ctx context.Context, id string) error {
	state, err := s.Queue.taskState(id)
	if err != nil {
		return err
	}
	switch state {
	case 0:
		sweptTotal.WithLabelValues("requeued").Inc()
		s.Log.Info("delivery had no task; requeued", "delivery_id", id)
		return s.Queue.Enqueue(ctx, id)
	case asynq.TaskStateArchived:
		return s.archived(ctx, id)
	default:
		sweptTotal.WithLabelValues("alive").Inc()
		return nil
	}
}

func (s *Sweeper) archived(ctx context.Context, id string) error {
	job, err := s.DB.Job(ctx, id)
	if webhooks.ErrorCode(err) == webhooks.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if !job.Manual && job.Delivery.Attempts <= s.Schedule.For(&job.Endpoint).MaxRetries {
		sweptTotal.WithLabelValues("requeued").Inc()
		s.Log.Info("delivery's task was archived with attempts left; requeued", "delivery_id", id)
		return s.Queue.RunNow(ctx, id)
	}
	sweptTotal.WithLabelValues("failed").Inc()
	s.Log.Warn("delivery failed", "delivery_id", id, "endpoint_id", job.Endpoint.ID, "event_id", job.Delivery.EventID,
		"error", "task archived after its last attempt was interrupted")
	return s.DB.FailDelivery(ctx, id, "the last attempt was interrupted (worker crash) and not retried")
}
