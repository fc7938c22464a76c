package store

import (
	"context"
	"errors"
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
	j, err := db.jobs.do(ctx, id)
	if err != nil {
		return nil, wrap(err, "Delivery")
	}
	if j == nil {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Delivery not found.")
	}
	return j, nil
}

const jobsSQL = `SELECT d.id, d.organization_id, d.event_id, d.event_type, d.status, d.attempts, d.manual,
		ev.envelope,
		e.id, e.url, e.enabled, e.max_retries, e.retry_window_seconds, e.secret, e.previous_secret, e.previous_secret_expires_at,
		e.rate_limit_per_second
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
	byID := make(map[string]*webhooks.Job, len(found))
	for _, j := range found {
		byID[j.Delivery.ID] = j
	}
	out := make([]*webhooks.Job, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

func (db *DB) scanJob(row pgx.CollectableRow) (*webhooks.Job, error) {
	var j webhooks.Job
	var envelope string
	var maxRetries, perSecond *int
	var windowSeconds *int64
	d, e := &j.Delivery, &j.Endpoint
	err := row.Scan(&d.ID, &d.OrganizationID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &j.Manual,
		&envelope,
		&e.ID, &e.URL, &e.Enabled, &maxRetries, &windowSeconds, &e.Secret, &e.PreviousSecret, &e.PreviousSecretExpiresAt,
		&perSecond)
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

// RecordAttempt stores the attempt and updates the delivery, and returns the
// attempt's number. A delivery that failed for good lengthens its endpoint's
// failure streak and a success ends it; the new streak is returned when the
// delivery failed for good (nil otherwise), for the HealthPolicy to judge.
// Recording never disables an endpoint itself: DisableEndpoint does. Concurrent
// calls share statements and commits; each returns once its own record is
// durable. Returns ENOTFOUND if the delivery no longer exists.
func (db *DB) RecordAttempt(ctx context.Context, r webhooks.AttemptRecord) (number int, streak *webhooks.FailureStreak, err error) {
	rec, err := db.recorder.do(ctx, r)
	if err != nil {
		return 0, nil, wrap(err, "Delivery")
	}
	if rec.missing {
		return 0, nil, webhooks.Errorf(webhooks.ENOTFOUND, "Delivery not found.")
	}
	return rec.number, rec.streak, nil
}

// recorded is what RecordAttempt learns from the database.
type recorded struct {
	number  int
	streak  *webhooks.FailureStreak
	missing bool
}

// recordGroup records a group: the deliveries that did not fail for good in one
// statement for all (the common case: no failure streak to count), each one that
// did on its own statement (it counts its endpoint's streak), all in one batch:
// one round trip, one implicit transaction.
func (db *DB) recordGroup(ctx context.Context, recs []webhooks.AttemptRecord) ([]recorded, error) {
	var plain []int
	seen := make(map[string]bool, len(recs))
	b := &pgx.Batch{}
	for i, r := range recs {
		if seen[r.DeliveryID] && len(recs) > 1 {
			return nil, errSplit // one statement cannot update a row twice
		}
		seen[r.DeliveryID] = true
		if r.Status != webhooks.StatusFailed {
			plain = append(plain, i)
		}
	}
	if len(plain) > 0 {
		queuePlainRecords(b, recs, plain)
	}
	for _, r := range recs {
		if r.Status == webhooks.StatusFailed {
			queueFailedRecord(b, r)
		}
	}
	br := db.pool.SendBatch(ctx, b)
	out := make([]recorded, len(recs))
	err := readRecords(br, recs, plain, out)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// plainRecordsSQL records attempts that leave their delivery succeeded or
// retrying; a success also ends its endpoint's failure streak.
const plainRecordsSQL = `WITH r AS (
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::text[], $6::timestamptz[], $7::int[], $8::text[])
			AS t(id, status, next_attempt_at, status_code, error, started_at, duration_ms, response_body)
	), d AS (
		UPDATE deliveries SET attempts = attempts + 1, status = r.status, next_attempt_at = r.next_attempt_at,
			last_status_code = r.status_code, last_error = r.error, manual = false, updated_at = now(),
			completed_at = CASE WHEN r.status = 'succeeded' THEN now() END
		FROM r WHERE deliveries.id = r.id
		RETURNING deliveries.id, deliveries.attempts, deliveries.endpoint_id, r.status
	), a AS (
		INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, response_body, error)
		SELECT d.id, d.attempts, r.started_at, r.duration_ms, r.status_code, r.response_body, r.error
		FROM d JOIN r ON r.id = d.id
	), e AS (
		UPDATE endpoints SET consecutive_failures = 0, failing_since = NULL
		WHERE id IN (SELECT endpoint_id FROM d WHERE status = 'succeeded') AND enabled AND consecutive_failures > 0
	)
	SELECT d.id::text, d.attempts FROM d`

func queuePlainRecords(b *pgx.Batch, recs []webhooks.AttemptRecord, plain []int) {
	n := len(plain)
	ids, statuses, errs, bodies := make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
	next, started := make([]*time.Time, n), make([]time.Time, n)
	codes, durations := make([]*int, n), make([]int, n)
	for k, i := range plain {
		r := recs[i]
		ids[k], statuses[k], next[k], codes[k], errs[k] = r.DeliveryID, r.Status, r.NextAttemptAt, r.Attempt.StatusCode, r.LastError
		started[k], durations[k], bodies[k] = r.Attempt.StartedAt, r.Attempt.DurationMS, r.Attempt.ResponseBody
	}
	b.Queue(plainRecordsSQL, ids, statuses, next, codes, errs, started, durations, bodies)
}

// failedRecordSQL records the attempt of a delivery that failed for good and
// lengthens its endpoint's failure streak.
const failedRecordSQL = `WITH d AS (
		UPDATE deliveries SET attempts = attempts + 1, status = 'failed', next_attempt_at = NULL,
			last_status_code = $2, last_error = $3, manual = false, updated_at = now(), completed_at = now()
		WHERE id = $1 RETURNING attempts, endpoint_id
	), a AS (
		INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status_code, response_body, error)
		SELECT $1, d.attempts, $4, $5, $2, $6, $3 FROM d
	), e AS (
		UPDATE endpoints SET consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, now())
		WHERE id = (SELECT endpoint_id FROM d) AND enabled
		RETURNING consecutive_failures, failing_since
	)
	SELECT d.attempts, e.consecutive_failures, e.failing_since FROM d LEFT JOIN e ON true`

func queueFailedRecord(b *pgx.Batch, r webhooks.AttemptRecord) {
	a := r.Attempt
	b.Queue(failedRecordSQL, r.DeliveryID, a.StatusCode, r.LastError, a.StartedAt, a.DurationMS, a.ResponseBody)
}

// readRecords reads the batch's results back in the order they were queued.
func readRecords(br pgx.BatchResults, recs []webhooks.AttemptRecord, plain []int, out []recorded) error {
	for i := range out {
		out[i].missing = true
	}
	if len(plain) > 0 {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		numbers := map[string]int{}
		var id string
		var number int
		if _, err := pgx.ForEachRow(rows, []any{&id, &number}, func() error { numbers[id] = number; return nil }); err != nil {
			return err
		}
		for _, i := range plain {
			if n, ok := numbers[recs[i].DeliveryID]; ok {
				out[i] = recorded{number: n}
			}
		}
	}
	for i, r := range recs {
		if r.Status != webhooks.StatusFailed {
			continue
		}
		var failures *int
		var since *time.Time
		err := br.QueryRow().Scan(&out[i].number, &failures, &since)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			continue // its delivery is gone
		case err != nil:
			return err
		}
		out[i].missing = false
		if failures != nil && since != nil {
			out[i].streak = &webhooks.FailureStreak{Failures: *failures, Since: *since}
		}
	}
	return nil
}
