package jobs_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/apptest"
	"github.com/empfio/webhooks/internal/testenv"
)

// First attempts take their endpoint from the worker's memory, yet a change
// made before an event is published reaches that event's delivery at once:
// its task asks for the endpoint as published. What is sent is the stored
// envelope, byte for byte, whether the task carries it or not (past 2 KiB).
func TestDelivery_AnEndpointChangedBeforeAnEventIsDeliveredAsChanged(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Movers")
	old := apptest.NewReceiver(t, apptest.Status(200))
	moved := apptest.NewReceiver(t, apptest.Status(200))
	hookID, _ := a.Webhook(t, key, old.URL, "lead.created")
	for range 3 { // the worker keeps the endpoint
		publish(t, a, orgID, "lead.created", map[string]any{"id": "before"})
	}
	testenv.Eventually(t, 10*time.Second, "three deliveries to the first URL", func() bool { return len(old.Of("lead.created")) == 3 })

	if r := a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"url": moved.URL}); r.Status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", r.Status, r.Body)
	}
	small := publish(t, a, orgID, "lead.created", map[string]any{"id": "after"})
	large := publish(t, a, orgID, "lead.created", map[string]any{"id": "after", "note": strings.Repeat("ü", 2000)})
	testenv.Eventually(t, 10*time.Second, "both deliveries to the new URL", func() bool { return len(moved.Of("lead.created")) == 2 })
	if n := len(old.Of("lead.created")); n != 3 {
		t.Errorf("the first URL got %d deliveries, want 3: one went to the endpoint as it was", n)
	}
	for _, got := range moved.Of("lead.created") {
		var id, stored string
		testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT ev.id::text, ev.envelope::text FROM deliveries d
			JOIN events ev ON ev.id = d.event_id WHERE d.id = $1`, got.Header.Get("X-Empfio-Delivery")).Scan(&id, &stored))
		if id != small && id != large {
			t.Errorf("delivery of event %s, want %s or %s", id, small, large)
		}
		if string(got.Body) != stored {
			t.Errorf("event %s: sent %d bytes that are not the %d stored", id, len(got.Body), len(stored))
		}
	}
}
