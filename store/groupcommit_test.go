package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/google/uuid"
)

// Concurrent publishes share groups; an event of an unknown organization in a
// group fails alone, and every other event of the group is stored with its
// deliveries.
func TestPublish_ConcurrentEventsEachGetTheirOwnOutcome(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	org := testenv.SubscribedOrg(t, db, "Group")
	endpoint := endpointOf(t, db, org)

	const n = 200
	errs := make([]error, n)
	published := make([][]webhooks.Delivery, n)
	events := make([]*webhooks.Event, n)
	var wg sync.WaitGroup
	for i := range n {
		orgID := org
		if i%10 == 3 {
			orgID = uuid.NewString() // unknown: its group must not fail with it
		}
		ev := testenv.LeadAt(t, orgID, time.Now())
		events[i] = ev
		wg.Go(func() { published[i], errs[i] = db.Publish(ctx, ev) })
	}
	wg.Wait()
	stored := 0
	var ids []string
	for i := range n {
		switch {
		case i%10 == 3 && webhooks.ErrorCode(errs[i]) != webhooks.ENOTFOUND:
			t.Errorf("event %d of an unknown organization: %v", i, errs[i])
		case i%10 != 3 && (errs[i] != nil || len(published[i]) != 1):
			t.Errorf("event %d: %v, deliveries %v", i, errs[i], published[i])
		case i%10 != 3 && (published[i][0].EventID != events[i].ID || published[i][0].EndpointID != endpoint ||
			published[i][0].Status != webhooks.StatusPending || !published[i][0].CreatedAt.Equal(events[i].ReceivedAt)):
			t.Errorf("event %d (%s): delivery %+v, want pending to endpoint %s", i, events[i].ID, published[i][0], endpoint)
		case i%10 != 3:
			stored++
			ids = append(ids, published[i][0].ID)
			if at, ok := webhooks.IDTime(published[i][0].ID); !ok || !at.Equal(events[i].ReceivedAt) {
				t.Errorf("delivery id %s carries %s, want its event's time %s", published[i][0].ID, at, events[i].ReceivedAt)
			}
		}
	}
	var storedEvents, deliveries, returned, open int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries),
		(SELECT count(*) FROM deliveries d JOIN events ev ON ev.id = d.event_id AND ev.created_at = d.created_at WHERE d.id = ANY($1)),
		(SELECT count(*) FROM open_deliveries)`, ids).Scan(&storedEvents, &deliveries, &returned, &open))
	if storedEvents != stored || deliveries != stored || returned != stored || open != stored {
		t.Fatalf("%d events, %d deliveries (%d as returned), %d open; want %d each", storedEvents, deliveries, returned, open, stored)
	}
}

// Concurrent takes and records of mixed outcomes share groups; each gets its
// attempt number, and a final one leaves the open deliveries.
func TestRecordAttempt_ConcurrentRecordsOfEveryOutcome(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	org := testenv.SubscribedOrg(t, db, "Records")
	const n = 120
	var deliveries []webhooks.Delivery
	for range n {
		_, ds := testenv.PublishLead(t, db, org, time.Now())
		deliveries = append(deliveries, ds...)
	}
	statuses := []string{webhooks.StatusSucceeded, webhooks.StatusRetrying, webhooks.StatusFailed}
	numbers := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, d := range deliveries {
		code := 200
		rec := webhooks.AttemptRecord{DeliveryID: d.ID, Status: statuses[i%3],
			Attempt: webhooks.Attempt{StartedAt: time.Now(), DurationMS: 3, StatusCode: &code}}
		if rec.Status == webhooks.StatusRetrying {
			next := time.Now().Add(time.Minute)
			rec.NextAttemptAt = &next
		}
		wg.Go(func() {
			taken, err := db.Take(ctx, d.ID, d.CreatedAt, time.Minute, true)
			if err != nil || taken == nil {
				errs[i] = err
				return
			}
			numbers[i], errs[i] = db.RecordAttempt(ctx, d.CreatedAt, taken.Lease, rec)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || numbers[i] != 1 {
			t.Errorf("record %d (%s): number %d, %v", i, statuses[i%3], numbers[i], errs[i])
		}
	}
	var attempts, failed, succeeded, open int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM attempts),
		(SELECT count(*) FROM deliveries WHERE status = 'failed' AND completed_at IS NOT NULL),
		(SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND completed_at IS NOT NULL),
		(SELECT count(*) FROM open_deliveries)`).Scan(&attempts, &failed, &succeeded, &open))
	if attempts != n || failed != n/3 || succeeded != n/3 || open != n/3 {
		t.Fatalf("%d attempts, %d failed, %d succeeded, %d open; want %d, %d, %d, %d", attempts, failed, succeeded, open, n, n/3, n/3, n/3)
	}
	// A record under no lease (a delivery gone, or taken by another since) is
	// ENOTFOUND, alone, and records nothing.
	if _, err := db.RecordAttempt(ctx, time.Now(), time.Now(), webhooks.AttemptRecord{DeliveryID: uuid.NewString(),
		Status: webhooks.StatusSucceeded, Attempt: webhooks.Attempt{StartedAt: time.Now()}}); webhooks.ErrorCode(err) != webhooks.ENOTFOUND {
		t.Fatalf("record of a missing delivery: %v", err)
	}
}
