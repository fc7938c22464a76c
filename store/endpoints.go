package store

import (
	"context"
	"encoding/json"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const endpointColumns = `id, organization_id, url, description, events, enabled, disabled_reason, disabled_at,
	max_retries, retry_window_seconds, secret, previous_secret, previous_secret_expires_at,
	last_ping_ok_at, created_at, updated_at, rate_limit_per_second, deleted_at,
	circuit_state, circuit_since, consecutive_failures, failing_since, probe_at, probe_interval_ms, probe_delivery_id, circuit_version,
	release_head, headers, filter, ordered, last_ping_at, last_ping_error`

// scanEndpoint scans the columns lead into lead's destinations, then
// endpointColumns.
func (db *DB) scanEndpoint(row pgx.Row, lead ...any) (*webhooks.Endpoint, error) {
	var e webhooks.Endpoint
	var maxRetries, perSecond *int
	var windowSeconds, probeMS *int64
	var headers *string
	var filter []byte
	c := &e.Circuit
	err := row.Scan(append(lead, &e.ID, &e.OrganizationID, &e.URL, &e.Description, &e.Events, &e.Enabled, &e.DisabledReason, &e.DisabledAt,
		&maxRetries, &windowSeconds, &e.Secret, &e.PreviousSecret, &e.PreviousSecretExpiresAt,
		&e.LastPingOKAt, &e.CreatedAt, &e.UpdatedAt, &perSecond, &e.DeletedAt,
		&c.State, &c.Since, &c.Failures, &c.FailingSince, &c.ProbeAt, &probeMS, &c.ProbeDeliveryID, &c.Version,
		&c.Releasing, &headers, &filter, &e.Ordered, &e.LastPingAt, &e.LastPingError)...)
	if err != nil {
		return nil, err
	}
	if probeMS != nil {
		c.ProbeInterval = time.Duration(*probeMS) * time.Millisecond
	}
	e.Health = c.Health(0)
	if maxRetries != nil && windowSeconds != nil {
		e.RetryPolicy = &webhooks.RetryPolicy{MaxRetries: *maxRetries, Window: webhooks.Duration(time.Duration(*windowSeconds) * time.Second)}
	}
	if perSecond != nil {
		e.RateLimit = &webhooks.RateLimit{PerSecond: *perSecond}
	}
	if err := db.openSecrets(&e); err != nil {
		return nil, err
	}
	if filter != nil {
		e.Filter = webhooks.Filter(filter)
	}
	e.Headers, err = db.openHeaders(headers)
	return &e, err
}

// filterColumns are the filter and filter_path columns of f (valid: the
// endpoint was validated); both NULL for no filter.
func filterColumns(f webhooks.Filter) (filter, path *string) {
	compiled, err := webhooks.CompileFilter(f)
	if err != nil || compiled == "" {
		return nil, nil
	}
	raw := string(f)
	return &raw, &compiled
}

// sealHeaders is the headers column of h: a sealed JSON object, or NULL.
func (db *DB) sealHeaders(h map[string]string) *string {
	if len(h) == 0 {
		return nil
	}
	b, _ := json.Marshal(h)
	sealed := db.keys.seal(string(b))
	return &sealed
}

// openHeaders reads the headers column; never nil.
func (db *DB) openHeaders(stored *string) (map[string]string, error) {
	h := map[string]string{}
	if stored == nil {
		return h, nil
	}
	plain, err := db.keys.open(*stored)
	if err != nil {
		return nil, err
	}
	return h, json.Unmarshal([]byte(plain), &h)
}

func rateColumn(r *webhooks.RateLimit) *int {
	if r == nil {
		return nil
	}
	return &r.PerSecond
}

// openSecrets decrypts an endpoint's secrets as read from its row.
func (db *DB) openSecrets(e *webhooks.Endpoint) error {
	var err error
	if e.Secret, err = db.keys.open(e.Secret); err != nil {
		return err
	}
	if e.PreviousSecret != nil {
		prev, err := db.keys.open(*e.PreviousSecret)
		if err != nil {
			return err
		}
		e.PreviousSecret = &prev
	}
	return nil
}

func policyColumns(p *webhooks.RetryPolicy) (*int, *int64) {
	if p == nil {
		return nil, nil
	}
	secs := int64(time.Duration(p.Window) / time.Second)
	return &p.MaxRetries, &secs
}

// CreateEndpoint stores e with a fresh id and secret; e must be valid.
func (db *DB) CreateEndpoint(ctx context.Context, e *webhooks.Endpoint) error {
	e.ID, e.Secret = uuid.NewString(), webhooks.NewSecret()
	return db.insertEndpoint(ctx, e)
}

// CreateListenEndpoint stores e as a listen session's endpoint, with a fresh id,
// the secret it has (the CLI's own, checked by the caller) or a fresh one, and
// webhooks.ListenURL of its id as its URL.
func (db *DB) CreateListenEndpoint(ctx context.Context, e *webhooks.Endpoint) error {
	e.ID = uuid.NewString()
	e.URL = webhooks.ListenURL(e.ID)
	if e.Secret == "" {
		e.Secret = webhooks.NewSecret()
	}
	return db.insertEndpoint(ctx, e)
}

func (db *DB) insertEndpoint(ctx context.Context, e *webhooks.Endpoint) error {
	e.Enabled = true
	e.Health = webhooks.Health{State: webhooks.CircuitClosed}
	maxRetries, window := policyColumns(e.RetryPolicy)
	filter, path := filterColumns(e.Filter)
	err := db.pool.QueryRow(ctx, `INSERT INTO endpoints
		(id, organization_id, url, description, events, secret, max_retries, retry_window_seconds, rate_limit_per_second, headers,
			filter, filter_path, ordered)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonpath, $13) RETURNING created_at, updated_at, filter`,
		e.ID, e.OrganizationID, e.URL, e.Description, e.Events, db.keys.seal(e.Secret), maxRetries, window, rateColumn(e.RateLimit),
		db.sealHeaders(e.Headers), filter, path, e.Ordered,
	).Scan(&e.CreatedAt, &e.UpdatedAt, (*[]byte)(&e.Filter))
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	if violates(err, "endpoints_organization_id_fkey") {
		return webhooks.Errorf(webhooks.ENOTFOUND, "Organization not found.")
	}
	return wrap(err, "")
}

// Endpoint returns endpoint id of orgID. Returns ENOTFOUND if it does not exist,
// was deleted, or belongs to another organization.
func (db *DB) Endpoint(ctx context.Context, orgID, id string) (*webhooks.Endpoint, error) {
	e, err := db.scanEndpoint(db.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL`, id, orgID))
	return e, wrap(err, "Webhook")
}

// EndpointByID returns endpoint id as it is now, a tombstone included (the
// worker's fresh read of a circuit). Returns ENOTFOUND once it is purged.
func (db *DB) EndpointByID(ctx context.Context, id string) (*webhooks.Endpoint, error) {
	e, err := db.scanEndpoint(db.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id = $1`, id))
	return e, wrap(err, "Webhook")
}

