package store_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

// A delivery is taken by one attempt at a time: of many tasks that ask for it
// at once, one gets it; while it is taken, or once it is final, or before it
// is due, nobody does.
func TestTake_OneAttemptAtATimeAndOnlyWhenDue(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Take")
	_, ds := testenv.PublishLead(t, db, org, time.Now())
	d := ds[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []string
	for range 20 {
		wg.Go(func() {
			taken, err := db.Take(ctx, d.ID, d.CreatedAt, time.Minute, true)
			testenv.Must(t, err)
			if taken != nil {
				mu.Lock()
				got = append(got, taken.Lease.String())
				mu.Unlock()
				if string(taken.Envelope) == "" || taken.Endpoint.ID == "" || taken.Delivery.Status != webhooks.StatusPending {
					t.Errorf("taken %+v", taken)
				}
			}
		})
	}
	wg.Wait()
	if len(got) != 1 {
		t.Fatalf("%d of 20 concurrent takes got the delivery, want 1", len(got))
	}
	// Named twice in one group (a batch's task and its own at one moment): one
	// UPDATE takes the row once, and it is handed to one of them.
	_, more := testenv.PublishLead(t, db, org, time.Now())
	together, err := db.TakeTogether(ctx, more[0], more[0])
	testenv.Must(t, err)
	if (together[0] == nil) == (together[1] == nil) {
		t.Fatalf("a delivery twice in one group was handed to %v and %v: want exactly one", together[0] != nil, together[1] != nil)
	}
	// Retrying a minute from now: not due, so not taken.
	taken, err := db.Take(ctx, d.ID, d.CreatedAt, time.Minute, false)
	if err != nil || taken != nil {
		t.Fatalf("take while taken: %v, %v", taken, err)
	}
	testenv.Must(t, db.Pool().QueryRow(ctx, `UPDATE deliveries SET lease_until = NULL, status = 'retrying',
		next_attempt_at = now() + interval '1 minute' WHERE id = $1 RETURNING id`, d.ID).Scan(new(string)))
	if taken, _ := db.Take(ctx, d.ID, d.CreatedAt, time.Minute, false); taken != nil {
		t.Fatal("a retry a minute away was taken")
	}
	// A lease that ran out (its worker died) lets another attempt take it.
	testenv.Must(t, db.Pool().QueryRow(ctx, `UPDATE deliveries SET next_attempt_at = now(), lease_until = now() - interval '1 second'
		WHERE id = $1 RETURNING id`, d.ID).Scan(new(string)))
	if taken, _ := db.Take(ctx, d.ID, d.CreatedAt, time.Minute, false); taken == nil || taken.Envelope != nil {
		t.Fatalf("an expired lease: %+v (no envelope asked for)", taken)
	}
}

// A delete is a tombstone that fails every open delivery of the endpoint at
// once; a delivery published for it meanwhile (the delete did not see it) is
// taken with the tombstone, so its attempt ends it unsent. Nothing about it
// fails the publish.
func TestDeleteEndpoint_TombstoneEndsOpenDeliveries(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Delete")
	endpoint := endpointOf(t, db, org)
	_, before := testenv.PublishLead(t, db, org, time.Now())
	testenv.Must(t, db.DeleteEndpoint(ctx, org, endpoint))
	var status string
	var open int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT status, (SELECT count(*) FROM open_deliveries) FROM deliveries WHERE id = $1`,
		before[0].ID).Scan(&status, &open))
	if status != webhooks.StatusFailed || open != 0 {
		t.Fatalf("a delivery open at the delete: %s, %d open", status, open)
	}
	if _, err := db.Endpoint(ctx, org, endpoint); webhooks.ErrorCode(err) != webhooks.ENOTFOUND {
		t.Fatalf("the deleted endpoint reads as %v", err)
	}
	// What a publish racing the delete leaves: a delivery to the tombstone.
	ev := testenv.LeadAt(t, org, time.Now())
	testenv.Must(t, db.Pool().QueryRow(ctx, `WITH e AS (INSERT INTO events (id, created_at, organization_id, type, source, occurred_at, envelope)
			VALUES ($1, $2, $3, 'lead.created', 'api', $2, '{}') RETURNING id),
		d AS (INSERT INTO deliveries (id, created_at, organization_id, event_id, endpoint_id, event_type, next_attempt_at, updated_at)
			VALUES (empfio_uuidv7($2), $2, $3, $1, $4, 'lead.created', $2, $2) RETURNING id)
		SELECT id::text FROM d`, ev.ID, ev.ReceivedAt, org, endpoint).Scan(&ev.ID))
	taken, err := db.Take(ctx, ev.ID, ev.ReceivedAt, time.Minute, true)
	testenv.Must(t, err)
	if taken == nil || taken.Endpoint.DeletedAt == nil {
		t.Fatalf("the racing delivery is taken without its tombstone: %+v", taken)
	}
	// A publish after the delete leaves the endpoint out.
	if _, ds := testenv.PublishLead(t, db, org, time.Now()); len(ds) != 0 {
		t.Fatalf("%d deliveries to a deleted endpoint", len(ds))
	}
	// Purged once its history is gone.
	if n, err := db.PurgeDeleted(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("purged %d, %v", n, err)
	}
}

// A Cal.com booking is stored once per organization and dedup key, however
// late the repeat.
func TestPublish_ACalcomBookingIsStoredOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Cal")
	key := "calcom:" + org + ":BOOKING_CREATED:u1"
	first := testenv.LeadAt(t, org, time.Now().Add(-48*time.Hour))
	first.Source, first.DedupKey = webhooks.SourceCalcom, &key
	_, err := db.Publish(ctx, first)
	testenv.Must(t, err)
	again := testenv.LeadAt(t, org, time.Now())
	again.Source, again.DedupKey = webhooks.SourceCalcom, &key
	if _, err := db.Publish(ctx, again); !errors.Is(err, store.ErrStoredBefore) {
		t.Fatalf("a repeat two days later: %v", err)
	}
	if id, found, err := db.BookingEvent(ctx, org, key); err != nil || !found || id != first.ID {
		t.Fatalf("the booking's event: %s, %v, %v", id, found, err)
	}
}

// An Idempotency-Key is written with its event, a second event under it is not
// stored, and the keys past their window are forgotten.
func TestPublish_IdempotencyKeyStoresOnce(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	org := testenv.SubscribedOrg(t, db, "Keys")
	keyed := func(key string, body string) *webhooks.Event {
		ev := testenv.LeadAt(t, org, time.Now())
		ev.Idempotency = &webhooks.Idempotency{Key: key, Hash: webhooks.IdempotencyHash([]byte(body))}
		return ev
	}
	first := keyed("k1", `{"a":1}`)
	ds, err := db.Publish(ctx, first)
	testenv.Must(t, err)
	if _, err := db.Publish(ctx, keyed("k1", `{"a":1}`)); !errors.Is(err, store.ErrStoredBefore) {
		t.Fatalf("a second event under the key: %v, want ErrStoredBefore", err)
	}
	id, hash, n, found, err := db.IdempotentEvent(ctx, org, "k1")
	testenv.Must(t, err)
	if !found || id != first.ID || n != len(ds) || !bytes.Equal(hash, first.Idempotency.Hash) {
		t.Fatalf("key k1: %s %x %d %v, want %s with %d deliveries", id, hash, n, found, first.ID, len(ds))
	}
	_, err = db.Publish(ctx, keyed("k2", `{"a":2}`))
	testenv.Must(t, err)
	_, err = db.Pool().Exec(ctx, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'k1'`)
	testenv.Must(t, err)
	if _, _, _, found, _ := db.IdempotentEvent(ctx, org, "k1"); found {
		t.Fatal("a key past its window is still found")
	}
	if n, err := db.ForgetIdempotencyKeys(ctx); err != nil || n != 1 {
		t.Fatalf("forgot %d keys, %v; want the expired one", n, err)
	}
}
