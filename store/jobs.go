package store

import (
	"context"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// What the delivery worker reads and writes, once per attempt. Both go through a
// committer: the jobs and records of concurrent deliveries share statements and
// commits.

// Job loads delivery id with its event's envelope and its endpoint. Returns
// ENOTFOUND if the delivery no longer exists (its endpoint was deleted).
func (db *DB) Job(ctx context.Context, id string) (*webhooks.Job, error) {
	j, err := db.jobs.Do(ctx, id)
	if err != nil {
		return nil, wrap(err, "Delivery")
	}
	if j == nil {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Delivery not found.")
	}
	return j, nil
}

const jobsSQL = `SELECT d.id, d.organization_id, d.event_id, d.event_type, d.status, d.attempts, d.manual,
		d.next_attempt_at, d.created_at, ev.envelope,
		e.id, e.url, e.enabled, e.max_retries, e.retry_window_seconds, e.secret, e.previous_secret, e.previous_secret_expires_at,
		e.rate_limit_per_second, e.circuit_state, e.circuit_since, e.consecutive_failures, e.probe_delivery_id
	FROM deliveries d JOIN events ev ON ev.id = d.event_id JOIN endpoints e ON e.id = d.endpoint_id
	WHERE d.id = ANY($1::uuid[])`

// loadJobs reads the jobs of ids in one statement; nil where a delivery is gone.
func (db *DB) loadJobs(ctx context.Context, ids []string) ([]*webhooks.Job, error) {
	rows, err := db.pool.Query(ctx, jobsSQL, ids)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, db.scanJob)
	if err != nil {
		return nil, err
	}
	return inOrder(ids, found, func(j *webhooks.Job) string { return j.Delivery.ID }), nil
}

func (db *DB) scanJob(row pgx.CollectableRow) (*webhooks.Job, error) {
	var j webhooks.Job
	var envelope string
	var maxRetries, perSecond *int
	var windowSeconds *int64
	d, e := &j.Delivery, &j.Endpoint
	err := row.Scan(&d.ID, &d.OrganizationID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &j.Manual,
		&d.NextAttemptAt, &d.CreatedAt, &envelope,
		&e.ID, &e.URL, &e.Enabled, &maxRetries, &windowSeconds, &e.Secret, &e.PreviousSecret, &e.PreviousSecretExpiresAt,
		&perSecond, &e.Health.State, &e.Health.Since, &e.Health.ConsecutiveFailures, &e.Health.ProbeDeliveryID)
	if err != nil {
		return nil, err
	}
	d.EndpointID, e.OrganizationID = e.ID, d.OrganizationID
	if maxRetries != nil && windowSeconds != nil {
		e.RetryPolicy = &webhooks.RetryPolicy{MaxRetries: *maxRetries, Window: webhooks.Duration(time.Duration(*windowSeconds) * time.Second)}
	}
	if perSecond != nil {
		e.RateLimit = &webhooks.RateLimit{PerSecond: *perSecond}
	}
	j.Envelope = []byte(envelope)
	return &j, db.openSecrets(e)
}

// Recorded is what recording an attempt tells about its endpoint, for the
// breaker to judge.
type Recorded struct {
	Number   int    // the attempt's number
	Failures int    // the endpoint's failed attempts in a row after it (a success ends the run)
	Circuit  string // the endpoint's circuit state, when the count changed; "" when it did not
}

// RecordAttempt stores the attempt and updates the delivery. Concurrent calls
// share statements and commits; each returns once its own record is durable.
// Returns ENOTFOUND if the delivery no longer exists.
func (db *DB) RecordAttempt(ctx context.Context, r webhooks.AttemptRecord) (Recorded, error) {
	rec, err := db.recorder.Do(ctx, r)
	if err != nil {
		return Recorded{}, wrap(err, "Delivery")
	}
	if rec.missing {
		return Recorded{}, webhooks.Errorf(webhooks.ENOTFOUND, "Delivery not found.")
	}
	return rec.Recorded, nil
}

// recorded is what RecordAttempt learns from the database.
type recorded struct {
	Recorded
	missing bool
}

// recordGroup records a group of attempts in one statement: one round trip, one
// commit.
func (db *DB) recordGroup(ctx context.Context, recs []webhooks.AttemptRecord) ([]recorded, error) {
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		if seen[r.DeliveryID] && len(recs) > 1 {
			return nil, errSplit // one statement cannot update a row twice
		}
		seen[r.DeliveryID] = true
	}
	n := len(recs)
	ids, statuses, errs, bodies := make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
	next, started := make([]*time.Time, n), make([]time.Time, n)
	codes, durations := make([]*int, n), make([]int, n)
	for i, r := range recs {
		ids[i], statuses[i], next[i], codes[i], errs[i] = r.DeliveryID, r.Status, r.NextAttemptAt, r.Attempt.StatusCode, r.LastError
		started[i], durations[i], bodies[i] = r.Attempt.StartedAt, r.Attempt.DurationMS, r.Attempt.ResponseBody
	}
	rows, err := db.pool.Query(ctx, recordsSQL, ids, statuses, next, codes, errs, started, durations, bodies)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]recorded, n)
	var id string
	var rec Recorded
	if _, err := pgx.ForEachRow(rows, []any{&id, &rec.Number, &rec.Failures, &rec.Circuit}, func() error {
		byID[id] = recorded{Recorded: rec}
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]recorded, n)
	for i, r := range recs {
		rec, ok := byID[r.DeliveryID]
		out[i] = rec
		out[i].missing = !ok
	}
	return out, nil
}

// recordsSQL records attempts: each moves its delivery (a final status sets
// completed_at), and counts its endpoint's failed attempts in a row — a success
// in the group ends the run, so concurrent attempts count as if the success
// came last. The endpoint's row is written only when the count changes, so
// steady successes never contend on it.
const recordsSQL = `WITH r AS (
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::text[], $6::timestamptz[], $7::int[], $8::text[])
			AS t(id, status, next_attempt_at, status_code, error, started_at, duration_ms, response_body)
	), d AS (
		UPDATE deliveries SET attempts = attempts + 1, status = r.status, next_attempt_at = r.next_attempt_at,
			last_status_code = r.status_code, last_error = r.error, manual = false, updated_at = now(),
			completed_at = CASE WHEN r.status IN ('succeeded', 'failed') THEN now() END
		FROM r WHERE deliveries.id = r.id
		RETURNING deliveries.id, deliveries.attempts, deliveries.endpoint_id, r.status
	), a AS (
		INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, response_body, error)
		SELECT d.id, d.attempts, r.started_at, r.duration_ms, r.status_code, r.response_body, r.error
		FROM d JOIN r ON r.id = d.id
	), f AS (
		SELECT endpoint_id, bool_or(status = 'succeeded') AS ok, count(*) FILTER (WHERE status <> 'succeeded') AS failed
		FROM d GROUP BY endpoint_id
	), e AS (
		UPDATE endpoints SET consecutive_failures = CASE WHEN f.ok THEN 0 ELSE consecutive_failures + f.failed END,
			failing_since = CASE WHEN f.ok THEN NULL ELSE coalesce(failing_since, now()) END
		FROM f WHERE endpoints.id = f.endpoint_id AND (NOT f.ok OR consecutive_failures > 0)
		RETURNING endpoints.id, endpoints.consecutive_failures, endpoints.circuit_state
	)
	SELECT d.id::text, d.attempts, coalesce(e.consecutive_failures, 0), coalesce(e.circuit_state, '')
	FROM d LEFT JOIN e ON e.id = d.endpoint_id`
