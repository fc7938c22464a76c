package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

// A delivery a worker is recording (its row locked) is skipped by the sweep,
// not waited for: waiting could deadlock with the worker's group update.
func TestClaimOverdue_SkipsRowsBeingRecorded(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := testenv.SubscribedOrg(t, db, "Sweep")
	var ids []string
	for range 2 {
		_, got := testenv.PublishLead(t, db, org, time.Now())
		ids = append(ids, got[0].ID)
	}
	_, err := db.Pool().Exec(ctx, `UPDATE deliveries SET next_attempt_at = now() - interval '1 hour'`)
	testenv.Must(t, err)

	busy, err := db.Pool().Begin(ctx) // a worker recording ids[0]
	testenv.Must(t, err)
	defer busy.Rollback(ctx)
	_, err = busy.Exec(ctx, `UPDATE deliveries SET attempts = attempts + 1 WHERE id = $1`, ids[0])
	testenv.Must(t, err)

	claimCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	claimed, err := db.ClaimOverdue(claimCtx, time.Minute, 10)
	if err != nil {
		t.Fatalf("the sweep waited for a locked row instead of skipping it: %v", err)
	}
	if !slices.Equal(dueIDs(claimed), []string{ids[1]}) {
		t.Fatalf("claimed %v, want only the free delivery %s", claimed, ids[1])
	}

	testenv.Must(t, busy.Rollback(ctx)) // recorded: the row is free again, and still overdue
	claimed, err = db.ClaimOverdue(ctx, time.Minute, 10)
	testenv.Must(t, err)
	if !slices.Equal(dueIDs(claimed), []string{ids[0]}) {
		t.Fatalf("after the lock: claimed %v, want %s", claimed, ids[0])
	}
}

func dueIDs(list []store.Due) []string {
	var ids []string
	for _, d := range list {
		ids = append(ids, d.ID)
	}
	return ids
}
