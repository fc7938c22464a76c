package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

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
//   - archived: the task was given up without a delivery decision — the
//     handler failed infraRetryLimit times before deciding (Postgres unreachable,
//     an attempt that could not be recorded), or asynq's recoverer archived it
//     (asynq issue #1015): it is marked failed in Postgres, with one log line,
//     instead of staying pending forever;
//   - anything else: alive, left alone.
//
// Any number of workers may run a Sweeper: a Postgres advisory lock lets one sweep
// at a time.
//
// It also ends listen sessions whose CLI went away (ListenAbandoned), and
// watches Redis for losing its data (FLUSHALL, or a restart without
// persistence): a marker key it keeps disappears. Then it does not wait for the
// grace period: every delivery that is not final gets its task back at once,
// due when it was due, within WatchInterval of the loss.
type Sweeper struct {
	DB             *store.DB
	Queue          *Queue
	Redis          redis.UniversalClient // for the watch; nil: no watch
	Interval       time.Duration
	Grace          time.Duration
	WatchInterval  time.Duration
	OrphanInterval time.Duration // see RequeueOrphans
	ListenInterval time.Duration // how often abandoned listen sessions are ended; ListenCheckInterval when zero
	ListenIdle     time.Duration // how long a session's stream may go unread; ListenAbandoned when zero
	Log            *slog.Logger
}

// endAbandonedListenSessions deletes the listen sessions whose stream nobody
// read for ListenIdle: their CLI was killed before it could end them.
// Several workers may do it at once; a session is deleted once.
func (s *Sweeper) endAbandonedListenSessions(ctx context.Context) {
	if n, err := s.DB.DeleteAbandonedListenSessions(ctx, orDefault(s.ListenIdle, ListenAbandoned)); err != nil && ctx.Err() == nil {
		s.Log.Warn("ending abandoned listen sessions failed", "error", err)
	} else if n > 0 {
		s.Log.Info("ended listen sessions whose CLI went away", "sessions", n)
	}
}

// DefaultWatchInterval is how often the sweeper checks that Redis kept its data.
const DefaultWatchInterval = 2 * time.Second

// redisMarker is the key whose absence tells that Redis lost its data.
const redisMarker = "empfio:sweeper:marker"

// Run sweeps every Interval (DefaultSweepInterval when zero), and watches Redis,
// until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	var watching sync.WaitGroup
	defer watching.Wait()
	watching.Go(func() {
		every(ctx, orDefault(s.ListenInterval, ListenCheckInterval), func() { s.endAbandonedListenSessions(ctx) })
	})
	if s.Redis != nil {
		watching.Go(func() { every(ctx, orDefault(s.WatchInterval, DefaultWatchInterval), func() { s.watch(ctx) }) })
		watching.Go(func() {
			every(ctx, orDefault(s.OrphanInterval, DefaultOrphanInterval), func() {
				if n, err := s.RequeueOrphans(ctx, time.Now()); err != nil && ctx.Err() == nil {
					s.Log.Warn("requeueing orphaned tasks failed", "error", err)
				} else if n > 0 {
					s.Log.Warn("requeued the tasks of a worker that died", "tasks", n)
				}
			})
		})
	}
	every(ctx, orDefault(s.Interval, DefaultSweepInterval), func() {
		if n, err := s.Sweep(ctx); err != nil {
			s.Log.Warn("sweep failed", "error", err)
		} else if n > 0 {
			s.Log.Info("swept overdue deliveries", "count", n)
		}
	})
}

// watch recovers every delivery when the marker is gone (the first time, too: a
// Redis the service never wrote to may be a replacement).
func (s *Sweeper) watch(ctx context.Context) {
	lost, err := s.Redis.SetNX(ctx, redisMarker, time.Now().UTC().Format(time.RFC3339), 0).Result()
	if err != nil || !lost {
		return // Redis is down (the sweep and the workers' errors say so), or intact
	}
	seen := time.Now()
	s.Log.Warn("Redis has lost its data (flushed, or restarted without persistence): giving every open delivery its task back")
	n, err := s.RecoverAll(ctx, seen)
	if err != nil {
		s.Log.Warn("recovery after Redis lost its data failed; the sweep will finish it", "error", err)
		s.Redis.Del(context.WithoutCancel(ctx), redisMarker) // try again at the next watch
		return
	}
	s.Log.Info("recovered deliveries after Redis lost its data", "requeued", n)
}

// RecoverAll gives every delivery created before lostBy that is not final a
// task, due when the delivery is, unless it has one; it returns how many it
// created. lostBy is when Redis was seen without its data: a delivery created
// later was enqueued into the Redis of now, and may wait in a batch task,
// which no task id finds — a task of its own would send it a second time.
// (One whose enqueue failed is the sweep's, after its grace, as always.)
func (s *Sweeper) RecoverAll(ctx context.Context, lostBy time.Time) (int, error) {
	created, after := 0, ""
	for {
		page, err := s.DB.NotFinal(ctx, lostBy, after, sweepBatch)
		if err != nil || len(page) == 0 {
			return created, err
		}
		for _, d := range page {
			var at time.Time
			if d.NextAttemptAt != nil {
				at = *d.NextAttemptAt
			}
			ok, err := s.Queue.enqueueAt(ctx, payload{DeliveryID: d.ID}, at)
			if err != nil {
				return created, err
			}
			if ok {
				created++
				sweptTotal.WithLabelValues("requeued").Inc()
			}
		}
		after = page[len(page)-1].ID
	}
}

// Sweep runs one pass and returns how many deliveries it looked at. A delivery
// claimed but not checked (Redis failed half way) is claimed again after another
// grace period.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	ids, err := s.DB.ClaimOverdue(ctx, orDefault(s.Grace, DefaultSweepGrace), sweepBatch)
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := s.check(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

func (s *Sweeper) check(ctx context.Context, id string) error {
	state, err := s.Queue.taskState(id)
	if err != nil {
		return err
	}
	switch state {
	case 0:
		// After a flush asynq's Inspector may not know the queue although the task
		// is back: only a task that enqueue really creates counts as requeued.
		created, err := s.Queue.enqueue(ctx, id)
		if created {
			sweptTotal.WithLabelValues("requeued").Inc()
			s.Log.Info("delivery had no task; requeued", "delivery_id", id)
		} else if err == nil {
			sweptTotal.WithLabelValues("alive").Inc()
		}
		return err
	case asynq.TaskStateArchived:
		return s.archived(ctx, id)
	default:
		sweptTotal.WithLabelValues("alive").Inc()
		return nil
	}
}

func (s *Sweeper) archived(ctx context.Context, id string) error {
	sweptTotal.WithLabelValues("failed").Inc()
	s.Log.Warn("delivery failed", "delivery_id", id, "error", "its task was archived by asynq after repeated interruptions")
	return s.DB.FailDelivery(ctx, id, "delivery was interrupted repeatedly (worker crashes) and given up")
}
