package store

import (
	"context"
	"errors"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// The circuit breaker's state lives on the endpoint's row (see webhooks.Breaker
// and migration 00007); every change of it is one conditional statement, so
// workers that race agree on who made it.

// Gate is what a delivery to an endpoint whose circuit was not closed when its
// job was loaded does now.
type Gate int

const (
	GateSend  Gate = iota // the circuit closed meanwhile: send as usual
	GateProbe             // send it as the circuit's probe
	GateHeld              // it was held: no attempt
)

// HoldOrProbe decides, under the endpoint's row lock, what delivery id of an
// endpoint whose circuit is not closed does: it becomes the probe when one is
// due (or is the probe already: a retried probe task), else it is held.
func (db *DB) HoldOrProbe(ctx context.Context, id, endpointID string) (Gate, error) {
	var probe, held bool
	err := db.pool.QueryRow(ctx, `WITH e AS (
			SELECT id, circuit_state, probe_delivery_id, probe_at FROM endpoints WHERE id = $2 FOR NO KEY UPDATE
		), p AS (
			UPDATE endpoints SET circuit_state = 'half_open', probe_delivery_id = $1, probe_at = now()
			FROM e WHERE endpoints.id = e.id AND e.circuit_state = 'open' AND e.probe_at <= now()
			RETURNING endpoints.id
		), h AS (
			UPDATE deliveries SET status = 'held', next_attempt_at = NULL, updated_at = now()
			WHERE id = $1 AND status IN ('pending', 'retrying') AND NOT EXISTS (SELECT 1 FROM p)
				AND EXISTS (SELECT 1 FROM e WHERE e.circuit_state = 'open'
					OR (e.circuit_state = 'half_open' AND e.probe_delivery_id IS DISTINCT FROM $1))
			RETURNING id
		)
		SELECT EXISTS (SELECT 1 FROM p) OR EXISTS (SELECT 1 FROM e WHERE circuit_state = 'half_open' AND probe_delivery_id = $1),
			EXISTS (SELECT 1 FROM h)`, id, endpointID).Scan(&probe, &held)
	switch {
	case err != nil:
		return GateSend, wrap(err, "")
	case probe:
		return GateProbe, nil
	case held:
		return GateHeld, nil
	}
	return GateSend, nil
}

// OpenCircuit opens the closed circuit of endpoint id when it has failed at
// least failures attempts in a row; the first probe is due after probe. It
// reports whether this call opened it, and when the probe is due.
func (db *DB) OpenCircuit(ctx context.Context, id string, failures int, probe time.Duration) (bool, time.Time, error) {
	var probeAt time.Time
	err := db.pool.QueryRow(ctx, `UPDATE endpoints SET circuit_state = 'open', circuit_since = now(),
			probe_interval_ms = $3::bigint, probe_at = now() + make_interval(secs => $3::bigint / 1000.0), probe_delivery_id = NULL, releasing = false
		WHERE id = $1 AND enabled AND circuit_state = 'closed' AND consecutive_failures >= $2
		RETURNING probe_at`, id, failures, probe.Milliseconds()).Scan(&probeAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, time.Time{}, nil
	}
	return err == nil, probeAt, wrap(err, "")
}

// CloseCircuit closes the circuit of endpoint id after a success, unless it is
// closed, and starts the release of what it held. It reports whether this call
// closed it, when the circuit had opened, and how many deliveries are held.
func (db *DB) CloseCircuit(ctx context.Context, id string) (closed bool, openedAt *time.Time, held int, err error) {
	err = db.pool.QueryRow(ctx, `WITH old AS (
			SELECT id, circuit_since FROM endpoints WHERE id = $1 AND circuit_state <> 'closed' FOR NO KEY UPDATE
		)
		UPDATE endpoints SET circuit_state = 'closed', circuit_since = now(), consecutive_failures = 0, failing_since = NULL,
			probe_at = NULL, probe_interval_ms = NULL, probe_delivery_id = NULL, releasing = true
		FROM old WHERE endpoints.id = old.id
		RETURNING old.circuit_since, (SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND status = 'held')`, id).Scan(&openedAt, &held)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil, 0, nil
	}
	return err == nil, openedAt, held, wrap(err, "")
}

// ReopenCircuit opens again the circuit of endpoint id after its probe, delivery
// probeID, failed: the wait before the next probe doubles, from first, up to
// most. It reports when the next probe is due (zero: the circuit had moved on).
func (db *DB) ReopenCircuit(ctx context.Context, id, probeID string, first, most time.Duration) (time.Time, error) {
	var probeAt time.Time
	err := db.pool.QueryRow(ctx, `UPDATE endpoints SET circuit_state = 'open', probe_delivery_id = NULL,
			probe_interval_ms = least(coalesce(probe_interval_ms * 2, $3::bigint), greatest($3::bigint, $4::bigint)),
			probe_at = now() + make_interval(secs => least(coalesce(probe_interval_ms * 2, $3::bigint), greatest($3::bigint, $4::bigint)) / 1000.0)
		WHERE id = $1 AND circuit_state = 'half_open' AND probe_delivery_id = $2
		RETURNING probe_at`, id, probeID, first.Milliseconds(), most.Milliseconds()).Scan(&probeAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	return probeAt, wrap(err, "")
}

// ClaimProbes makes the oldest held delivery of each enabled endpoint whose
// probe is due its probe, and pending again; it returns their ids, to be given
// tasks. A due endpoint with nothing held keeps waiting: its next delivery
// becomes the probe (HoldOrProbe).
func (db *DB) ClaimProbes(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `WITH due AS (
			SELECT e.id, (SELECT d.id FROM deliveries d WHERE d.endpoint_id = e.id AND d.status = 'held'
				ORDER BY d.created_at, d.id LIMIT 1) AS delivery_id
			FROM endpoints e WHERE e.circuit_state = 'open' AND e.enabled AND e.probe_at <= now()
		), p AS (
			UPDATE endpoints SET circuit_state = 'half_open', probe_delivery_id = due.delivery_id, probe_at = now()
			FROM due WHERE endpoints.id = due.id AND due.delivery_id IS NOT NULL AND endpoints.circuit_state = 'open'
			RETURNING due.delivery_id
		)
		UPDATE deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()
		WHERE id IN (SELECT delivery_id FROM p) AND status = 'held'
		RETURNING id::text`)
	if err != nil {
		return nil, wrap(err, "")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "")
}

