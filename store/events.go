package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// Publish stores ev and one pending delivery for each enabled endpoint of its
// organization subscribed to its type, atomically (one statement), and returns
// those deliveries as stored (pending, no attempt yet, due at once). ev.ID must
// be a UUIDv7 whose time is ev.ReceivedAt (webhooks.NewEventID), and
// ev.Envelope rendered. Returns ENOTFOUND if the organization does not exist,
// ErrStoredBefore for a Cal.com booking stored before. Concurrent calls share commits (group commit); each returns only once
// its own event is durably committed.
//
// Nothing is checked against a foreign key: an endpoint deleted while its event
// is published still gets the delivery, and its attempt, finding the
// tombstone, fails it unsent (store.Take, DeleteEndpoint).
//
// The caller enqueues the deliveries after Publish returns; if it cannot, the
// sweeper does within two minutes, because each delivery is due from now on.
func (db *DB) Publish(ctx context.Context, ev *webhooks.Event) ([]webhooks.Delivery, error) {
	p, err := db.publisher.Do(ctx, ev)
	switch {
	case err != nil:
		return nil, wrap(err, "")
	case !p.known:
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Organization %s not found.", ev.OrganizationID)
	case !p.stored:
		return nil, ErrStoredBefore
	}
	return p.deliveries, nil
}

// ErrStoredBefore is returned by Publish for a Cal.com event whose dedup key an
// event of its organization was stored under before (Cal.com bookings are
// stored once for as long as they are retained), and for an event whose
// Idempotency-Key names another event (IdempotentEvent tells which).
var ErrStoredBefore = errors.New("store: the event was stored before")

// publishSQL stores a group of events, given as arrays, with one delivery per
// enabled endpoint of each event's organization subscribed to its type, but the
// one it excludes (an operational event's own endpoint), among its targets when
// it has some (space-separated; NULL: any), and returns each delivery made. A
// delivery's id is a UUIDv7 of its event's time, and its created_at the event's:
// the event, its deliveries and their attempts share a day partition. An
// event's subscription keys come space-separated (webhooks.SubscriptionKeys).
// An endpoint's filter lets the event through or not (webhooks.Filter), unless
// the event names its targets (a test event, a trigger to a listen session).
// A Cal.com booking is stored only if its dedup key is new (calcom_bookings),
// an event with an Idempotency-Key only if the key is new or past its window
// (idempotency_keys, written with the event). A delivery to an endpoint with
// ordered on carries its event's ordering key, here and in open_deliveries.
const publishSQL = `WITH input AS ( -- referenced more than once: materialised, so doc is parsed once per event
		SELECT *, envelope::jsonb AS doc FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
			$7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bytea[], $16::text[])
			AS t(id, organization_id, type, source, external_id, occurred_at, created_at, envelope, keys, dedup_key, exclude, targets,
				idem_key, idem_hash, ordering_key)
	), known AS ( -- the events of organizations that exist (a join, not a foreign key's trigger)
		SELECT i.* FROM input i WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = i.organization_id)
	), booking AS (
		INSERT INTO calcom_bookings (organization_id, dedup_key, event_id, created_at)
		SELECT organization_id, dedup_key, id, created_at FROM known WHERE source = 'calcom' AND dedup_key IS NOT NULL
		ON CONFLICT DO NOTHING
		RETURNING event_id
	), idem AS (
		INSERT INTO idempotency_keys AS k (organization_id, key, request_hash, event_id, event_created_at)
		SELECT organization_id, idem_key, idem_hash, id, created_at FROM known WHERE idem_key IS NOT NULL
		ON CONFLICT (organization_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, event_id = EXCLUDED.event_id,
			event_created_at = EXCLUDED.event_created_at, created_at = now()
		WHERE k.created_at < now() - make_interval(secs => $15)
		RETURNING event_id
	), ev AS (
		INSERT INTO events (id, created_at, organization_id, type, source, external_id, occurred_at, envelope, dedup_key, ordering_key)
		SELECT id, created_at, organization_id, type, source, external_id, occurred_at, envelope::json, dedup_key, ordering_key FROM known
		WHERE (source <> 'calcom' OR dedup_key IS NULL OR id IN (SELECT event_id FROM booking))
			AND (idem_key IS NULL OR id IN (SELECT event_id FROM idem))
		RETURNING id
	), target AS MATERIALIZED ( -- once: the ids it draws are the ones inserted and returned
		SELECT empfio_uuidv7(i.created_at) AS delivery_id, i.*, e.id AS endpoint_id,
			CASE WHEN e.ordered THEN i.ordering_key END AS delivery_key
		FROM input i JOIN ev ON ev.id = i.id JOIN endpoints e ON e.organization_id = i.organization_id AND e.enabled
			AND e.deleted_at IS NULL AND e.events && string_to_array(i.keys, ' ') AND e.id::text <> i.exclude
			AND (i.targets IS NULL OR e.id::text = ANY (string_to_array(i.targets, ' ')))
			AND (e.filter_path IS NULL OR i.targets IS NOT NULL OR i.doc @@ e.filter_path)
	), d AS (
		INSERT INTO deliveries (id, created_at, organization_id, event_id, endpoint_id, event_type, next_attempt_at, updated_at,
			ordering_key)
		SELECT delivery_id, created_at, organization_id, id, endpoint_id, type, created_at, created_at, delivery_key FROM target
	), o AS (
		INSERT INTO open_deliveries (endpoint_id, created_at, delivery_id, ordering_key, event_id)
		SELECT endpoint_id, created_at, delivery_id, delivery_key, id FROM target
	)
	SELECT i.id::text, i.id IN (SELECT id FROM known), ev.id IS NOT NULL, t.delivery_id::text, t.endpoint_id::text, t.delivery_key
	FROM input i LEFT JOIN ev ON ev.id = i.id LEFT JOIN target t ON t.id = i.id`

