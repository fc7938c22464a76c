package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// postIdempotent POSTs body to /events with Idempotency-Key key.
func postIdempotent(t *testing.T, a *apptest.App, key, body string) *apptest.Response {
	t.Helper()
	return a.DoWith(t, "POST", "/api/v1/events", body, map[string]string{"Authorization": "Bearer " + apptest.InternalToken,
		"Content-Type": "application/json", "Idempotency-Key": key})
}

// A repeat with the same Idempotency-Key and body — however its JSON is
// spaced or ordered — gets the first answer and stores nothing; another body
// under the key is 409; keys are per organization; an expired key is used
// anew; bad keys are 400.
func TestEvents_IdempotencyKey(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, key := a.Org(t, "Idempotent")
	otherOrg, _ := a.Org(t, "Other")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, "lead.created")
	body := func(org, lead string) string {
		return `{"event":"lead.created","organization_id":"` + org + `","data":{"id":"` + lead + `","channel":"web"}}`
	}

	first := postIdempotent(t, a, "order-1", body(orgID, "l1"))
	if first.Status != http.StatusAccepted || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %s %v", first.Status, first.Body, first.Header)
	}
	id := first.Map(t)["event_id"]
	reordered := `{ "data": {"channel":"web", "id":"l1"}, "organization_id":"` + orgID + `", "event":"lead.created" }`
	again := postIdempotent(t, a, "order-1", reordered)
	if again.Status != http.StatusAccepted || again.Map(t)["event_id"] != id || again.Map(t)["deliveries"] != first.Map(t)["deliveries"] ||
		again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s %v, want the first answer (event %v)", again.Status, again.Body, again.Header, id)
	}
	problem(t, postIdempotent(t, a, "order-1", body(orgID, "l2")), http.StatusConflict)
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}

	other := postIdempotent(t, a, "order-1", body(otherOrg, "l1"))
	if other.Status != http.StatusAccepted || other.Map(t)["event_id"] == id {
		t.Fatalf("another organization's key: %d %s", other.Status, other.Body)
	}

	// Past its window the key is used anew.
	_, err := a.DB.Pool().Exec(context.Background(), `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'order-1'`)
	testenv.Must(t, err)
	later := postIdempotent(t, a, "order-1", body(orgID, "l2"))
	if later.Status != http.StatusAccepted || later.Map(t)["event_id"] == id || later.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("after 24 h: %d %s", later.Status, later.Body)
	}

	for _, bad := range []string{strings.Repeat("k", webhooks.MaxIdempotencyKeyLength+1), "tab\tkey", "é"} {
		problem(t, postIdempotent(t, a, bad, body(orgID, "l3")), http.StatusBadRequest)
	}
	if n := countEvents(t, a.DB); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}

// Concurrent requests under one key store one event, and all of them answer
// with it.
func TestEvents_ConcurrentRepeatsOfAnIdempotencyKeyStoreOneEvent(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Concurrent")
	body := `{"event":"lead.created","organization_id":"` + orgID + `","data":{"id":"l1","channel":"web"}}`
	const n = 24
	ids := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := postIdempotent(t, a, "same", body)
			if r.Status != http.StatusAccepted {
				t.Errorf("request %d: %d %s", i, r.Status, r.Body)
				return
			}
			ids[i] = r.Map(t)["event_id"]
		})
	}
	wg.Wait()
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("request %d answered event %v, request 0 %v", i, ids[i], ids[0])
		}
	}
	if got := countEvents(t, a.DB); got != 1 {
		t.Fatalf("%d events stored for one key, want 1", got)
	}
}
