package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/empfio/webhooks/store"
)

// Maintenance defaults: the history is kept 30 days; the partitions of the
// week ahead are made, and the days past retention dropped, hourly.
const (
	DefaultRetentionPeriod     = 30 * 24 * time.Hour
	DefaultMaintenanceInterval = time.Hour
	partitionsAhead            = 7 * 24 * time.Hour
)

// Maintenance keeps the history's day partitions (store/partitions.go): it
// makes the partitions of the days ahead, so that an insert lands in its own
// day (the default partition only takes what falls outside), and drops whole
// the days past Retention — no row-by-row delete, nothing left to vacuum. A
// day with a delivery that is not final yet is kept until it is: retention
// never loses a delivery. It also prunes the default partitions, purges the
// endpoints deleted longer ago than Retention (their history is gone with
// their days), and forgets previous secrets past their grace period.
//
// Any number of workers may run it: a Postgres advisory lock lets one at a
// time work.
type Maintenance struct {
	DB        *store.DB
	Retention time.Duration // DefaultRetentionPeriod when zero
	Interval  time.Duration // DefaultMaintenanceInterval when zero
	Log       *slog.Logger
}

// Run maintains at once and then every Interval until ctx ends.
func (m *Maintenance) Run(ctx context.Context) {
	every(ctx, orDefault(m.Interval, DefaultMaintenanceInterval), func() {
		if _, err := m.DB.WithMaintenanceLock(ctx, func() error { return m.Maintain(ctx, time.Now()) }); err != nil && ctx.Err() == nil {
			m.Log.Warn("maintenance failed", "error", err)
		}
	})
}

// Maintain makes the partitions ahead and drops the days past retention, as
// of now. Each step runs whatever the steps before it did — a day that
// cannot be made must not stop retention, nor retention the forgetting of
// secrets — and their errors are returned together.
func (m *Maintenance) Maintain(ctx context.Context, now time.Time) error {
	cutoff := now.Add(-orDefault(m.Retention, DefaultRetentionPeriod))
	_, made := m.DB.MakePartitions(ctx, now, now.Add(partitionsAhead))
	errs := []error{made, m.dropPastRetention(ctx, cutoff)}
	counted := func(n int64, err error, msg, what string) {
		if err != nil {
			errs = append(errs, err)
		} else if n > 0 {
			m.Log.Info(msg, what, n)
		}
	}
	n, err := m.DB.PruneDefault(ctx, cutoff)
	counted(n, err, "retention pruned events of the default partition", "count")
	n, err = m.DB.PurgeDeleted(ctx, cutoff)
	counted(n, err, "purged deleted endpoints whose history is gone", "endpoints")
	n, err = m.DB.ForgetExpiredSecrets(ctx)
	counted(n, err, "forgot previous secrets past their grace period", "endpoints")
	n, err = m.DB.ForgetIdempotencyKeys(ctx)
	counted(n, err, "forgot Idempotency-Keys past their window", "keys")
	return errors.Join(errs...)
}

// dropPastRetention drops the days older than cutoff whose deliveries are all
// final.
func (m *Maintenance) dropPastRetention(ctx context.Context, cutoff time.Time) error {
	days, err := m.DB.Partitions(ctx)
	if err != nil {
		return err
	}
	for _, p := range days {
		if !p.Day.AddDate(0, 0, 1).Before(cutoff) {
			break // oldest first: the rest are younger
		}
		dropped, err := m.DB.DropPartition(ctx, p.Day)
		switch {
		case err != nil:
			return err
		case dropped:
			m.Log.Info("retention dropped a day of history", "day", p.Day.Format(time.DateOnly))
		default:
			m.Log.Warn("retention keeps a day past the retention period: some of its deliveries are not final yet",
				"day", p.Day.Format(time.DateOnly), "open", p.Open)
		}
	}
	return nil
}