// Endpoints returns a page of an organization's endpoints, newest first, and the
// cursor of the next page (nil on the last one). within, when not nil, keeps
// only the endpoints whose every subscription is one of it
// (webhooks.Principal.Subscriptions). Listen sessions' endpoints are not
// listed: they are the CLI's, not the organization's webhooks.
func (db *DB) Endpoints(ctx context.Context, orgID string, after *webhooks.Cursor, limit int, within []string) ([]*webhooks.Endpoint, *webhooks.Cursor, error) {
	args := []any{orgID, limit + 1, within, webhooks.ListenScheme}
	where := ` AND deleted_at IS NULL AND ($3::text[] IS NULL OR events <@ $3) AND NOT starts_with(url, $4)`
	if after != nil {
		where += ` AND (created_at, id) < ($5, $6)`
		args = append(args, after.CreatedAt, after.ID)
	}
	rows, err := db.pool.Query(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE organization_id = $1`+where+` ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.Endpoint, error) { return db.scanEndpoint(r) })
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	return page(list, limit, func(e *webhooks.Endpoint) webhooks.Cursor { return webhooks.Cursor{CreatedAt: e.CreatedAt, ID: e.ID} })
}

// page cuts a list fetched with limit+1 rows to limit and returns the next cursor.
func page[T any](list []T, limit int, cursor func(T) webhooks.Cursor) ([]T, *webhooks.Cursor, error) {
	if len(list) <= limit {
		return list, nil, nil
	}
	list = list[:limit]
	next := cursor(list[limit-1])
	return list, &next, nil
}

