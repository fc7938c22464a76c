package testenv

import (
	"context"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/store"
)

// SubscribedOrg creates an organization with one endpoint subscribed to every
// event type, and returns the organization's id.
func SubscribedOrg(t testing.TB, db *store.DB, name string) string {
	t.Helper()
	ctx := context.Background()
	org, _, err := db.CreateOrganization(ctx, name)
	Must(t, err)
	Must(t, db.CreateEndpoint(ctx, &webhooks.Endpoint{OrganizationID: org.ID, URL: "https://hooks.example.com/x", Events: []string{"*"}}))
	return org.ID
}

// LeadAt is a lead.created event of orgID received at at, its envelope rendered.
func LeadAt(t testing.TB, orgID string, at time.Time) *webhooks.Event {
	t.Helper()
	id, received := webhooks.EventIDAt(at)
	ev := &webhooks.Event{ID: id, OrganizationID: orgID, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
		Data: []byte(`{}`), OccurredAt: received, ReceivedAt: received}
	Must(t, ev.RenderEnvelope())
	return ev
}

// PublishLead stores a lead.created event of orgID received at at, and
// returns it and its deliveries.
func PublishLead(t testing.TB, db *store.DB, orgID string, at time.Time) (*webhooks.Event, []webhooks.Delivery) {
	t.Helper()
	ev := LeadAt(t, orgID, at)
	deliveries, err := db.Publish(context.Background(), ev)
	Must(t, err)
	return ev, deliveries
}

// PartitionsOf returns how many of the history's tables have a partition of
// day (UTC) attached.
func PartitionsOf(t testing.TB, db *store.DB, day time.Time) int {
	t.Helper()
	var n int
	Must(t, db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_inherits WHERE inhrelid::regclass::text LIKE '%\_p' || $1`,
		day.UTC().Format("20060102")).Scan(&n))
	return n
}
