package jobs

import (
	"context"
	"log/slog"
	"strconv"
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
// For each delivery pending or retrying, overdue by more than Grace and taken
// by no attempt, it asks asynq for the task:
//   - none (lost): a new task, due now;
//   - active, though no attempt holds the delivery: its worker died (asynq
//     gives such a task back only a minute or more later): another task,
//     due now;
//   - archived: the task was given up without a delivery decision — the
//     handler failed infraRetryLimit times before deciding (Postgres unreachable,
//     an attempt that could not be recorded), or asynq's recoverer archived it
//     (asynq issue #1015): it is marked failed in Postgres, with one log line,
//     instead of staying pending forever;
//   - anything else: alive, left alone.
//
// It gives every circuit that needs one its task back too (its timer, or the
// release of what it held), and ends listen sessions whose CLI went away
// (ListenAbandoned). A task too many does no harm: an attempt takes its
// delivery first (store.Take).
//
// Any number of workers may run a Sweeper: a Postgres advisory lock lets one sweep
// at a time.
//
// It also watches Redis for losing its data (FLUSHALL, or a restart without
// persistence): a marker key it keeps disappears. Then it does not wait for the
// grace period: every delivery that is not final gets its task back at once,
// due when it was due, within WatchInterval of the loss.
type Sweeper struct {
	DB             *store.DB
	Queue          *Queue
	Circuits       *Circuits             // whose circuits it tends; nil: none
	Redis          redis.UniversalClient // for the watch; nil: no watch
	Interval       time.Duration
	Grace          time.Duration
	WatchInterval  time.Duration
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
	}
	every(ctx, orDefault(s.Interval, DefaultSweepInterval), func() {
		n, err := s.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() != nil: // cut short by shutdown: not a failure
		case err != nil:
			s.Log.Warn("sweep failed", "error", err)
		case n > 0:
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
	n, err := s.RecoverAll(ctx)
	if err != nil {
		s.Log.Warn("giving open deliveries their tasks after Redis came up empty failed; the sweep will finish it", "error", err)
		s.Redis.Del(context.WithoutCancel(ctx), redisMarker) // try again at the next watch
		return
	}
	if n > 0 {
		s.Log.Warn("Redis has lost its data (flushed, or restarted without persistence): gave open deliveries their tasks back", "requeued", n)
	}
}

// RecoverAll gives every delivery that is pending or retrying a task, due
// when the delivery is, unless it has one, and every circuit that needs one its
// task; it returns how many delivery tasks it created.
func (s *Sweeper) RecoverAll(ctx context.Context) (int, error) {
	created, after := 0, store.FirstOpen
	for {
		var page []store.Due
		var err error
		page, after, err = s.DB.NotFinal(ctx, after, sweepBatch)
		if err != nil {
			return created, err
		}
		if len(page) == 0 {
			return created, s.tendCircuits(ctx)
		}
		for _, d := range page {
			var at time.Time
			if d.NextAttemptAt != nil {
				at = *d.NextAttemptAt
			}
			ok, err := s.Queue.enqueueAt(ctx, payload{DeliveryID: d.ID, CreatedAt: d.CreatedAt}, at)
			if err != nil {
				return created, err
			}
			if ok {
				created++
				sweptTotal.WithLabelValues("requeued").Inc()
			}
		}
	}
}

// tendCircuits gives each circuit that needs it its timer, or the release of
// what it held, in case Redis lost them (an existing task is kept).
func (s *Sweeper) tendCircuits(ctx context.Context) error {
	if s.Circuits == nil {
		return nil
	}
	list, err := s.DB.CircuitsToTend(ctx)
	if err != nil {
		return err
	}
	for _, e := range list {
		if err := s.Circuits.Tend(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// Sweep runs one pass and returns how many deliveries it looked at. A delivery
// claimed but not checked (Redis failed half way) is claimed again after another
// grace period.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	list, err := s.DB.ClaimOverdue(ctx, orDefault(s.Grace, DefaultSweepGrace), sweepBatch)
	if err != nil {
		return 0, err
	}
	for i, d := range list {
		if err := s.check(ctx, d); err != nil {
			return i, err
		}
	}
	return len(list), s.tendCircuits(ctx)
}

func (s *Sweeper) check(ctx context.Context, d store.Due) error {
	state, err := s.Queue.taskState(d.ID)
	if err != nil {
		return err
	}
	switch state {
	case 0:
		// After a flush asynq's Inspector may not know the queue although the task
		// is back: only a task that enqueue really creates counts as requeued.
		created, err := s.Queue.enqueueAt(ctx, payload{DeliveryID: d.ID, CreatedAt: d.CreatedAt}, time.Time{})
		if created {
			sweptTotal.WithLabelValues("requeued").Inc()
			s.Log.Info("delivery had no task; requeued", "delivery_id", d.ID)
		} else if err == nil {
			sweptTotal.WithLabelValues("alive").Inc()
		}
		return err
	case asynq.TaskStateArchived:
		sweptTotal.WithLabelValues("failed").Inc()
		s.Log.Warn("delivery failed", "delivery_id", d.ID, "error", "its task was archived by asynq after repeated interruptions")
		return s.DB.FailDelivery(ctx, d.ID, d.CreatedAt, "delivery was interrupted repeatedly (worker crashes) and given up")
	case asynq.TaskStateActive:
		// Active for longer than the grace, and no attempt holds the delivery
		// (ClaimOverdue takes none under a live lease): its worker died. asynq
		// gives such a task back only a lease and a minute later; a second
		// task now is safe, since an attempt takes its delivery first.
		p := payload{DeliveryID: d.ID, CreatedAt: d.CreatedAt}
		if _, err := s.Queue.enqueueAs(ctx, p, d.ID+":orphan:"+strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
			return err
		}
		sweptTotal.WithLabelValues("orphan_requeued").Inc()
		s.Log.Info("delivery's task was orphaned by a worker that died; gave it another", "delivery_id", d.ID)
		return nil
	default:
		sweptTotal.WithLabelValues("alive").Inc()
		return nil
	}
}