// ReopenStuckProbes opens again the half-open circuits whose probe was sent
// more than after ago and is no longer on its way (its delivery ended some other
// way, or was deleted), so that a lost probe cannot keep a circuit half open.
func (db *DB) ReopenStuckProbes(ctx context.Context, after time.Duration) (int64, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE endpoints e SET circuit_state = 'open', probe_delivery_id = NULL, probe_at = now()
		WHERE e.circuit_state = 'half_open' AND e.probe_at < now() - make_interval(secs => $1)
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = e.probe_delivery_id AND d.status IN ('pending', 'retrying'))`,
		after.Seconds())
	return tag.RowsAffected(), wrap(err, "")
}

// Releasing is an endpoint whose closed circuit has held deliveries to release.
type Releasing struct {
	EndpointID string
	RateLimit  *webhooks.RateLimit
}

// ReleasingEndpoints returns the enabled endpoints releasing held deliveries.
func (db *DB) ReleasingEndpoints(ctx context.Context) ([]Releasing, error) {
	rows, err := db.pool.Query(ctx, `SELECT id::text, rate_limit_per_second FROM endpoints
		WHERE releasing AND circuit_state = 'closed' AND enabled`)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Releasing, error) {
		var rel Releasing
		var perSecond *int
		err := r.Scan(&rel.EndpointID, &perSecond)
		if perSecond != nil {
			rel.RateLimit = &webhooks.RateLimit{PerSecond: *perSecond}
		}
		return rel, err
	})
	return list, wrap(err, "")
}

// ReleaseOldestHeld makes endpoint id's oldest held delivery pending again and
// returns its id; "" when none is held, and then the endpoint stops releasing.
func (db *DB) ReleaseOldestHeld(ctx context.Context, id string) (string, error) {
	var released string
	err := db.pool.QueryRow(ctx, `UPDATE deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()
		WHERE id = (SELECT id FROM deliveries WHERE endpoint_id = $1 AND status = 'held'
			ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id::text`, id).Scan(&released)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err := db.pool.Exec(ctx, `UPDATE endpoints SET releasing = false WHERE id = $1 AND releasing
			AND NOT EXISTS (SELECT 1 FROM deliveries WHERE endpoint_id = $1 AND status = 'held')`, id)
		return "", wrap(err, "")
	}
	return released, wrap(err, "")
}

// DeliveryStatus returns the status of delivery id ("" when it is gone).
func (db *DB) DeliveryStatus(ctx context.Context, id string) (string, error) {
	var status string
	err := db.pool.QueryRow(ctx, `SELECT status FROM deliveries WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return status, wrap(err, "")
}

// LongOpen returns the enabled endpoints whose circuit opened before cutoff.
func (db *DB) LongOpen(ctx context.Context, cutoff time.Time) ([]*webhooks.Endpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT id::text, organization_id::text, url, circuit_since FROM endpoints
		WHERE enabled AND circuit_state <> 'closed' AND circuit_since < $1`, cutoff)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.Endpoint, error) {
		var e webhooks.Endpoint
		err := r.Scan(&e.ID, &e.OrganizationID, &e.URL, &e.Health.Since)
		return &e, err
	})
	return list, wrap(err, "")
}

// CircuitCounts returns how many endpoints are in each circuit state but
// closed, and how many deliveries are held.
func (db *DB) CircuitCounts(ctx context.Context) (map[string]int, int, error) {
	counts := map[string]int{webhooks.CircuitOpen: 0, webhooks.CircuitHalfOpen: 0}
	var held int
	rows, err := db.pool.Query(ctx, `SELECT circuit_state, count(*) FROM endpoints WHERE circuit_state <> 'closed' GROUP BY 1`)
	if err != nil {
		return nil, 0, wrap(err, "")
	}
	var state string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&state, &n}, func() error { counts[state] = n; return nil }); err != nil {
		return nil, 0, wrap(err, "")
	}
	err = db.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE status = 'held'`).Scan(&held)
	return counts, held, wrap(err, "")
}

// breakerLockID is the advisory lock that lets one worker at a time run the
// breaker's rounds (probes, releases), so releases keep their order and rate.
const breakerLockID = 0x656d7066696f02 // "empfio" + 2

// WithBreakerLock runs fn holding the breaker's advisory lock on a connection
// of its own, and reports whether it ran: false at once when another worker
// holds the lock.
func (db *DB) WithBreakerLock(ctx context.Context, fn func() error) (bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, wrap(err, "")
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, breakerLockID).Scan(&locked); err != nil || !locked {
		return false, wrap(err, "")
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, breakerLockID)
	return true, fn()
}
