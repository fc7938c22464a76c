package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

// An ordered endpoint's delivery is taken only when no open delivery of its
// key comes before it, claimed by no sweep and recovered by no scan while it
// waits, and is next once the one before it ends; other keys, events without
// a key and other endpoints never wait. A delivery opened again keeps its key.
func TestTake_OrderedEndpointTakesTheFirstOfAKeyOnly(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org, _, err := db.CreateOrganization(ctx, "Ordered")
	testenv.Must(t, err)
	ordered := &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/ordered", Events: []string{"*"}, Ordered: true}
	testenv.Must(t, db.CreateEndpoint(ctx, ordered))
	testenv.Must(t, db.CreateEndpoint(ctx, &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/plain", Events: []string{"*"}}))

	start := time.Now().Add(-time.Minute)
	publish := func(i int, key string) (toOrdered, toPlain webhooks.Delivery) {
		ev := testenv.LeadAt(t, org.ID, start.Add(time.Duration(i)*time.Second))
		if key != "" {
			ev.OrderingKey = &key
		}
		ds, err := db.Publish(ctx, ev)
		testenv.Must(t, err)
		for _, d := range ds {
			if d.EndpointID == ordered.ID {
				toOrdered = d
			} else {
				toPlain = d
			}
		}
		return toOrdered, toPlain
	}
	d1, p1 := publish(1, "k1")
	d2, p2 := publish(2, "k1")
	d3, _ := publish(3, "k2")
	d4, _ := publish(4, "")
	if d1.OrderingKey == nil || *d1.OrderingKey != "k1" || p1.OrderingKey != nil || d4.OrderingKey != nil {
		t.Fatalf("ordering keys: ordered %v, unordered endpoint %v, no key %v", d1.OrderingKey, p1.OrderingKey, d4.OrderingKey)
	}

	if got, err := db.Take(ctx, d2.ID, d2.CreatedAt, time.Minute, false); err != nil || got != nil {
		t.Fatalf("the second of key k1 was taken while the first is open: %v, %v", got, err)
	}
	take(t, db, d3) // another key
	take(t, db, d4) // no key
	take(t, db, p2) // the same key to an endpoint that is not ordered

	read, err := db.Delivery(ctx, org.ID, d2.ID)
	testenv.Must(t, err)
	if waiting, err := db.WaitingFor(ctx, read); err != nil || waiting != d1.ID {
		t.Fatalf("d2 waits for %q (%v), want d1 %s", waiting, err, d1.ID)
	}

	// Overdue, the waiting one is neither claimed by the sweep nor given a
	// task by a recovery scan: its task comes when d1 ends.
	claimed, err := db.ClaimOverdue(ctx, 0, 100)
	testenv.Must(t, err)
	if ids := dueIDs(claimed); slices.Contains(ids, d2.ID) || !slices.Contains(ids, d1.ID) {
		t.Fatalf("claimed %v: want d1 %s and not d2 %s", ids, d1.ID, d2.ID)
	}
	open, _, err := db.NotFinal(ctx, store.FirstOpen, 100)
	testenv.Must(t, err)
	if ids := dueIDs(open); slices.Contains(ids, d2.ID) || !slices.Contains(ids, d1.ID) {
		t.Fatalf("not final %v: want d1 and not d2", ids)
	}

	// d1 retrying: d2 still waits. d1 succeeding: d2 is next, and taken.
	t1 := take(t, db, d1)
	soon := time.Now()
	_, err = db.RecordAttempt(ctx, d1.CreatedAt, t1.Lease, webhooks.AttemptRecord{DeliveryID: d1.ID, Status: webhooks.StatusRetrying,
		NextAttemptAt: &soon, Attempt: webhooks.Attempt{StartedAt: time.Now()}})
	testenv.Must(t, err)
	if got, _ := db.Take(ctx, d2.ID, d2.CreatedAt, time.Minute, false); got != nil {
		t.Fatal("d2 was taken while d1 is retrying")
	}
	t1 = take(t, db, d1)
	_, err = db.RecordAttempt(ctx, d1.CreatedAt, t1.Lease, webhooks.AttemptRecord{DeliveryID: d1.ID, Status: webhooks.StatusSucceeded,
		Attempt: webhooks.Attempt{StartedAt: time.Now()}})
	testenv.Must(t, err)
	if next, found, err := db.NextOfKey(ctx, ordered.ID, "k1"); err != nil || !found || next.ID != d2.ID {
		t.Fatalf("next of k1: %+v %v %v, want d2", next, found, err)
	}
	t2 := take(t, db, d2)
	_, err = db.RecordAttempt(ctx, d2.CreatedAt, t2.Lease, webhooks.AttemptRecord{DeliveryID: d2.ID, Status: webhooks.StatusSucceeded,
		Attempt: webhooks.Attempt{StartedAt: time.Now()}})
	testenv.Must(t, err)
	if _, found, _ := db.NextOfKey(ctx, ordered.ID, "k1"); found {
		t.Fatal("a key with nothing open has a next delivery")
	}

	// d1 sent again by hand: it is open again under its key, so a later
	// event of the key waits for it.
	_, err = db.RetryDelivery(ctx, read1(t, db, org.ID, d1.ID), webhooks.RetryNow(webhooks.StatusSucceeded))
	testenv.Must(t, err)
	d5, _ := publish(5, "k1")
	if got, _ := db.Take(ctx, d5.ID, d5.CreatedAt, time.Minute, false); got != nil {
		t.Fatal("a new delivery of k1 was taken while d1, sent again, is open")
	}
	take(t, db, d1)

	// Two events accepted within one millisecond: the event ids say which
	// came first.
	same := start.Add(time.Hour)
	e1, e2 := testenv.LeadAt(t, org.ID, same), testenv.LeadAt(t, org.ID, same)
	if e2.ID < e1.ID {
		e1, e2 = e2, e1
	}
	var firstSent, secondSent webhooks.Delivery
	for _, ev := range []*webhooks.Event{e2, e1} { // stored in the other order
		k := "same-ms"
		ev.OrderingKey = &k
		ds, err := db.Publish(ctx, ev)
		testenv.Must(t, err)
		for _, d := range ds {
			if d.EndpointID == ordered.ID && ev == e1 {
				firstSent = d
			} else if d.EndpointID == ordered.ID {
				secondSent = d
			}
		}
	}
	testenv.Must(t, db.Pool().QueryRow(ctx, `UPDATE deliveries SET next_attempt_at = now() WHERE event_id = ANY ($1) RETURNING 1`,
		[]string{e1.ID, e2.ID}).Scan(new(int)))
	if got, _ := db.Take(ctx, secondSent.ID, secondSent.CreatedAt, time.Minute, false); got != nil {
		t.Fatal("of two events of one millisecond, the one with the greater id was taken first")
	}
	take(t, db, firstSent)
}

func read1(t *testing.T, db *store.DB, orgID, id string) *webhooks.Delivery {
	t.Helper()
	d, err := db.Delivery(context.Background(), orgID, id)
	testenv.Must(t, err)
	return d
}
