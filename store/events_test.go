package store_test

import (
	"context"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testenv"
	"github.com/google/uuid"
)

// An endpoint deleted while an event of its organization is being stored is
// not delivered to, and the event is stored all the same: the organization
// exists, so the sender must not be told it does not (a 404 it would not
// retry, losing the event for every other endpoint).
func TestPublish_AnEndpointDeletedMeanwhileIsLeftOut(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.DB(t)
	org := subscribedOrg(t, db, "Race")
	gone := endpointOf(t, db, org)
	kept := &webhooks.Endpoint{OrganizationID: org, URL: "https://hooks.example.com/kept", Events: []string{"*"}}
	testenv.Must(t, db.CreateEndpoint(ctx, kept))

	// The delete holds the endpoint's row while the publish reads it as still
	// there; the delete commits while the publish checks its deliveries'
	// references.
	del, err := db.Pool().Begin(ctx)
	testenv.Must(t, err)
	defer del.Rollback(ctx)
	_, err = del.Exec(ctx, `DELETE FROM endpoints WHERE id = $1`, gone)
	testenv.Must(t, err)

	type outcome struct {
		deliveries []string
		err        error
	}
	done := make(chan outcome, 1)
	ev := &webhooks.Event{ID: uuid.NewString(), OrganizationID: org, Type: webhooks.LeadCreated, Source: webhooks.SourceAPI,
		Data: []byte(`{}`), OccurredAt: time.Now(), ReceivedAt: time.Now()}
	testenv.Must(t, ev.RenderEnvelope())
	go func() {
		ds, err := db.Publish(ctx, ev)
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.EndpointID)
		}
		done <- outcome{ids, err}
	}()
	testenv.Eventually(t, 10*time.Second, "the publish waits for the endpoint's row", func() bool {
		var waiting bool
		testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH input AS%')`).Scan(&waiting))
		return waiting
	})
	testenv.Must(t, del.Commit(ctx))

	got := <-done
	if got.err != nil {
		t.Fatalf("publishing while an endpoint was deleted: %v (code %s)", got.err, webhooks.ErrorCode(got.err))
	}
	if len(got.deliveries) != 1 || got.deliveries[0] != kept.ID {
		t.Fatalf("delivered to endpoints %v, want only %s", got.deliveries, kept.ID)
	}
	var stored int
	testenv.Must(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE event_id = $1`, ev.ID).Scan(&stored))
	if stored != 1 {
		t.Fatalf("%d deliveries stored, want 1", stored)
	}
}
