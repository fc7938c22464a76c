package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testenv"
	"github.com/empfio/webhooks/store"
	"github.com/google/uuid"
)

// Concurrent publishes share groups; an event of an unknown organization in a
// group fails alone, and every other event of the group is stored with its
// deliveries.
func TestPublish_ConcurrentEventsEachGetTheirOwnOutcome(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	org := subscribedOrg(t, db, "Group")
	endpoint := endpointOf(t, db, org)

	const n = 200
	errs := make([]error, n)
	published := make([][]store.Published, n)
	events := make([]*webhooks.Event, n)
	var wg sync.WaitGroup
	for i := range n {
		orgID := org
		if i%10 == 3 {
			orgID = uuid.NewString() // unknown: its group must not fail with it
		}
		ev := &webhooks.Event{ID: uuid.NewString(), OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
			Data: []byte(`{"id":"l"}`), OccurredAt: time.Now(), ReceivedAt: time.Now()}
		testenv.Must(t, ev.RenderEnvelope())
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
			published[i][0].Status != webhooks.StatusPending || published[i][0].EndpointVersion != 1):
			t.Errorf("event %d (%s): delivery %+v, want pending to endpoint %s", i, events[i].ID, published[i][0], endpoint)
		case i%10 != 3:
			stored++
			ids = append(ids, published[i][0].ID)
		}
	}
	var storedEvents, deliveries, returned int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries),
		(SELECT count(*) FROM deliveries d JOIN events ev ON ev.id = d.event_id WHERE d.id = ANY($1))`, ids).Scan(&storedEvents, &deliveries, &returned))
	if storedEvents != stored || deliveries != stored || returned != stored {
		t.Fatalf("%d events and %d deliveries stored, %d of them as returned, want %d each", storedEvents, deliveries, returned, stored)
	}
}

// Concurrent records of mixed outcomes share groups and each gets its attempt
// number; failures count their endpoint's streak and a success ends it.
func TestRecordAttempt_ConcurrentRecordsOfEveryOutcome(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	org := subscribedOrg(t, db, "Records")
	const n = 120
	var deliveries []string
	for range n {
		_, ids := publishLead(t, db, org, time.Now())
		deliveries = append(deliveries, ids...)
	}
	statuses := []string{webhooks.StatusSucceeded, webhooks.StatusRetrying, webhooks.StatusFailed}
	numbers := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, id := range deliveries {
		code := 200
		rec := webhooks.AttemptRecord{DeliveryID: id, Status: statuses[i%3],
			Attempt: webhooks.Attempt{StartedAt: time.Now(), DurationMS: 3, StatusCode: &code}}
		if rec.Status == webhooks.StatusRetrying {
			next := time.Now().Add(time.Minute)
			rec.NextAttemptAt = &next
		}
		wg.Go(func() {
			r, err := db.RecordAttempt(ctx, rec)
			numbers[i], errs[i] = r.Number, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || numbers[i] != 1 {
			t.Errorf("record %d (%s): number %d, %v", i, statuses[i%3], numbers[i], errs[i])
		}
	}
	var attempts, failed, succeeded int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM attempts),
		(SELECT count(*) FROM deliveries WHERE status = 'failed' AND completed_at IS NOT NULL),
		(SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND completed_at IS NOT NULL)`).Scan(&attempts, &failed, &succeeded))
	if attempts != n || failed != n/3 || succeeded != n/3 {
		t.Fatalf("%d attempts, %d failed, %d succeeded; want %d, %d, %d", attempts, failed, succeeded, n, n/3, n/3)
	}
	// A record of a delivery that is gone is ENOTFOUND, alone.
	if _, err := db.RecordAttempt(ctx, webhooks.AttemptRecord{DeliveryID: uuid.NewString(), Status: webhooks.StatusSucceeded,
		Attempt: webhooks.Attempt{StartedAt: time.Now()}}); webhooks.ErrorCode(err) != webhooks.ENOTFOUND {
		t.Fatalf("record of a missing delivery: %v", err)
	}
}
