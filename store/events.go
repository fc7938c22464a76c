package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/jackc/pgx/v5"
)

// Publish stores ev and one pending delivery for each enabled endpoint of its
// organization subscribed to its type, atomically (one statement), and returns the
// ids of those deliveries. ev.Envelope must be rendered. Returns ENOTFOUND if the
// organization does not exist. Concurrent calls share commits (group commit); each
// returns only once its own event is durably committed.
//
// The caller enqueues the deliveries after Publish returns; if it cannot, the
// sweeper does within two minutes, because each delivery is due from now on.
func (db *DB) Publish(ctx context.Context, ev *webhooks.Event) ([]string, error) {
	ids, err := db.publisher.do(ctx, ev)
	if isForeignKeyViolation(err) {
		return nil, webhooks.Errorf(webhooks.ENOTFOUND, "Organization %s not found.", ev.OrganizationID)
	}
	return ids, wrap(err, "")
}

const publishSQL = `WITH ev AS (
		INSERT INTO events (id, organization_id, type, source, external_id, occurred_at, created_at, envelope, dedup_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10)
		RETURNING id
	)
	INSERT INTO deliveries (id, organization_id, event_id, endpoint_id, event_type, next_attempt_at, created_at, updated_at)
	SELECT gen_random_uuid(), $2, ev.id, e.id, $3, $7, $7, $7
	FROM ev, endpoints e
	WHERE e.organization_id = $2 AND e.enabled AND e.events && $9
	RETURNING id`

func queuePublish(b *pgx.Batch, ev *webhooks.Event) {
	b.Queue(publishSQL, ev.ID, ev.OrganizationID, ev.Type, ev.Source, ev.ExternalID, ev.OccurredAt, ev.ReceivedAt,
		string(ev.Envelope), webhooks.SubscriptionKeys(ev.Type), ev.DedupKey)
}

func readPublish(br pgx.BatchResults, _ *webhooks.Event) ([]string, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
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
	args := []any{f.OrganizationID, f.Limit + 1, f.Type}
	where := ` AND ($3 = '' OR type = $3)`
	if f.Cursor != nil {
		where += ` AND (created_at, id) < ($4, $5)`
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
