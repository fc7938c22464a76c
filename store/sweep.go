package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// sweepLockID is the advisory lock that lets one sweeper at a time work.
const sweepLockID = 0x656d7066696f01 // "empfio" + 1

// ClaimOverdue returns at most limit deliveries that are not final and whose next
// attempt is overdue by more than grace, and sets their next_attempt_at to now, so
// that each is claimed again only after another grace period. Concurrent callers
// do not repeat each other's work: the claim runs under a transaction-scoped
// advisory lock, and a caller that cannot take it gets nothing at once. Rows a
// worker is recording at that moment are skipped, not waited for: they are
// not overdue, and waiting could deadlock with the worker's group update,
// which locks its rows in another order. The
// transaction ends before ClaimOverdue returns: the caller checks the queue
// holding no lock and no connection.
func (db *DB) ClaimOverdue(ctx context.Context, grace time.Duration, limit int) ([]string, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sweepLockID).Scan(&locked); err != nil || !locked {
		return nil, wrap(err, "")
	}
	rows, err := tx.Query(ctx, `UPDATE deliveries SET next_attempt_at = now()
		WHERE id IN (SELECT id FROM deliveries
			WHERE status IN ('pending', 'retrying') AND next_attempt_at < now() - make_interval(secs => $1)
			ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING id`, grace.Seconds(), limit)
	if err != nil {
		return nil, wrap(err, "")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err, "")
	}
	return ids, wrap(tx.Commit(ctx), "")
}

// Due is a delivery that is not final, and when it is due.
type Due struct {
	ID            string
	NextAttemptAt *time.Time
}

// NotFinal returns, in id order, at most limit deliveries created before
// before that are not final, with an id above after ("" for the first page).
func (db *DB) NotFinal(ctx context.Context, before time.Time, after string, limit int) ([]Due, error) {
	if after == "" {
		after = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := db.pool.Query(ctx, `SELECT id::text, next_attempt_at FROM deliveries
		WHERE status IN ('pending', 'retrying') AND created_at < $1 AND id > $2 ORDER BY id LIMIT $3`, before, after, limit)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Due])
	return list, wrap(err, "")
}