// published is what publishing one event did.
type published struct {
	deliveries []webhooks.Delivery
	known      bool // false: its organization does not exist
	stored     bool // false: not stored (unknown organization, or a Cal.com event stored before under the same key)
}

// publishGroup stores a group of events in one statement and returns what each
// one did, in order.
func (db *DB) publishGroup(ctx context.Context, evs []*webhooks.Event) ([]published, error) {
	n := len(evs)
	ids, orgs, types, sources, envelopes, keys, exclude := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	external, dedup, targets, idemKeys := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	idemHashes, orderingKeys := make([][]byte, n), make([]*string, n)
	occurred, received := make([]time.Time, n), make([]time.Time, n)
	index := make(map[string]int, n)
	for i, ev := range evs {
		ids[i], orgs[i], types[i], sources[i], envelopes[i] = ev.ID, ev.OrganizationID, ev.Type, ev.Source, string(ev.Envelope)
		keys[i], exclude[i] = strings.Join(webhooks.SubscriptionKeys(ev.Type), " "), ev.Exclude
		external[i], dedup[i], occurred[i], received[i] = ev.ExternalID, ev.DedupKey, ev.OccurredAt, ev.ReceivedAt
		orderingKeys[i] = ev.OrderingKey
		if ev.Targets != nil {
			t := strings.Join(ev.Targets, " ")
			targets[i] = &t
		}
		if ev.Idempotency != nil {
			idemKeys[i], idemHashes[i] = &ev.Idempotency.Key, ev.Idempotency.Hash
		}
		index[ev.ID] = i
	}
	rows, err := db.pool.Query(ctx, publishSQL, ids, orgs, types, sources, external, occurred, received, envelopes, keys, dedup, exclude, targets,
		idemKeys, idemHashes, webhooks.IdempotencyWindow.Seconds(), orderingKeys)
	if err != nil {
		return nil, err
	}
	out := make([]published, n)
	var eventID string
	var known, stored bool
	var deliveryID, endpointID, orderingKey *string
	_, err = pgx.ForEachRow(rows, []any{&eventID, &known, &stored, &deliveryID, &endpointID, &orderingKey}, func() error {
		i := index[eventID]
		out[i].known, out[i].stored = known, stored
		if deliveryID != nil {
			ev := evs[i]
			out[i].deliveries = append(out[i].deliveries, webhooks.Delivery{ID: *deliveryID,
				OrganizationID: ev.OrganizationID, EventID: ev.ID, EndpointID: *endpointID, EventType: ev.Type,
				Status: webhooks.StatusPending, NextAttemptAt: &ev.ReceivedAt, CreatedAt: ev.ReceivedAt, UpdatedAt: ev.ReceivedAt,
				OrderingKey: orderingKey})
		}
		return nil
	})
	return out, err
}