// UpdateEndpoint applies u to endpoint id of orgID after validate accepts the
// result, and returns it with whether it was enabled before, and whether held
// deliveries wait to be released (the caller starts the release: a circuit
// task). Enabling a disabled endpoint closes its circuit and does with its
// deliveries what webhooks.Reenabling says of u.Replay.
func (db *DB) UpdateEndpoint(ctx context.Context, orgID, id string, u *webhooks.EndpointUpdate, validate func(*webhooks.Endpoint) error) (e *webhooks.Endpoint, wasEnabled, release bool, err error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, false, false, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	e, err = db.scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL FOR UPDATE`, id, orgID))
	if err != nil {
		return nil, false, false, wrap(err, "Webhook")
	}
	wasEnabled = e.Enabled
	if u.Replay != nil && wasEnabled {
		return nil, false, false, webhooks.Invalid(webhooks.FieldError{Field: "replay", Message: "only when enabling a disabled webhook"})
	}
	disabledAt := e.DisabledAt
	u.Apply(e)
	if err := validate(e); err != nil {
		return nil, false, false, err
	}
	if !wasEnabled && e.Enabled {
		replay := ""
		if u.Replay != nil {
			replay = *u.Replay
		}
		r := webhooks.Reenabling(replay, e.Circuit.FailingSince, disabledAt, time.Now())
		if err := reenable(ctx, tx, e, r); err != nil {
			return nil, false, false, wrap(err, "")
		}
		release = r.ReleaseHeld
	}
	maxRetries, window := policyColumns(e.RetryPolicy)
	filter, path := filterColumns(e.Filter)
	e, err = db.scanEndpoint(tx.QueryRow(ctx, `UPDATE endpoints SET url = $2, description = $3, events = $4, enabled = $5,
		disabled_reason = $6, max_retries = $7, retry_window_seconds = $8, rate_limit_per_second = $9, headers = $10,
		filter = $11::jsonb, filter_path = $12::jsonpath, ordered = $13, updated_at = now(),
		disabled_at = CASE WHEN NOT $5 THEN coalesce(disabled_at, now()) END
		WHERE id = $1 RETURNING `+endpointColumns,
		e.ID, e.URL, e.Description, e.Events, e.Enabled, e.DisabledReason, maxRetries, window, rateColumn(e.RateLimit),
		db.sealHeaders(e.Headers), filter, path, e.Ordered))
	if err != nil {
		return nil, false, false, wrap(err, "")
	}
	return e, wasEnabled, release, wrap(tx.Commit(ctx), "")
}

// reenable closes the circuit of e, which is being enabled again, and does
// with its deliveries what r says: the failed ones to send again are held
// (manual: one attempt each, as a replay), to be released with the rest in
// their original order at the breaker's rate; or what was held fails.
func reenable(ctx context.Context, tx pgx.Tx, e *webhooks.Endpoint, r webhooks.Reenable) error {
	b := &pgx.Batch{}
	if r.ReplayFailed != nil {
		b.Queue(`WITH d AS (
				UPDATE deliveries SET status = 'held', manual = true, next_attempt_at = NULL, completed_at = NULL, updated_at = now()
				WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2::timestamptz - interval '7 days' AND completed_at >= $2::timestamptz
				RETURNING endpoint_id, created_at, id, ordering_key, event_id
			)
			INSERT INTO open_deliveries (endpoint_id, created_at, delivery_id, ordering_key, event_id) SELECT * FROM d
			ON CONFLICT DO NOTHING`, e.ID, *r.ReplayFailed)
	}
	if !r.ReleaseHeld {
		b.Queue(`WITH d AS (
				UPDATE deliveries d SET status = 'failed', completed_at = now(), updated_at = now(),
					last_error = 'held while the endpoint was off; not sent when it was enabled again (replay "none")'
				FROM open_deliveries o
				WHERE o.endpoint_id = $1 AND d.id = o.delivery_id AND d.created_at = o.created_at AND d.status = 'held'
				RETURNING d.endpoint_id, d.created_at, d.id
			)
			DELETE FROM open_deliveries o USING d
			WHERE o.endpoint_id = d.endpoint_id AND o.created_at = d.created_at AND o.delivery_id = d.id`, e.ID)
	}
	b.Queue(`UPDATE endpoints SET release_head = NULL WHERE id = $1`, e.ID) // a release begins anew
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	e.Circuit.Releasing = nil
	step := webhooks.Breaker{}.Reset(e.Circuit, time.Now())
	if !step.Changed {
		return nil
	}
	_, err := applyCircuit(ctx, tx, e.ID, e.Circuit.Version, step.Next)
	e.Circuit, e.Health = step.Next, step.Next.Health(0)
	return err
}

// DeleteEndpoint deletes endpoint id of orgID: a tombstone, and every delivery
// of it that is not final fails, in one transaction — nothing is sent to it
// once this returns (an attempt takes its delivery only while it is open, and
// finds the tombstone on the endpoint it reads). Its row is purged with its
// history (PurgeDeleted). Returns ENOTFOUND if it does not exist.
func (db *DB) DeleteEndpoint(ctx context.Context, orgID, id string) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return wrap(err, "")
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `UPDATE endpoints SET deleted_at = now(), enabled = false, updated_at = now()
		WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL`, id, orgID)
	if err != nil {
		return wrap(err, "")
	}
	if tag.RowsAffected() == 0 {
		return webhooks.Errorf(webhooks.ENOTFOUND, "Webhook not found.")
	}
	if err := cancelOpen(ctx, tx, id, "the webhook was deleted"); err != nil {
		return wrap(err, "")
	}
	return wrap(tx.Commit(ctx), "")
}

// cancelOpen fails every delivery of endpoint id that is not final, saying why.
func cancelOpen(ctx context.Context, tx pgx.Tx, id, reason string) error {
	_, err := tx.Exec(ctx, `WITH o AS (
			DELETE FROM open_deliveries WHERE endpoint_id = $1 RETURNING created_at, delivery_id
		)
		UPDATE deliveries d SET status = 'failed', last_error = $2, next_attempt_at = NULL, lease_until = NULL,
			completed_at = now(), updated_at = now()
		FROM o WHERE d.id = o.delivery_id AND d.created_at = o.created_at AND d.status = ANY ($3)`, id, reason, webhooks.OpenStatuses)
	return err
}

// PurgeDeleted removes the rows of endpoints deleted before cutoff — the
// retention period ago, when their history is gone with its partitions — and
// returns how many.
func (db *DB) PurgeDeleted(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM endpoints WHERE deleted_at < $1`, cutoff)
	if err != nil {
		return 0, wrap(err, "")
	}
	return tag.RowsAffected(), nil
}

