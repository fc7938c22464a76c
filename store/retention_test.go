package store_test

import (
	"context"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testenv"
)

func TestPruneEvents_DeletesOnlyOldEventsWhoseDeliveriesAreFinal(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := subscribedOrg(t, db, "Retention")
	old := time.Now().Add(-40 * 24 * time.Hour)
	publish := func(receivedAt time.Time, status string) string {
		id, _ := publishLead(t, db, org, receivedAt)
		db.Pool().Exec(ctx, `UPDATE deliveries SET status = $2 WHERE event_id = $1`, id, status)
		return id
	}
	oldDone := publish(old, webhooks.StatusSucceeded)
	oldFailed := publish(old, webhooks.StatusFailed)
	oldPending := publish(old, webhooks.StatusRetrying)
	recent := publish(time.Now(), webhooks.StatusSucceeded)

	n, err := db.PruneEvents(ctx, time.Now().Add(-30*24*time.Hour), 100)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want the 2 old events with final deliveries", n, err)
	}
	for id, want := range map[string]bool{oldDone: false, oldFailed: false, oldPending: true, recent: true} {
		_, err := db.Event(ctx, org, id)
		if kept := err == nil; kept != want {
			t.Errorf("event %s kept = %v, want %v (%v)", id, kept, want, err)
		}
	}
	var orphans int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE event_id IN ($1, $2)`, oldDone, oldFailed).Scan(&orphans))
	if orphans != 0 {
		t.Fatalf("%d deliveries of pruned events remain", orphans)
	}
}

// A listen session nobody read for longer than the idle time is deleted; a
// fresh one, and ordinary endpoints however old, are kept.
func TestDeleteAbandonedListenSessions(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org, _, err := db.CreateOrganization(ctx, "Listen")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(listen bool) string {
		e := &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/x", Events: []string{"*"}}
		create := db.CreateEndpoint
		if listen {
			create = db.CreateListenEndpoint
		}
		testenv.Must(t, create(ctx, e))
		return e.ID
	}
	abandoned, fresh, ordinary := mk(true), mk(true), mk(false)
	testenv.Must(t, db.TouchListenSession(ctx, fresh))
	if _, err := db.Pool().Exec(ctx, `UPDATE endpoints SET updated_at = now() - interval '2 hours' WHERE id = ANY($1::uuid[])`,
		[]string{abandoned, ordinary}); err != nil {
		t.Fatal(err)
	}
	n, err := db.DeleteAbandonedListenSessions(ctx, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("deleted %d (%v); want 1", n, err)
	}
	for id, want := range map[string]bool{abandoned: false, fresh: true, ordinary: true} {
		_, err := db.Endpoint(ctx, org.ID, id)
		if exists := err == nil; exists != want {
			t.Errorf("endpoint %s exists %v, want %v (%v)", id, exists, want, err)
		}
	}
}
