package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// byID is the condition and arguments that find a row of a table partitioned
// by created_at (column prefix p) by its id alone: an id made since round 3
// carries its creation time (webhooks.IDTime), which names the one partition
// to look in; an older id is looked for in every partition. The arguments
// start at $n.
func byID(p, id string, n int) (string, []any) {
	if t, ok := webhooks.IDTime(id); ok {
		return p + "id = $" + strconv.Itoa(n) + " AND " + p + "created_at = $" + strconv.Itoa(n+1), []any{id, t}
	}
	return p + "id = $" + strconv.Itoa(n), []any{id}
}

const deliveryColumns = `id, created_at, organization_id, event_id, endpoint_id, event_type, status, attempts,
	next_attempt_at, last_status_code, last_error, updated_at, completed_at, ordering_key`

func scanDelivery(row pgx.Row) (*webhooks.Delivery, error) {
	var d webhooks.Delivery
	err := row.Scan(&d.ID, &d.CreatedAt, &d.OrganizationID, &d.EventID, &d.EndpointID, &d.EventType, &d.Status, &d.Attempts,
		&d.NextAttemptAt, &d.LastStatusCode, &d.LastError, &d.UpdatedAt, &d.CompletedAt, &d.OrderingKey)
	return &d, err
}

// FailDelivery makes a delivery that is not final failed without an attempt,
// saying why (its task was given up by asynq after repeated interruptions).
func (db *DB) FailDelivery(ctx context.Context, id string, createdAt time.Time, reason string) error {
	_, err := db.pool.Exec(ctx, `WITH d AS (
			UPDATE deliveries SET status = 'failed', last_error = $3, next_attempt_at = NULL, lease_until = NULL,
				manual = false, completed_at = now(), updated_at = now()
			WHERE id = $1 AND created_at = $2 AND status = ANY ($4)
			RETURNING endpoint_id, created_at, id
		)
		DELETE FROM open_deliveries o USING d WHERE o.endpoint_id = d.endpoint_id AND o.created_at = d.created_at AND o.delivery_id = d.id`,
		id, createdAt, reason, webhooks.OpenStatuses)
	return wrap(err, "")
}

// Delivery returns delivery id of orgID with every attempt, oldest first, and the
// URL, body and custom headers its attempts send (in Request; the caller adds
// the service's headers). A deleted endpoint's deliveries are not found.
func (db *DB) Delivery(ctx context.Context, orgID, id string) (*webhooks.Delivery, error) {
	var d webhooks.Delivery
	var url, envelope string
	var headers *string
	cond, args := byID("d.", id, 2)
	err := db.read.QueryRow(ctx, `SELECT `+prefixed("d.", deliveryColumns)+`, e.url, ev.envelope, e.headers
		FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id AND e.deleted_at IS NULL
		JOIN events ev ON ev.id = d.event_id AND ev.created_at = d.created_at
		WHERE d.organization_id = $1 AND `+cond, append([]any{orgID}, args...)...).Scan(
		&d.ID, &d.CreatedAt, &d.OrganizationID, &d.EventID, &d.EndpointID, &d.EventType, &d.Status, &d.Attempts,
		&d.NextAttemptAt, &d.LastStatusCode, &d.LastError, &d.UpdatedAt, &d.CompletedAt, &d.OrderingKey, &url, &envelope, &headers)
	if err != nil {
		return nil, wrap(err, "Delivery")
	}
	d.Request = &webhooks.Request{Method: "POST", URL: url, Body: json.RawMessage(envelope)}
	if d.Request.Headers, err = db.openHeaders(headers); err != nil {
		return nil, err
	}
	rows, err := db.read.Query(ctx, `SELECT number, started_at, duration_ms, status_code, response_body, error, response_headers
		FROM attempts WHERE delivery_id = $1 AND delivery_created_at = $2 ORDER BY number`, d.ID, d.CreatedAt)
	if err != nil {
		return nil, wrap(err, "")
	}
	d.AttemptLog, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Attempt, error) {
		var a webhooks.Attempt
		err := r.Scan(&a.Number, &a.StartedAt, &a.DurationMS, &a.StatusCode, &a.ResponseBody, &a.Error, &a.ResponseHeaders)
		return a, err
	})
	return &d, wrap(err, "")
}

// EventDeliveries returns the deliveries of event ev to its organization's
// webhooks, oldest first (not to listen sessions, nor deleted endpoints);
// within, when not nil, keeps those to endpoints whose every subscription is
// one of it (see Endpoints). An event's deliveries share its created_at.
func (db *DB) EventDeliveries(ctx context.Context, ev *webhooks.Event, within []string) ([]*webhooks.Delivery, error) {
	rows, err := db.read.Query(ctx, `SELECT `+prefixed("d.", deliveryColumns)+` FROM deliveries d
		JOIN endpoints e ON e.id = d.endpoint_id AND e.deleted_at IS NULL
		WHERE d.created_at = $1 AND d.event_id = $2 AND d.organization_id = $3 AND ($4::text[] IS NULL OR e.events <@ $4)
			AND NOT starts_with(e.url, $5)
		ORDER BY d.id`, ev.ReceivedAt, ev.ID, ev.OrganizationID, within, webhooks.ListenScheme)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.Delivery, error) { return scanDelivery(r) })
	return list, wrap(err, "")
}