// IdempotentEvent returns the event orgID stored under Idempotency-Key key
// within its window, the hash of the request that stored it, and how many
// deliveries it was given; found is false when the key is unused or expired.
func (db *DB) IdempotentEvent(ctx context.Context, orgID, key string) (eventID string, hash []byte, deliveries int, found bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT k.event_id::text, k.request_hash,
			(SELECT count(*) FROM deliveries d WHERE d.created_at = k.event_created_at AND d.event_id = k.event_id)
		FROM idempotency_keys k WHERE k.organization_id = $1 AND k.key = $2 AND k.created_at >= now() - make_interval(secs => $3)`,
		orgID, key, webhooks.IdempotencyWindow.Seconds()).Scan(&eventID, &hash, &deliveries)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, 0, false, nil
	}
	return eventID, hash, deliveries, err == nil, wrap(err, "")
}

// ForgetIdempotencyKeys deletes the Idempotency-Keys past their window and
// returns how many.
func (db *DB) ForgetIdempotencyKeys(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`,
		webhooks.IdempotencyWindow.Seconds())
	return tag.RowsAffected(), wrap(err, "")
}

// EventByDedupKey returns the id of the event orgID accepted under dedupKey since
// since, if there is one.
func (db *DB) EventByDedupKey(ctx context.Context, orgID, dedupKey string, since time.Time) (id string, found bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT id FROM events WHERE organization_id = $1 AND dedup_key = $2 AND created_at >= $3
		ORDER BY created_at DESC LIMIT 1`, orgID, dedupKey, since).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, wrap(err, "")
}

// BookingEvent returns the id of the event a Cal.com booking was stored as
// under dedupKey, however long ago (as long as it is retained).
func (db *DB) BookingEvent(ctx context.Context, orgID, dedupKey string) (id string, found bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT event_id FROM calcom_bookings WHERE organization_id = $1 AND dedup_key = $2`,
		orgID, dedupKey).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, wrap(err, "")
}

// eventColumns reads data out of the stored envelope; json's -> keeps its text.
const eventColumns = `id, organization_id, type, source, external_id, occurred_at, created_at, envelope->'data', ordering_key`

func scanEvent(row pgx.Row) (*webhooks.Event, error) {
	var ev webhooks.Event
	var data string
	if err := row.Scan(&ev.ID, &ev.OrganizationID, &ev.Type, &ev.Source, &ev.ExternalID, &ev.OccurredAt, &ev.ReceivedAt, &data, &ev.OrderingKey); err != nil {
		return nil, err
	}
	ev.Data = json.RawMessage(data)
	return &ev, nil
}

// Event returns event id of orgID. Returns ENOTFOUND if it is not theirs.
func (db *DB) Event(ctx context.Context, orgID, id string) (*webhooks.Event, error) {
	cond, args := byID("", id, 2)
	ev, err := scanEvent(db.read.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE organization_id = $1 AND `+cond,
		append([]any{orgID}, args...)...))
	return ev, wrap(err, "Event")
}

// Events returns a page of an organization's events, newest first.
func (db *DB) Events(ctx context.Context, f webhooks.EventFilter) ([]*webhooks.Event, *webhooks.Cursor, error) {
	args := []any{f.OrganizationID, f.Limit + 1, f.Type, f.Types}
	where := ` AND ($3 = '' OR type = $3) AND ($4::text[] IS NULL OR type = ANY ($4))`
	if f.Cursor != nil {
		where += ` AND (created_at, id) < ($5, $6)`
		args = append(args, f.Cursor.CreatedAt, f.Cursor.ID)
	}
	rows, err := db.read.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE organization_id = $1`+where+`
		ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*webhooks.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, nil, wrap(err, "")
	}
	return page(list, f.Limit, func(e *webhooks.Event) webhooks.Cursor { return webhooks.Cursor{CreatedAt: e.ReceivedAt, ID: e.ID} })
}

// FilterResult is whether a filter lets one event through (FilterTest).
type FilterResult struct {
	EventID    string    `json:"event_id"`
	Event      string    `json:"event"`
	ReceivedAt time.Time `json:"received_at"`
	Passes     bool      `json:"passes"`
}

// FilterTest returns, for the last limit events of orgID of a type the
// subscriptions select, newest first, whether the compiled filter path lets
// it through ("" lets everything through) — evaluated as publishing does.
func (db *DB) FilterTest(ctx context.Context, orgID string, subscriptions []string, path string, limit int) ([]FilterResult, error) {
	rows, err := db.read.Query(ctx, `SELECT id::text, type, created_at, coalesce($3::jsonpath IS NULL OR envelope::jsonb @@ $3::jsonpath, false)
		FROM events WHERE organization_id = $1 AND (type = ANY ($2) OR '*' = ANY ($2) OR split_part(type, '.', 1) || '.*' = ANY ($2))
			AND created_at > now() - interval '30 days'
		ORDER BY created_at DESC, id DESC LIMIT $4`, orgID, subscriptions, nullIfEmpty(path), limit)
	if err != nil {
		return nil, wrap(err, "")
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[FilterResult])
	return list, wrap(err, "")
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
