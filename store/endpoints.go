package store

import (
	"context"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

const endpointColumns = `id, organization_id, url, description, events, enabled, disabled_reason,
	max_retries, retry_window_seconds, secret, previous_secret, previous_secret_expires_at,
	last_ping_ok_at, created_at, updated_at, rate_limit_per_second,
	circuit_state, circuit_since, consecutive_failures, probe_at, probe_delivery_id`

// scanEndpoint scans endpointColumns, then the columns after them into extra.
func (db *DB) scanEndpoint(row pgx.Row, extra ...any) (*webhooks.Endpoint, error) {
	var e webhooks.Endpoint
	var maxRetries, perSecond *int
	var windowSeconds *int64
	err := row.Scan(append([]any{&e.ID, &e.OrganizationID, &e.URL, &e.Description, &e.Events, &e.Enabled, &e.DisabledReason,
		&maxRetries, &windowSeconds, &e.Secret, &e.PreviousSecret, &e.PreviousSecretExpiresAt,
		&e.LastPingOKAt, &e.CreatedAt, &e.UpdatedAt, &perSecond,
		&e.Health.State, &e.Health.Since, &e.Health.ConsecutiveFailures, &e.Health.NextProbeAt, &e.Health.ProbeDeliveryID}, extra...)...)
	if err != nil {
		return nil, err
	}
	e.Health.NextProbeAt = nextProbe(e.Health.State, e.Health.NextProbeAt)
	if maxRetries != nil && windowSeconds != nil {
		e.RetryPolicy = &webhooks.RetryPolicy{MaxRetries: *maxRetries, Window: webhooks.Duration(time.Duration(*windowSeconds) * time.Second)}
	}
	if perSecond != nil {
		e.RateLimit = &webhooks.RateLimit{PerSecond: *perSecond}
	}
	return &e, db.openSecrets(&e)
}

// nextProbe is when the next probe of a circuit in state goes, from its
// probe_at column: only an open circuit has one.
func nextProbe(state string, probeAt *time.Time) *time.Time {
	if state != webhooks.CircuitOpen {
		return nil
	}
	return probeAt
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
	e.ID = uuid.NewString()
	return db.insertEndpoint(ctx, e)
}

// CreateListenEndpoint stores e as a listen session's endpoint, with a fresh id
// and secret, and webhooks.ListenURL of its id as its URL.
func (db *DB) CreateListenEndpoint(ctx context.Context, e *webhooks.Endpoint) error {
	e.ID = uuid.NewString()
	e.URL = webhooks.ListenURL(e.ID)
	return db.insertEndpoint(ctx, e)
}

func (db *DB) insertEndpoint(ctx context.Context, e *webhooks.Endpoint) error {
	e.Secret = webhooks.NewSecret()
	e.Enabled = true
	e.Health = webhooks.Health{State: webhooks.CircuitClosed}
	maxRetries, window := policyColumns(e.RetryPolicy)
	err := db.pool.QueryRow(ctx, `INSERT INTO endpoints
		(id, organization_id, url, description, events, secret, max_retries, retry_window_seconds, rate_limit_per_second)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING created_at, updated_at`,
		e.ID, e.OrganizationID, e.URL, e.Description, e.Events, db.keys.seal(e.Secret), maxRetries, window, rateColumn(e.RateLimit),
	).Scan(&e.CreatedAt, &e.UpdatedAt)
	if violates(err, "endpoints_organization_id_fkey") {
		return webhooks.Errorf(webhooks.ENOTFOUND, "Organization not found.")
	}
	return wrap(err, "")
}

// Endpoint returns endpoint id of orgID. Returns ENOTFOUND if it does not exist or
// belongs to another organization.
func (db *DB) Endpoint(ctx context.Context, orgID, id string) (*webhooks.Endpoint, error) {
	e, err := db.scanEndpoint(db.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE id = $1 AND organization_id = $2`, id, orgID))
	return e, wrap(err, "Webhook")
}

// Endpoints returns a page of an organization's endpoints, newest first, and the
// cursor of the next page (nil on the last one). within, when not nil, keeps
// only the endpoints whose every subscription is one of it
// (webhooks.Principal.Subscriptions). Listen sessions' endpoints are not
// listed: they are the CLI's, not the organization's webhooks.
func (db *DB) Endpoints(ctx context.Context, orgID string, after *webhooks.Cursor, limit int, within []string) ([]*webhooks.Endpoint, *webhooks.Cursor, error) {
	args := []any{orgID, limit + 1, within, webhooks.ListenScheme}
	where := ` AND ($3::text[] IS NULL OR events <@ $3) AND NOT starts_with(url, $4)`
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
// result, and returns it with whether it was enabled before. Enabling a
// disabled endpoint closes its circuit and, as u.Replay says, releases what was
// held (webhooks.ReplayHeld, the default), also sends once more what failed
// since its failures began or it was disabled (ReplayHeldAndFailed), or fails
// what was held (ReplayNone).
func (db *DB) UpdateEndpoint(ctx context.Context, orgID, id string, u *webhooks.EndpointUpdate, validate func(*webhooks.Endpoint) error) (e *webhooks.Endpoint, wasEnabled bool, err error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, false, wrap(err, "")
	}
	defer tx.Rollback(ctx)
	e, err = db.scanEndpoint(tx.QueryRow(ctx, `SELECT `+endpointColumns+` FROM endpoints
		WHERE id = $1 AND organization_id = $2 FOR UPDATE`, id, orgID))
	if err != nil {
		return nil, false, wrap(err, "Webhook")
	}
	wasEnabled = e.Enabled
	if u.Replay != nil && wasEnabled {
		return nil, false, webhooks.Invalid(webhooks.FieldError{Field: "replay", Message: "only when enabling a disabled webhook"})
	}
	u.Apply(e)
	if err := validate(e); err != nil {
		return nil, false, err
	}
	if !wasEnabled && e.Enabled {
		if err := enableAgain(ctx, tx, id, u.Replay); err != nil {
			return nil, false, wrap(err, "")
		}
	}
	maxRetries, window := policyColumns(e.RetryPolicy)
	e, err = db.scanEndpoint(tx.QueryRow(ctx, `UPDATE endpoints SET url = $2, description = $3, events = $4, enabled = $5,
		disabled_reason = $6, max_retries = $7, retry_window_seconds = $8, rate_limit_per_second = $9, updated_at = now(),
		disabled_at = CASE WHEN NOT $5 THEN coalesce(disabled_at, now()) END
		WHERE id = $1 RETURNING `+endpointColumns,
		e.ID, e.URL, e.Description, e.Events, e.Enabled, e.DisabledReason, maxRetries, window, rateColumn(e.RateLimit)))
	if err != nil {
		return nil, false, wrap(err, "")
	}
	return e, wasEnabled, wrap(tx.Commit(ctx), "")
}

// enableAgain closes the circuit of endpoint id, which is being enabled again,
// and does with its held and failed deliveries what replay says (see
// UpdateEndpoint). Deliveries to send again are held, with the breaker's
// release to send them in order at its rate; those that had failed get one
// attempt (manual), as a replay does.
func enableAgain(ctx context.Context, tx pgx.Tx, id string, replay *string) error {
	mode := webhooks.ReplayHeld
	if replay != nil {
		mode = *replay
	}
	b := &pgx.Batch{}
	if mode == webhooks.ReplayHeldAndFailed {
		b.Queue(`UPDATE deliveries d SET status = 'held', manual = true, next_attempt_at = NULL, completed_at = NULL, updated_at = now()
			FROM endpoints e WHERE e.id = $1 AND d.endpoint_id = e.id AND d.status = 'failed'
			AND d.completed_at >= coalesce(least(e.failing_since, e.disabled_at), now())`, id)
	}
	if mode == webhooks.ReplayNone {
		b.Queue(`UPDATE deliveries SET status = 'failed', completed_at = now(), updated_at = now(),
			last_error = 'held while the endpoint was off; not sent when it was enabled again (replay "none")'
			WHERE endpoint_id = $1 AND status = 'held'`, id)
	}
	b.Queue(`UPDATE endpoints SET circuit_state = 'closed', consecutive_failures = 0, failing_since = NULL,
		circuit_since = CASE WHEN circuit_state <> 'closed' THEN now() ELSE circuit_since END,
		probe_at = NULL, probe_interval_ms = NULL, probe_delivery_id = NULL, releasing = $2
		WHERE id = $1`, id, mode != webhooks.ReplayNone)
	return tx.SendBatch(ctx, b).Close()
}

// DeleteEndpoint removes endpoint id of orgID with its deliveries. Returns ENOTFOUND
// if it does not exist.
func (db *DB) DeleteEndpoint(ctx context.Context, orgID, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM endpoints WHERE id = $1 AND organization_id = $2`, id, orgID)
	if err != nil {
		return wrap(err, "")
	}
	if tag.RowsAffected() == 0 {
		return webhooks.Errorf(webhooks.ENOTFOUND, "Webhook not found.")
	}
	return nil
}

// RotateSecret gives endpoint id a fresh secret; the old one keeps signing for
// grace. With no grace the old one is forgotten at once (a leaked secret), as is
// the secret of an earlier rotation still in its grace period.
func (db *DB) RotateSecret(ctx context.Context, orgID, id string, grace time.Duration) (*webhooks.Endpoint, error) {
	e, err := db.scanEndpoint(db.pool.QueryRow(ctx, `UPDATE endpoints SET
		previous_secret = CASE WHEN $3 > 0 THEN secret END,
		previous_secret_expires_at = CASE WHEN $3 > 0 THEN now() + make_interval(secs => $3) END,
		secret = $4, updated_at = now()
		WHERE id = $1 AND organization_id = $2 RETURNING `+endpointColumns,
		id, orgID, grace.Seconds(), db.keys.seal(webhooks.NewSecret())))
	return e, wrap(err, "Webhook")
}

// RecordPing notes that endpoint id answered a ping successfully at t.
func (db *DB) RecordPing(ctx context.Context, id string, t time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE endpoints SET last_ping_ok_at = $2 WHERE id = $1`, id, t)
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
	rows, err := db.pool.Query(ctx, `SELECT e.id, last.status, last.updated_at, coalesce(day.final, 0), coalesce(day.ok, 0),
			(SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.status = 'held')
		FROM unnest($1::uuid[]) AS e(id)
		LEFT JOIN LATERAL (SELECT status, updated_at FROM deliveries d WHERE d.endpoint_id = e.id
			ORDER BY created_at DESC, id DESC LIMIT 1) last ON true
		LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE status IN ('succeeded', 'failed')) AS final,
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
		var final, ok, held int
		if err := rows.Scan(&id, &status, &at, &final, &ok, &held); err != nil {
			return wrap(err, "")
		}
		byID[id].Stats = webhooks.NewEndpointStats(at, status, final, ok)
		byID[id].Health.Held = held
	}
	return wrap(rows.Err(), "")
}

// TargetIDs returns the ids of orgID's endpoints a trigger may go to: its
// listen sessions read within live (when listen), else its webhooks whose
// every subscription is among within (nil: all of them).
func (db *DB) TargetIDs(ctx context.Context, orgID string, listen bool, live time.Duration, within []string) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id::text FROM endpoints WHERE organization_id = $1
		AND CASE WHEN $2 THEN starts_with(url, $3) AND updated_at > now() - make_interval(secs => $4)
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

// DeleteAbandonedListenSessions deletes the listen sessions' endpoints whose
// stream nobody read for longer than idle, and returns how many.
func (db *DB) DeleteAbandonedListenSessions(ctx context.Context, idle time.Duration) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM endpoints WHERE starts_with(url, $1) AND updated_at < now() - make_interval(secs => $2)`,
		webhooks.ListenScheme, idle.Seconds())
	if err != nil {
		return 0, wrap(err, "")
	}
	return tag.RowsAffected(), nil
}