// Deliveries returns a page of an endpoint's delivery log, newest first.
func (db *DB) Deliveries(ctx context.Context, f webhooks.DeliveryFilter) ([]*webhooks.Delivery, *webhooks.Cursor, error) {
	args := []any{f.OrganizationID, f.EndpointID, f.Limit + 1, f.Status, f.EventType, f.EventTypes, f.Since, f.Until}
	where := ` AND ($4 = '' OR status = $4) AND ($5 = '' OR event_type = $5) AND ($6::text[] IS NULL OR event_type = ANY ($6))
		AND ($7::timestamptz IS NULL OR created_at >= $7) AND ($8::timestamptz IS NULL OR created_at < $8)`
	if f.EventID != "" {
		// An event's deliveries share its created_at, which a UUIDv7 id carries:
		// one partition, one range of the endpoint's index.
		where += fmt.Sprintf(` AND event_id = $%d`, len(args)+1)
		args = append(args, f.EventID)
		if t, ok := webhooks.IDTime(f.EventID); ok {
			where += fmt.Sprintf(` AND created_at = $%d`, len(args)+1)
			args = append(args, t)
		}
	}
	if f.Cursor != nil {
		where += fmt.Sprintf(` AND (created_at, id) < ($%d, $%d)`, len(args)+1, len(args)+2)
		args = append(args, f.Cursor.CreatedAt, f.Cursor.ID)
	}
	rows, err := db.read.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries
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

// RetryDelivery makes delivery d (as read: its status, endpoint and
// created_at) due now for one more attempt, as r (webhooks.RetryNow) decides,
// and returns it as it is now; a final one is open again. Returns ENOTFOUND if
// it is gone.
func (db *DB) RetryDelivery(ctx context.Context, d *webhooks.Delivery, r webhooks.ManualRetry) (*webhooks.Delivery, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	out, err := scanDelivery(tx.QueryRow(ctx, `UPDATE deliveries SET status = $3, manual = $4, next_attempt_at = now(),
		completed_at = NULL, updated_at = now() WHERE id = $1 AND created_at = $2 RETURNING `+deliveryColumns,
		d.ID, d.CreatedAt, r.Status, r.Manual))
	if err != nil {
		return nil, wrap(err, "Delivery")
	}
	if _, err := tx.Exec(ctx, `INSERT INTO open_deliveries (endpoint_id, created_at, delivery_id, ordering_key, event_id)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, out.EndpointID, out.CreatedAt, out.ID, out.OrderingKey, out.EventID); err != nil {
		return nil, wrap(err, "")
	}
	return out, wrap(tx.Commit(ctx), "")
}

// ReplayFailed makes the failed deliveries of endpoint endpointID created in
// [since, until), of one of types (nil: any), due now for one more attempt
// each (open again), and returns them.
func (db *DB) ReplayFailed(ctx context.Context, orgID, endpointID string, since, until time.Time, types []string) ([]webhooks.Delivery, error) {
	rows, err := db.pool.Query(ctx, `WITH d AS (
			UPDATE deliveries SET status = 'pending', manual = true, next_attempt_at = now(), completed_at = NULL, updated_at = now()
			WHERE organization_id = $1 AND endpoint_id = $2 AND status = 'failed' AND created_at >= $3 AND created_at < $4
				AND ($5::text[] IS NULL OR event_type = ANY ($5))
			RETURNING id, created_at, endpoint_id, ordering_key, event_id
		), o AS (
			INSERT INTO open_deliveries (endpoint_id, created_at, delivery_id, ordering_key, event_id)
			SELECT endpoint_id, created_at, id, ordering_key, event_id FROM d
			ON CONFLICT DO NOTHING
		)
		SELECT id::text, created_at FROM d`, orgID, endpointID, since, until, types)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Delivery, error) {
		var d webhooks.Delivery
		return d, r.Scan(&d.ID, &d.CreatedAt)
	})
	return list, wrap(err, "")
}

// prefixed qualifies each of the comma-separated columns with prefix.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// Locate returns the created_at of delivery id, its day partition, looking in
// every partition: for a task made before round 3, which names the delivery
// by its id alone. Returns ENOTFOUND if it is gone.
func (db *DB) Locate(ctx context.Context, id string) (time.Time, error) {
	var t time.Time
	err := db.pool.QueryRow(ctx, `SELECT created_at FROM deliveries WHERE id = $1`, id).Scan(&t)
	return t, wrap(err, "Delivery")
}
