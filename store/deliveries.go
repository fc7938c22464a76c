package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// FailDelivery makes a non-final delivery failed without an attempt, saying why
// (its endpoint is disabled, or its task was lost on its last attempt).
func (db *DB) FailDelivery(ctx context.Context, id, reason string) error {
	_, err := db.pool.Exec(ctx, `UPDATE deliveries SET status = 'failed', last_error = $2, next_attempt_at = NULL,
		manual = false, completed_at = now(), updated_at = now()
		WHERE id = $1 AND status IN ('pending', 'retrying')`, id, reason)
	return wrap(err, "")
}

const deliveryColumns = `id, organization_id, event_id, endpoint_id, event_type, status, attempts,
	next_attempt_at, last_status_code, last_error, created_at, updated_at, completed_at`

func scanDelivery(row pgx.Row) (*webhooks.Delivery, error) {
	var d webhooks.Delivery
	err := row.Scan(&d.ID, &d.OrganizationID, &d.EventID, &d.EndpointID, &d.EventType, &d.Status, &d.Attempts,
		&d.NextAttemptAt, &d.LastStatusCode, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &d.CompletedAt)
	return &d, err
}

// Delivery returns delivery id of orgID with every attempt, oldest first, and the
// URL and body its attempts send (in Request; the caller adds the headers).
func (db *DB) Delivery(ctx context.Context, orgID, id string) (*webhooks.Delivery, error) {
	var d webhooks.Delivery
	var url, envelope string
	err := db.pool.QueryRow(ctx, `SELECT d.id, d.organization_id, d.event_id, d.endpoint_id, d.event_type, d.status,
			d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, d.completed_at,
			e.url, ev.envelope
		FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id JOIN events ev ON ev.id = d.event_id
		WHERE d.id = $1 AND d.organization_id = $2`, id, orgID).Scan(
		&d.ID, &d.OrganizationID, &d.EventID, &d.EndpointID, &d.EventType, &d.Status, &d.Attempts,
		&d.NextAttemptAt, &d.LastStatusCode, &d.LastError, &d.CreatedAt, &d.UpdatedAt, &d.CompletedAt, &url, &envelope)
	if err != nil {
		return nil, wrap(err, "Delivery")
	}
	d.Request = &webhooks.Request{Method: "POST", URL: url, Body: json.RawMessage(envelope)}
	rows, err := db.pool.Query(ctx, `SELECT number, started_at, duration_ms, status_code, response_body, error
		FROM attempts WHERE delivery_id = $1 ORDER BY number`, id)
	if err != nil {
		return nil, wrap(err, "")
	}
	d.AttemptLog, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Attempt, error) {
		var a webhooks.Attempt
		err := r.Scan(&a.Number, &a.StartedAt, &a.DurationMS, &a.StatusCode, &a.ResponseBody, &a.Error)
		return a, err
	})
	return &d, wrap(err, "")
}

// EventDeliveries returns the deliveries of event eventID of orgID to its
// webhooks, oldest first (not to listen sessions); within, when not nil, keeps
// those to endpoints whose every subscription is one of it (see Endpoints).
func (db *DB) EventDeliveries(ctx context.Context, orgID, eventID string, within []string) ([]*webhooks.Delivery, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+prefixed("d.", deliveryColumns)+` FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
		WHERE d.event_id = $1 AND d.organization_id = $2 AND ($3::text[] IS NULL OR e.events <@ $3) AND NOT starts_with(e.url, $4)
		ORDER BY d.created_at, d.id`, eventID, orgID, within, webhooks.ListenScheme)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.Delivery, error) { return scanDelivery(r) })
	return list, wrap(err, "")
}

// Deliveries returns a page of an endpoint's delivery log, newest first.
func (db *DB) Deliveries(ctx context.Context, f webhooks.DeliveryFilter) ([]*webhooks.Delivery, *webhooks.Cursor, error) {
	args := []any{f.OrganizationID, f.EndpointID, f.Limit + 1, f.Status, f.EventType, f.EventTypes}
	where := ` AND ($4 = '' OR status = $4) AND ($5 = '' OR event_type = $5) AND ($6::text[] IS NULL OR event_type = ANY ($6))`
	if f.Cursor != nil {
		where += ` AND (created_at, id) < ($7, $8)`
		args = append(args, f.Cursor.CreatedAt, f.Cursor.ID)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE organization_id = $1 AND endpoint_id = $2`+where+` ORDER BY created_at DESC, id DESC LIMIT $3`, args...)
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	return page(list, f.Limit, func(d *webhooks.Delivery) webhooks.Cursor { return webhooks.Cursor{CreatedAt: d.CreatedAt, ID: d.ID} })
}

// RetryDelivery makes delivery id of orgID due now for one more attempt, as
// webhooks.RetryNow decides from its status, and returns it: a held one
// becomes its endpoint's probe (the circuit half-open, waiting for it).
// Returns ENOTFOUND if it is not theirs.
func (db *DB) RetryDelivery(ctx context.Context, orgID, id string) (*webhooks.Delivery, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	var status, endpointID string
	err = tx.QueryRow(ctx, `SELECT status, endpoint_id FROM deliveries WHERE id = $1 AND organization_id = $2 FOR UPDATE`,
		id, orgID).Scan(&status, &endpointID)
	if err != nil {
		return nil, wrap(err, "Delivery")
	}
	r := webhooks.RetryNow(status)
	if r.Probe {
		if _, err := tx.Exec(ctx, `UPDATE endpoints SET circuit_state = 'half_open', probe_delivery_id = $2, probe_at = now()
			WHERE id = $1 AND circuit_state <> 'closed'`, endpointID, id); err != nil {
			return nil, wrap(err, "")
		}
	}
	d, err := scanDelivery(tx.QueryRow(ctx, `UPDATE deliveries SET status = $2, manual = $3, next_attempt_at = now(),
		completed_at = NULL, updated_at = now() WHERE id = $1 RETURNING `+deliveryColumns, id, r.Status, r.Manual))
	if err != nil {
		return nil, wrap(err, "")
	}
	return d, wrap(tx.Commit(ctx), "")
}

// ReplayFailed makes the failed deliveries of endpoint endpointID created in
// [since, until), of one of types (nil: any), due now for one more attempt
// each, and returns their ids.
func (db *DB) ReplayFailed(ctx context.Context, orgID, endpointID string, since, until time.Time, types []string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `UPDATE deliveries SET status = 'pending', manual = true,
		next_attempt_at = now(), completed_at = NULL, updated_at = now()
		WHERE organization_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3 AND created_at < $4
			AND ($5::text[] IS NULL OR event_type = ANY ($5))
		RETURNING id`, orgID, endpointID, since, until, types)
	if err != nil {
		return nil, wrap(err, "")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "")
}

// prefixed qualifies each of the comma-separated columns with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
