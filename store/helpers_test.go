package store_test

import (
	"context"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

// subscribedOrg creates an organization with one endpoint subscribed to every
// event type, and returns the organization's id.
func subscribedOrg(t testing.TB, db *store.DB, name string) string {
	t.Helper()
	ctx := context.Background()
	org, _, err := db.CreateOrganization(ctx, name)
	testenv.Must(t, err)
	testenv.Must(t, db.CreateEndpoint(ctx, &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/x", Events: []string{"*"}}))
	return org.ID
}

// leadAt is a lead.created event of orgID received at at, its envelope rendered.
func leadAt(t *testing.T, orgID string, at time.Time) *webhooks.Event {
	t.Helper()
	id, received := webhooks.EventIDAt(at)
	ev := &webhooks.Event{ID: id, OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
		Data: []byte(`{}`), OccurredAt: received, ReceivedAt: received}
	testenv.Must(t, ev.RenderEnvelope())
	return ev
}

// publishLead stores a lead.created event of orgID received at at, and returns
// it and its deliveries.
func publishLead(t *testing.T, db *store.DB, orgID string, at time.Time) (*webhooks.Event, []webhooks.Delivery) {
	t.Helper()
	ev := leadAt(t, orgID, at)
	deliveries, err := db.Publish(context.Background(), ev)
	testenv.Must(t, err)
	return ev, deliveries
}

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
