package store_test

import (
	"context"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testenv"
	"github.com/empfio/webhooks/store"
	"github.com/google/uuid"
)

// subscribedOrg creates an organization with one endpoint subscribed to every
// event type, and returns the organization's id.
func subscribedOrg(t *testing.T, db *store.DB, name string) string {
	t.Helper()
	ctx := context.Background()
	org, _, err := db.CreateOrganization(ctx, name)
	testenv.Must(t, err)
	testenv.Must(t, db.CreateEndpoint(ctx, &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/x", Events: []string{"*"}}))
	return org.ID
}

// publishLead stores a lead.created event of orgID received at at, and returns
// its id and its deliveries' ids.
func publishLead(t *testing.T, db *store.DB, orgID string, at time.Time) (string, []string) {
	t.Helper()
	ev := &webhooks.Event{ID: uuid.NewString(), OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
		Data: []byte(`{}`), OccurredAt: at, ReceivedAt: at}
	testenv.Must(t, ev.RenderEnvelope())
	deliveries, err := db.Publish(context.Background(), ev)
	testenv.Must(t, err)
	ids := make([]string, len(deliveries))
	for i, d := range deliveries {
		ids[i] = d.ID
	}
	return ev.ID, ids
}

// endpointOf returns the id of the one endpoint of orgID.
func endpointOf(t *testing.T, db *store.DB, orgID string) string {
	t.Helper()
	var id string
	testenv.Must(t, db.Pool().QueryRow(context.Background(), `SELECT id::text FROM endpoints WHERE organization_id = $1`, orgID).Scan(&id))
	return id
}
