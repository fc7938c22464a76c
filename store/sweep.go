package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// sweepLockID is the advisory lock that lets one sweeper at a time work.
const sweepLockID = 0x656d7066696f01 // "empfio" + 1

// SweepOverdue finds at most limit deliveries that are not final and whose next
// attempt is overdue by more than grace, and calls check with their ids. Afterwards
// their next_attempt_at is set to now, so each is looked at again only after another
// grace period. Concurrent callers do not repeat each other's work: the scan runs
// under a transaction-scoped advisory lock, and a caller that cannot take it
// returns (0, nil) at once.
func (db *DB) SweepOverdue(ctx context.Context, grace time.Duration, limit int, check func(ctx context.Context, ids []string) error) (int, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sweepLockID).Scan(&locked); err != nil || !locked {
		return 0, wrap(err, "")
	}
	rows, err := tx.Query(ctx, `SELECT id FROM deliveries
		WHERE status IN ('pending', 'retrying') AND next_attempt_at < now() - make_interval(secs => $1)
		ORDER BY next_attempt_at LIMIT $2`, grace.Seconds(), limit)
	if err != nil {
		return 0, wrap(err, "")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return 0, wrap(err, "")
	}
	if err := check(ctx, ids); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE deliveries SET next_attempt_at = now()
		WHERE id = ANY($1) AND status IN ('pending', 'retrying')`, ids); err != nil {
		return 0, wrap(err, "")
	}
	return len(ids), wrap(tx.Commit(ctx), "")
}
