package store

import (
	"context"
	"errors"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The circuit breaker's state lives on the endpoint's row; what a change means
// is webhooks.Breaker's to decide. The store applies a decision over the
// version it was made from, and nothing more.

// ApplyCircuit stores next as endpoint id's circuit if it is still at version
// from, counting the version up, and reports whether it did: false when
// another change came first (decide again from a fresh read: EndpointByID).
func (db *DB) ApplyCircuit(ctx context.Context, id string, from int64, next webhooks.Circuit) (bool, error) {
	ok, err := applyCircuit(ctx, db.pool, id, from, next)
	return ok, wrap(err, "")
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func applyCircuit(ctx context.Context, db execer, id string, from int64, c webhooks.Circuit) (bool, error) {
	var probeMS *int64
	if c.ProbeInterval > 0 {
		ms := c.ProbeInterval.Milliseconds()
		probeMS = &ms
	}
	tag, err := db.Exec(ctx, `UPDATE endpoints SET circuit_state = $3, circuit_since = $4, consecutive_failures = $5,
			failing_since = $6, probe_at = $7, probe_interval_ms = $8, probe_delivery_id = $9, circuit_version = $2 + 1
		WHERE id = $1 AND circuit_version = $2`,
		id, from, c.State, c.Since, c.Failures, c.FailingSince, c.ProbeAt, probeMS, c.ProbeDeliveryID)
	return err == nil && tag.RowsAffected() == 1, err
}

// OldestHeld returns the oldest delivery of endpoint id that is held, made
// pending and due now, to be sent as the circuit's probe; "" when none is.
func (db *DB) OldestHeld(ctx context.Context, id string) (string, time.Time, error) {
	var deliveryID string
	var created time.Time
	err := db.pool.QueryRow(ctx, `UPDATE deliveries d SET status = 'pending', next_attempt_at = now(), updated_at = now()
		FROM (SELECT o.delivery_id, o.created_at FROM open_deliveries o
				JOIN deliveries h ON h.id = o.delivery_id AND h.created_at = o.created_at AND h.status = 'held'
			WHERE o.endpoint_id = $1 ORDER BY o.created_at, o.delivery_id LIMIT 1) h
		WHERE d.id = h.delivery_id AND d.created_at = h.created_at AND d.status = 'held'
		RETURNING d.id::text, d.created_at`, id).Scan(&deliveryID, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, nil
	}
	return deliveryID, created, wrap(err, "")
}

// Released is a held delivery made pending again.
type Released struct {
	ID        string
	CreatedAt time.Time
}

// ReleaseNext makes the oldest held delivery of endpoint id pending and due
// now, as the release's next one, if the release is at prev (the delivery
// released last; nil: none yet): a compare-and-set on the endpoint's
// release_head, so that of the ways a release goes on — prev's attempt
// ending, the wait for it running out, the sweeper — one does. moved is false
// when the release was elsewhere already; next is zero when nothing is held,
// and the release ends.
func (db *DB) ReleaseNext(ctx context.Context, id string, prev *string) (next Released, moved bool, err error) {
	var nextID *string
	var nextAt *time.Time
	err = db.pool.QueryRow(ctx, `WITH e AS (
			SELECT id FROM endpoints WHERE id = $1 AND release_head IS NOT DISTINCT FROM $2::uuid FOR UPDATE
		), h AS (
			SELECT o.delivery_id, o.created_at FROM open_deliveries o
				JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at AND d.status = 'held'
			WHERE o.endpoint_id = $1 AND EXISTS (SELECT 1 FROM e) ORDER BY o.created_at, o.delivery_id LIMIT 1
		), d AS (
			UPDATE deliveries d SET status = 'pending', next_attempt_at = now(), updated_at = now()
			FROM h WHERE d.id = h.delivery_id AND d.created_at = h.created_at AND d.status = 'held'
			RETURNING d.id, d.created_at
		), u AS (
			UPDATE endpoints SET release_head = (SELECT id FROM d) FROM e WHERE endpoints.id = e.id RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM u), (SELECT id::text FROM d), (SELECT created_at FROM d)`, id, prev).Scan(&moved, &nextID, &nextAt)
	if err != nil || nextID == nil {
		return Released{}, moved, wrap(err, "")
	}
	return Released{ID: *nextID, CreatedAt: *nextAt}, moved, nil
}

// EndRelease stops endpoint id's release at prev (its circuit opened again):
// what is still held waits for the next close.
func (db *DB) EndRelease(ctx context.Context, id string, prev *string) error {
	_, err := db.pool.Exec(ctx, `UPDATE endpoints SET release_head = NULL WHERE id = $1 AND release_head IS NOT DISTINCT FROM $2::uuid`, id, prev)
	return wrap(err, "")
}

// CircuitCounts returns how many endpoints are in each circuit state but
// closed, and how many deliveries are held.
func (db *DB) CircuitCounts(ctx context.Context) (map[string]int, int, error) {
	counts := map[string]int{webhooks.CircuitOpen: 0, webhooks.CircuitHalfOpen: 0}
	rows, err := db.read.Query(ctx, `SELECT circuit_state, count(*) FROM endpoints
		WHERE circuit_state <> 'closed' AND deleted_at IS NULL GROUP BY 1`)
	if err != nil {
		return nil, 0, wrap(err, "")
	}
	var state string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error { counts[state] = n; return nil }); err != nil {
		return nil, 0, wrap(err, "")
	}
	var held int
	err = db.read.QueryRow(ctx, `SELECT count(*) FROM open_deliveries o
		JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at WHERE d.status = 'held'`).Scan(&held)
	return counts, held, wrap(err, "")
}

// HeldCount returns how many deliveries of endpoint id are held.
func (db *DB) HeldCount(ctx context.Context, id string) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM open_deliveries o
		JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at
		WHERE o.endpoint_id = $1 AND d.status = 'held'`, id).Scan(&n)
	return n, wrap(err, "")
}

// CircuitsToTend returns the enabled endpoints whose circuit needs its timer
// (not closed), or whose held deliveries wait to be released (closed, with
// some held): the sweeper gives each its task back, in case Redis lost it.
func (db *DB) CircuitsToTend(ctx context.Context) ([]*webhooks.Endpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+prefixed("e.", endpointColumns)+` FROM endpoints e
		WHERE e.enabled AND e.deleted_at IS NULL AND (e.circuit_state <> 'closed' OR EXISTS (
			SELECT 1 FROM open_deliveries o JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at
			WHERE o.endpoint_id = e.id AND d.status = 'held'))`)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.Endpoint, error) { return db.scanEndpoint(r) })
	return list, wrap(err, "")
}
