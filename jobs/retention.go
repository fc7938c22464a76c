package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/empfio/webhooks/store"
)

// Retention defaults: events are kept 30 days, pruned hourly in batches.
const (
	DefaultRetentionPeriod   = 30 * 24 * time.Hour
	DefaultRetentionInterval = time.Hour
	retentionBatch           = 1000
)

// Retention deletes events older than Period, with their deliveries and attempts,
// once every one of their deliveries is final. Several workers may run it: the
// deletes of different workers do not conflict, and each batch is small.
type Retention struct {
	DB       *store.DB
	Period   time.Duration
	Interval time.Duration
	Log      *slog.Logger
}

// Run prunes, and forgets previous secrets past their grace period, every Interval (DefaultRetentionInterval when zero)
// until ctx ends.
func (r *Retention) Run(ctx context.Context) {
	every(ctx, orDefault(r.Interval, DefaultRetentionInterval), func() {
		if n, err := r.Prune(ctx); err != nil {
			r.Log.Warn("retention failed", "error", err)
		} else if n > 0 {
			r.Log.Info("retention pruned events", "count", n)
		}
		if n, err := r.DB.ForgetExpiredSecrets(ctx); err != nil {
			r.Log.Warn("forgetting expired secrets failed", "error", err)
		} else if n > 0 {
			r.Log.Info("forgot previous secrets past their grace period", "endpoints", n)
		}
	})
}

// Prune deletes, batch by batch, every event past the retention period whose
// deliveries are final, and returns how many.
func (r *Retention) Prune(ctx context.Context) (int64, error) {
	cutoff := time.Now().Add(-orDefault(r.Period, DefaultRetentionPeriod))
	var total int64
	for ctx.Err() == nil {
		n, err := r.DB.PruneEvents(ctx, cutoff, retentionBatch)
		total += n
		if err != nil || n < retentionBatch {
			return total, err
		}
	}
	return total, ctx.Err()
}
