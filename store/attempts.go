package store

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// What the delivery worker reads and writes, once per attempt. Both go through a
// committer: the takes and records of concurrent deliveries share statements and
// commits.

// Take asks for delivery (id, createdAt) to attempt it: it is taken — leased
// until lease from now — when it is pending or retrying, due, and leased by
// no one else, and then returned with its endpoint as it is now (a tombstone
// included) and, unless withEnvelope is false, its event's envelope. nil, and
// no error, when it is not to be attempted now: final, held, not due, being
// attempted elsewhere, waiting for an earlier delivery of its ordering key
// (firstOfKey), or gone.
//
// The lease is what makes an attempt the only one: whatever number of tasks
// name a delivery (a batch run again, the sweeper's, a user's), only the one
// that takes it sends, and a record is kept only under the lease it was taken
// with (RecordAttempt).
func (db *DB) Take(ctx context.Context, id string, createdAt time.Time, lease time.Duration, withEnvelope bool) (*Taken, error) {
	t, err := db.takes.Do(ctx, takeRequest{id: id, createdAt: createdAt, lease: lease, envelope: withEnvelope})
	return t, wrap(err, "")
}

// Taken is a delivery taken for an attempt.
type Taken struct {
	webhooks.Job
	Lease time.Time // what the attempt's record must name
}

type takeRequest struct {
	id        string
	createdAt time.Time
	lease     time.Duration
	envelope  bool
}

var takeSQL = `WITH k AS (
		SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[], $4::bool[]) AS k(id, created_at, lease, envelope)
	), t AS (
		UPDATE deliveries d SET lease_until = now() + make_interval(secs => k.lease)
		FROM k
		WHERE d.id = k.id AND d.created_at = k.created_at AND d.created_at BETWEEN $5 AND $6 AND d.status IN ('pending', 'retrying')
			AND d.next_attempt_at <= now() + interval '1 second' AND (d.lease_until IS NULL OR d.lease_until < now())
			AND ` + firstOfKey("d.") + `
		RETURNING d.id, d.created_at, d.organization_id, d.event_id, d.event_type, d.status, d.attempts, d.manual,
			d.next_attempt_at, d.lease_until, d.ordering_key, d.endpoint_id, k.envelope
	)
	SELECT t.id, t.created_at, t.organization_id, t.event_id, t.event_type, t.status, t.attempts, t.manual, t.next_attempt_at,
		t.lease_until, t.ordering_key, ev.envelope, ` + prefixed("e.", endpointColumns) + `
	FROM t JOIN endpoints e ON e.id = t.endpoint_id
	LEFT JOIN events ev ON t.envelope AND ev.id = t.event_id AND ev.created_at = t.created_at AND ev.created_at BETWEEN $5 AND $6`

// takeGroup takes a group of deliveries in one statement; nil where one is not
// taken.
func (db *DB) takeGroup(ctx context.Context, reqs []takeRequest) ([]*Taken, error) {
	ids, args := takeArgs(reqs)
	rows, err := db.pool.Query(ctx, takeSQL, args...)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Taken, error) {
		var t Taken
		var envelope *string
		d := &t.Delivery
		e, err := db.scanEndpoint(row, &d.ID, &d.CreatedAt, &d.OrganizationID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &t.Manual,
			&d.NextAttemptAt, &t.Lease, &d.OrderingKey, &envelope)
		if err != nil {
			return nil, err
		}
		t.Endpoint, d.EndpointID = *e, e.ID
		if envelope != nil {
			t.Envelope = []byte(*envelope)
		}
		return &t, nil
	})
	if err != nil {
		return nil, err
	}
	// One UPDATE takes a row once: a delivery named twice in the group (its
	// batch's task and its own at the same moment) is the first one's.
	out := inOrder(ids, found, func(t *Taken) string { return t.Delivery.ID })
	handed := make(map[string]bool, len(reqs))
	for i, t := range out {
		if t != nil && handed[t.Delivery.ID] {
			out[i] = nil
		} else if t != nil {
			handed[t.Delivery.ID] = true
		}
	}
	return out, nil
}

// takeArgs returns takeSQL's arguments for a group: its deliveries as
// arrays, and the first and last of their days; and the ids, in order.
func takeArgs(reqs []takeRequest) (ids []string, args []any) {
	n := len(reqs)
	ids = make([]string, n)
	created, leases, envelopes := make([]time.Time, n), make([]float64, n), make([]bool, n)
	for i, r := range reqs {
		ids[i], created[i], leases[i], envelopes[i] = r.id, r.createdAt, r.lease.Seconds(), r.envelope
	}
	lo, hi := days(created)
	return ids, []any{ids, created, leases, envelopes, lo, hi}
}

// RecordAttempt stores the attempt of a delivery taken with lease (Take) and
// moves the delivery as rec says, ending its lease; a final delivery leaves
// the open ones. Concurrent calls share statements and commits; each returns
// once its own record is durable, with the attempt's number. Returns
// ENOTFOUND when the delivery is gone or no longer under that lease (it ran
// out, and another attempt took it): nothing is recorded.
func (db *DB) RecordAttempt(ctx context.Context, createdAt, lease time.Time, rec webhooks.AttemptRecord) (int, error) {
	n, err := db.recorder.Do(ctx, recordRequest{AttemptRecord: rec, createdAt: createdAt, lease: lease})
	if err != nil {
		return 0, wrap(err, "Delivery")
	}
	if n == 0 {
		return 0, webhooks.Errorf(webhooks.ENOTFOUND, "Delivery not found under its lease.")
	}
	return n, nil
}

type recordRequest struct {
	webhooks.AttemptRecord
	createdAt, lease time.Time
}

