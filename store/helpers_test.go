package store_test

import (
	"context"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

// take takes delivery d for an attempt, failing t when it is not taken.
func take(t *testing.T, db *store.DB, d webhooks.Delivery) *store.Taken {
	t.Helper()
	got, err := db.Take(context.Background(), d.ID, d.CreatedAt, time.Minute, true)
	testenv.Must(t, err)
	if got == nil {
		t.Fatalf("delivery %s was not taken", d.ID)
	}
	return got
}

// endpointOf returns the id of the one endpoint of orgID.
func endpointOf(t testing.TB, db *store.DB, orgID string) string {
	t.Helper()
	var id string
	testenv.Must(t, db.Pool().QueryRow(context.Background(), `SELECT id::text FROM endpoints WHERE organization_id = $1`, orgID).Scan(&id))
	return id
}