// RotateSecret gives endpoint id a fresh secret; the old one keeps signing for
// grace. With no grace the old one is forgotten at once (a leaked secret), as is
// the secret of an earlier rotation still in its grace period.
func (db *DB) RotateSecret(ctx context.Context, orgID, id string, grace time.Duration) (*webhooks.Endpoint, error) {
	e, err := db.scanEndpoint(db.pool.QueryRow(ctx, `UPDATE endpoints SET
		previous_secret = CASE WHEN $3 > 0 THEN secret END,
		previous_secret_expires_at = CASE WHEN $3 > 0 THEN now() + make_interval(secs => $3) END,
		secret = $4, updated_at = now()
		WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL RETURNING `+endpointColumns,
		id, orgID, grace.Seconds(), db.keys.seal(webhooks.NewSecret())))
	return e, wrap(err, "Webhook")
}

// RecordPing notes the outcome of endpoint id's ping sent at t: failure says
// what went wrong, nil when it succeeded.
func (db *DB) RecordPing(ctx context.Context, id string, t time.Time, failure *string) error {
	_, err := db.pool.Exec(ctx, `UPDATE endpoints SET last_ping_at = $2, last_ping_error = $3,
		last_ping_ok_at = CASE WHEN $3::text IS NULL THEN $2 ELSE last_ping_ok_at END WHERE id = $1`, id, t, failure)
	return wrap(err, "")
}