// recordsSQL records attempts: each moves its delivery (a final status sets
// completed_at, and the delivery leaves open_deliveries) and inserts its attempt.
// Nothing it writes to deliveries is indexed: the update is HOT.
const recordsSQL = `WITH r AS (
		SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::int[],
			$7::text[], $8::timestamptz[], $9::int[], $10::text[], $11::text[])
			AS t(id, created_at, lease, status, next_attempt_at, status_code, error, started_at, duration_ms, response_body, response_headers)
	), d AS (
		UPDATE deliveries SET attempts = attempts + 1, status = r.status, next_attempt_at = r.next_attempt_at,
			last_status_code = r.status_code, last_error = r.error, manual = false, lease_until = NULL, updated_at = now(),
			completed_at = CASE WHEN r.status IN ('succeeded', 'failed') THEN now() END
		FROM r WHERE deliveries.id = r.id AND deliveries.created_at = r.created_at AND deliveries.lease_until = r.lease
			AND deliveries.created_at BETWEEN $12 AND $13
		RETURNING deliveries.id, deliveries.created_at, deliveries.attempts, deliveries.endpoint_id, r.status
	), a AS (
		INSERT INTO attempts (delivery_id, delivery_created_at, number, started_at, duration_ms, status_code, response_body, error, response_headers)
		SELECT d.id, d.created_at, d.attempts, r.started_at, r.duration_ms, r.status_code, r.response_body, r.error, r.response_headers::jsonb
		FROM d JOIN r ON r.id = d.id
	), o AS (
		DELETE FROM open_deliveries o USING d
		WHERE d.status IN ('succeeded', 'failed') AND o.endpoint_id = d.endpoint_id AND o.created_at = d.created_at AND o.delivery_id = d.id
	)
	SELECT d.id::text, d.attempts FROM d`

// recordGroup records a group of attempts in one statement: one round trip, one
// commit.
func (db *DB) recordGroup(ctx context.Context, recs []recordRequest) ([]int, error) {
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		if seen[r.DeliveryID] && len(recs) > 1 {
			return nil, errSplit // one statement cannot update a row twice
		}
		seen[r.DeliveryID] = true
	}
	rows, err := db.pool.Query(ctx, recordsSQL, recordArgs(recs)...)
	if err != nil {
		return nil, err
	}
	numbers := make(map[string]int, len(recs))
	var id string
	var number int
	if _, err := pgx.ForEachRow(rows, []any{&id, &number}, func() error { numbers[id] = number; return nil }); err != nil {
		return nil, err
	}
	out := make([]int, len(recs))
	for i, r := range recs {
		out[i] = numbers[r.DeliveryID]
	}
	return out, nil
}

// recordArgs returns recordsSQL's arguments for a group: its records as
// arrays, and the first and last of their deliveries' days.
func recordArgs(recs []recordRequest) []any {
	n := len(recs)
	ids, statuses, errs, bodies := make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
	created, leases, next, started := make([]time.Time, n), make([]time.Time, n), make([]*time.Time, n), make([]time.Time, n)
	codes, durations, headers := make([]*int, n), make([]int, n), make([]*string, n)
	for i, r := range recs {
		ids[i], created[i], leases[i], statuses[i], next[i] = r.DeliveryID, r.createdAt, r.lease, r.Status, r.NextAttemptAt
		codes[i], errs[i], started[i], durations[i], bodies[i] = r.Attempt.StatusCode, r.LastError, r.Attempt.StartedAt, r.Attempt.DurationMS, r.Attempt.ResponseBody
		if r.Attempt.ResponseHeaders != nil {
			b, _ := json.Marshal(r.Attempt.ResponseHeaders)
			h := string(b)
			headers[i] = &h
		}
	}
	lo, hi := days(created)
	return []any{ids, created, leases, statuses, next, codes, errs, started, durations, bodies, headers, lo, hi}
}

// EndTaken ends delivery (id, createdAt), taken with lease, without an
// attempt: held (its endpoint's circuit is open) or failed with reason (its
// endpoint disabled or deleted). A delivery no longer under that lease is left
// as it is.
func (db *DB) EndTaken(ctx context.Context, id string, createdAt, lease time.Time, status, reason string) error {
	_, err := db.pool.Exec(ctx, `WITH d AS (
			UPDATE deliveries SET status = $4, next_attempt_at = NULL, lease_until = NULL, updated_at = now(),
				last_error = CASE WHEN $4 = 'failed' THEN $5 ELSE last_error END,
				completed_at = CASE WHEN $4 = 'failed' THEN now() END
			WHERE id = $1 AND created_at = $2 AND lease_until = $3
			RETURNING id, created_at, endpoint_id, status
		)
		DELETE FROM open_deliveries o USING d
		WHERE d.status = 'failed' AND o.endpoint_id = d.endpoint_id AND o.created_at = d.created_at AND o.delivery_id = d.id`,
		id, createdAt, lease, status, reason)
	return wrap(err, "")
}

// Untake lets delivery (id, createdAt), taken with lease, go unattempted: its
// task tries it again later (a put-back).
func (db *DB) Untake(ctx context.Context, id string, createdAt, lease time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE deliveries SET lease_until = NULL WHERE id = $1 AND created_at = $2 AND lease_until = $3`,
		id, createdAt, lease)
	return wrap(err, "")
}

// days returns the first and last of a group's created_at: bounds on the
// partition key that the executor prunes the other days' partitions by as it
// starts, since a generic plan (store.Open) names them all.
func days(created []time.Time) (lo, hi time.Time) {
	return slices.MinFunc(created, time.Time.Compare), slices.MaxFunc(created, time.Time.Compare)
}
