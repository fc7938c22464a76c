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
// those deliveries as stored (pending, no attempt yet). ev.Envelope must be
// rendered. Returns ENOTFOUND if the organization does not exist,
// ErrStoredBefore for a Cal.com booking stored before. Concurrent calls share
// commits (group commit); each returns only once its own event is durably
// committed.
//
// The caller enqueues the deliveries after Publish returns; if it cannot, the
// sweeper does within two minutes, because each delivery is due from now on.
func (db *DB) Publish(ctx context.Context, ev *webhooks.Event) ([]Published, error) {
	p, err := db.publisher.Do(ctx, ev)
	for try := 1; violates(err, "deliveries_endpoint_id_fkey") && try < publishTries; try++ {
		p, err = db.publisher.Do(ctx, ev)
	}
	if violates(err, "events_organization_id_fkey") {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Organization %s not found.", ev.OrganizationID)
	}
	if err == nil && !p.stored {
		return nil, ErrStoredBefore
	}
	return p.deliveries, wrap(err, "")
}

// publishTries bounds how often Publish stores an event whose delivery
// referred to an endpoint deleted meanwhile: the statement read the endpoint
// before the delete committed, and the reference's check, after. Each try
// reads the endpoints anew, so only another delete at that very moment fails
// it again.
const publishTries = 3

// ErrStoredBefore is returned by Publish for a Cal.com event whose dedup key an
// event of its organization was stored under before: Cal.com bookings are
// stored once for as long as they are retained.
var ErrStoredBefore = errors.New("store: the event was stored before")

// publishSQL stores a group of events, given as arrays, with one delivery per
// enabled endpoint of each event's organization subscribed to its type, but the
// one it excludes (an operational event's own endpoint), among its targets when
// it has some (space-separated; NULL: any), and returns each
// delivery with its endpoint's version. An event's subscription keys come
// space-separated (webhooks.SubscriptionKeys).
const publishSQL = `WITH input AS (
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
			$7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
			AS t(id, organization_id, type, source, external_id, occurred_at, created_at, envelope, keys, dedup_key, exclude, targets)
	), ev AS (
		INSERT INTO events (id, organization_id, type, source, external_id, occurred_at, created_at, envelope, dedup_key)
		SELECT id, organization_id, type, source, external_id, occurred_at, created_at, envelope::json, dedup_key FROM input
		ON CONFLICT (organization_id, dedup_key) WHERE source = 'calcom' DO NOTHING
		RETURNING id
	), target AS MATERIALIZED ( -- once: the ids it draws are the ones inserted and returned
		SELECT gen_random_uuid() AS delivery_id, i.*, e.id AS endpoint_id, e.version
		FROM input i JOIN ev ON ev.id = i.id JOIN endpoints e ON e.organization_id = i.organization_id AND e.enabled
			AND e.events && string_to_array(i.keys, ' ') AND e.id::text <> i.exclude
			AND (i.targets IS NULL OR e.id::text = ANY (string_to_array(i.targets, ' ')))
	), d AS (
		INSERT INTO deliveries (id, organization_id, event_id, endpoint_id, event_type, next_attempt_at, created_at, updated_at)
		SELECT delivery_id, organization_id, id, endpoint_id, type, created_at, created_at, created_at FROM target
	)
	SELECT ev.id::text, t.delivery_id::text, t.endpoint_id::text, t.version FROM ev LEFT JOIN target t ON t.id = ev.id`

// published is what publishing one event did.
type published struct {
	deliveries []Published
	stored     bool // false: a Cal.com event stored before under the same key
}

// Published is a delivery Publish stored: pending, not attempted, to its
// endpoint at EndpointVersion.
type Published struct {
	webhooks.Delivery
	EndpointVersion int64
}

// publishGroup stores a group of events in one statement and returns what each
// one did, in order.
func (db *DB) publishGroup(ctx context.Context, evs []*webhooks.Event) ([]published, error) {
	n := len(evs)
	ids, orgs, types, sources, envelopes, keys, exclude := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	external, dedup, targets := make([]*string, n), make([]*string, n), make([]*string, n)
	occurred, received := make([]time.Time, n), make([]time.Time, n)
	index := make(map[string]int, n)
	for i, ev := range evs {
		ids[i], orgs[i], types[i], sources[i], envelopes[i] = ev.ID, ev.OrganizationID, ev.Type, ev.Source, string(ev.Envelope)
		keys[i], exclude[i] = strings.Join(webhooks.SubscriptionKeys(ev.Type), " "), ev.Exclude
		external[i], dedup[i], occurred[i], received[i] = ev.ExternalID, ev.DedupKey, ev.OccurredAt, ev.ReceivedAt
		if ev.Targets != nil {
			t := strings.Join(ev.Targets, " ")
			targets[i] = &t
		}
		index[ev.ID] = i
	}
	rows, err := db.pool.Query(ctx, publishSQL, ids, orgs, types, sources, external, occurred, received, envelopes, keys, dedup, exclude, targets)
	if err != nil {
		return nil, err
	}
	out := make([]published, n)
	var eventID string
	var deliveryID, endpointID *string
	var version *int64
	_, err = pgx.ForEachRow(rows, []any{&eventID, &deliveryID, &endpointID, &version}, func() error {
		i := index[eventID]
		out[i].stored = true
		if deliveryID != nil {
			ev := evs[i]
			out[i].deliveries = append(out[i].deliveries, Published{Delivery: webhooks.Delivery{ID: *deliveryID,
				OrganizationID: ev.OrganizationID, EventID: ev.ID, EndpointID: *endpointID, EventType: ev.Type,
				Status: webhooks.StatusPending, NextAttemptAt: &ev.ReceivedAt, CreatedAt: ev.ReceivedAt, UpdatedAt: ev.ReceivedAt},
				EndpointVersion: *version})
		}
		return nil
	})
	return out, err
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

// eventColumns reads data out of the stored envelope; json's -> keeps its text.
const eventColumns = `id, organization_id, type, source, external_id, occurred_at, created_at, envelope->'data'`

func scanEvent(row pgx.Row) (*webhooks.Event, error) {
	var ev webhooks.Event
	var data string
	if err := row.Scan(&ev.ID, &ev.OrganizationID, &ev.Type, &ev.Source, &ev.ExternalID, &ev.OccurredAt, &ev.ReceivedAt, &data); err != nil {
		return nil, err
	}
	ev.Data = json.RawMessage(data)
	return &ev, nil
}

// Event returns event id of orgID. Returns ENOTFOUND if it is not theirs.
func (db *DB) Event(ctx context.Context, orgID, id string) (*webhooks.Event, error) {
	ev, err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1 AND organization_id = $2`, id, orgID))
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
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE organization_id = $1`+where+`
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
