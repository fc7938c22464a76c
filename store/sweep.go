package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// sweepLockID is the advisory lock that lets one sweeper at a time work.
const sweepLockID = 0x656d7066696f01 // "empfio" + 1

// Due is a delivery that is not final, where it is stored, and when it is due.
type Due struct {
	ID            string
	CreatedAt     time.Time
	NextAttemptAt *time.Time
}

// ClaimOverdue returns at most limit deliveries that are pending or retrying,
// taken by no attempt, and overdue by more than grace, and sets their
// next_attempt_at to now, so that each is claimed again only after another
// grace period. Concurrent callers do not repeat each other's work: the claim
// runs under a transaction-scoped advisory lock, and a caller that cannot take
// it gets nothing at once. Rows a worker is recording at that moment are
// skipped, not waited for. The transaction ends before ClaimOverdue returns:
// the caller checks the queue holding no lock and no connection.
func (db *DB) ClaimOverdue(ctx context.Context, grace time.Duration, limit int) ([]Due, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sweepLockID).Scan(&locked); err != nil || !locked {
		return nil, wrap(err, "")
	}
	rows, err := tx.Query(ctx, `UPDATE deliveries d SET next_attempt_at = now()
		FROM (SELECT d.id, d.created_at FROM open_deliveries o
				JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at
			WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at < now() - make_interval(secs => $1)
				AND (d.lease_until IS NULL OR d.lease_until < now())
			ORDER BY d.next_attempt_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED) o
		WHERE d.id = o.id AND d.created_at = o.created_at
		RETURNING d.id::text, d.created_at, d.next_attempt_at`, grace.Seconds(), limit)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Due])
	if err != nil {
		return nil, wrap(err, "")
	}
	return list, wrap(tx.Commit(ctx), "")
}

// NotFinal returns at most limit deliveries that are pending or retrying,
// after the open delivery after (FirstOpen for the first page), in the
// order of open_deliveries, and the last one's place for the next page.
func (db *DB) NotFinal(ctx context.Context, after OpenPlace, limit int) ([]Due, OpenPlace, error) {
	rows, err := db.pool.Query(ctx, `SELECT d.id::text, d.created_at, d.next_attempt_at, o.endpoint_id::text
		FROM open_deliveries o JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at
		WHERE (o.endpoint_id, o.created_at, o.delivery_id) > ($1::uuid, $2, $3::uuid) AND d.status IN ('pending', 'retrying')
		ORDER BY o.endpoint_id, o.created_at, o.delivery_id LIMIT $4`,
		after.EndpointID, after.CreatedAt, after.DeliveryID, limit)
	if err != nil {
		return nil, after, wrap(err, "")
	}
	var list []Due
	var d Due
	var endpointID string
	_, err = pgx.ForEachRow(rows, []any{&d.ID, &d.CreatedAt, &d.NextAttemptAt, &endpointID}, func() error {
		list = append(list, d)
		after = OpenPlace{EndpointID: endpointID, CreatedAt: d.CreatedAt, DeliveryID: d.ID}
		return nil
	})
	return list, after, wrap(err, "")
}

// OpenPlace is a place in open_deliveries.
type OpenPlace struct {
	EndpointID, DeliveryID string
	CreatedAt              time.Time
}

// FirstOpen is the place before every open delivery.
var FirstOpen = OpenPlace{EndpointID: "00000000-0000-0000-0000-000000000000", DeliveryID: "00000000-0000-0000-0000-000000000000"}
