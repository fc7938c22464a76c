package store

import (
	"context"
	"errors"
	"time"

	webhooks "github.com/empfio/webhooks"
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
// taken by no attempt, first of their ordering key, and overdue by more than grace, and sets their
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
				AND (d.lease_until IS NULL OR d.lease_until < now()) AND `+firstOfKey("d.")+`
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

// NotFinal returns at most limit deliveries that are pending or retrying and
// first of their ordering key, after the open delivery after (FirstOpen for the first page), in the
// order of open_deliveries, and the last one's place for the next page.
func (db *DB) NotFinal(ctx context.Context, after OpenPlace, limit int) ([]Due, OpenPlace, error) {
	rows, err := db.pool.Query(ctx, `SELECT d.id::text, d.created_at, d.next_attempt_at, o.endpoint_id::text
		FROM open_deliveries o JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at
		WHERE (o.endpoint_id, o.created_at, o.delivery_id) > ($1::uuid, $2, $3::uuid) AND d.status IN ('pending', 'retrying')
			AND `+firstOfKey("d.")+`
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

// firstOfKey is the condition that delivery p (a column prefix of deliveries)
// is not ordered, or comes first among the open deliveries of its endpoint and
// ordering key, in the order their events were accepted (created_at, then the
// UUIDv7 event id, which orders one api's events within a millisecond): one that is not waits, taken by no task and claimed by no
// sweep, until the one before it ends (NextOfKey). An index probe of
// open_deliveries_ordered_idx; nothing for an unordered delivery.
func firstOfKey(p string) string {
	return `(` + p + `ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM open_deliveries prior
		WHERE prior.endpoint_id = ` + p + `endpoint_id AND prior.ordering_key = ` + p + `ordering_key
			AND (prior.created_at, prior.event_id) < (` + p + `created_at, ` + p + `event_id)))`
}

// NextOfKey returns the first open delivery of endpointID and ordering key
// key: the one to attempt once the delivery before it has ended. found is
// false when none is open.
func (db *DB) NextOfKey(ctx context.Context, endpointID, key string) (next Due, found bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT o.delivery_id::text, o.created_at FROM open_deliveries o
		WHERE o.endpoint_id = $1 AND o.ordering_key = $2 ORDER BY o.created_at, o.event_id LIMIT 1`,
		endpointID, key).Scan(&next.ID, &next.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Due{}, false, nil
	}
	return next, err == nil, wrap(err, "")
}

// WaitingFor returns the id of the delivery d waits for: the first open
// delivery of its endpoint and ordering key, when that is not d. "" when d is
// not ordered, not open, or first.
func (db *DB) WaitingFor(ctx context.Context, d *webhooks.Delivery) (string, error) {
	if d.OrderingKey == nil || webhooks.IsFinalStatus(d.Status) {
		return "", nil
	}
	var id string
	err := db.read.QueryRow(ctx, `SELECT o.delivery_id::text FROM open_deliveries o
		WHERE o.endpoint_id = $1 AND o.ordering_key = $2 AND (o.created_at, o.event_id) < ($3, $4::uuid)
		ORDER BY o.created_at, o.event_id LIMIT 1`, d.EndpointID, *d.OrderingKey, d.CreatedAt, d.EventID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, wrap(err, "")
}