// DisableEndpoint turns endpoint id off, saying why, and reports whether it was
// enabled until now (false: already off, or deleted).
func (db *DB) DisableEndpoint(ctx context.Context, id, reason string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE endpoints SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
		WHERE id = $1 AND enabled`, id, reason)
	if err != nil {
		return false, wrap(err, "")
	}
	return tag.RowsAffected() == 1, nil
}

// AddStats sets the Stats of each endpoint, and its held deliveries, from its
// deliveries, in one query.
func (db *DB) AddStats(ctx context.Context, endpoints ...*webhooks.Endpoint) error {
	if len(endpoints) == 0 {
		return nil
	}
	ids := make([]string, len(endpoints))
	byID := make(map[string]*webhooks.Endpoint, len(endpoints))
	for i, e := range endpoints {
		ids[i], byID[e.ID] = e.ID, e
	}
	rows, err := db.read.Query(ctx, `SELECT e.id, last.status, last.updated_at, coalesce(day.tried, 0), coalesce(day.ok, 0),
			(SELECT count(*) FROM open_deliveries o JOIN deliveries d ON d.id = o.delivery_id AND d.created_at = o.created_at
				WHERE o.endpoint_id = e.id AND d.status = 'held')
		FROM unnest($1::uuid[]) AS e(id)
		LEFT JOIN LATERAL (SELECT status, updated_at FROM deliveries d WHERE d.endpoint_id = e.id
			ORDER BY created_at DESC, id DESC LIMIT 1) last ON true
		LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed') OR attempts > 0) AS tried,
				count(*) FILTER (WHERE status = 'succeeded') AS ok
			FROM deliveries d WHERE d.endpoint_id = e.id AND d.created_at > now() - interval '24 hours') day ON true`, ids)
	if err != nil {
		return wrap(err, "")
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var status *string
		var at *time.Time
		var tried, ok, held int
		if err := rows.Scan(&id, &status, &at, &tried, &ok, &held); err != nil {
			return wrap(err, "")
		}
		e := byID[id]
		e.Stats = webhooks.NewEndpointStats(at, status, tried, ok)
		e.Health = e.Circuit.Health(held)
	}
	return wrap(rows.Err(), "")
}

// TargetIDs returns the ids of orgID's endpoints a trigger may go to: its
// listen sessions read within live (when listen), else its webhooks whose
// every subscription is among within (nil: all of them).
func (db *DB) TargetIDs(ctx context.Context, orgID string, listen bool, live time.Duration, within []string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id::text FROM endpoints WHERE organization_id = $1
		AND deleted_at IS NULL AND CASE WHEN $2 THEN starts_with(url, $3) AND updated_at > now() - make_interval(secs => $4)
			ELSE NOT starts_with(url, $3) AND ($5::text[] IS NULL OR events <@ $5) END`,
		orgID, listen, webhooks.ListenScheme, live.Seconds(), within)
	if err != nil {
		return nil, wrap(err, "")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "")
}

// TouchListenSession notes that listen session id's stream is being read.
func (db *DB) TouchListenSession(ctx context.Context, id string) error {
	_, err := db.pool.Exec(ctx, `UPDATE endpoints SET updated_at = now() WHERE id = $1 AND url = $2`, id, webhooks.ListenURL(id))
	return wrap(err, "")
}

// DeleteAbandonedListenSessions deletes, as DeleteEndpoint does, the listen
// sessions' endpoints whose stream nobody read for longer than idle, and
// returns how many.
func (db *DB) DeleteAbandonedListenSessions(ctx context.Context, idle time.Duration) (int, error) {
	rows, err := db.pool.Query(ctx, `SELECT id::text, organization_id::text FROM endpoints
		WHERE starts_with(url, $1) AND deleted_at IS NULL AND updated_at < now() - make_interval(secs => $2)`,
		webhooks.ListenScheme, idle.Seconds())
	if err != nil {
		return 0, wrap(err, "")
	}
	var ids, orgs []string
	var id, org string
	if _, err := pgx.ForEachRow(rows, []any{&id, &org}, func() error { ids, orgs = append(ids, id), append(orgs, org); return nil }); err != nil {
		return 0, wrap(err, "")
	}
	for i := range ids {
		if err := db.DeleteEndpoint(ctx, orgs[i], ids[i]); err != nil && webhooks.ErrorCode(err) != webhooks.ENOTFOUND {
			return i, err
		}
	}
	return len(ids), nil
}
