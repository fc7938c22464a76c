package api_test

import (
	"net/http"
	"testing"

	"github.com/empfio/webhooks/internal/apptest"
)

// A listen session's stream refuses a Last-Event-ID that is not a stream id
// with a 422 naming it (it reached Redis and came back a 503), and another
// endpoint's id is not a stream; the session's events are validated.
func TestListenSession_BadInput(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Listener")
	r := a.Do(t, "POST", "/api/v1/listen-sessions", key, map[string]any{"events": []string{"no.such"}})
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown event type: %d %s", r.Status, r.Body)
	}
	r = a.Do(t, "POST", "/api/v1/listen-sessions", key, map[string]any{"events": []string{"lead.*"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := r.Map(t)["id"].(string)
	for _, bad := range []string{"garbage", "1-2-3", "-1", "99999999999999999999999-0"} {
		r := a.DoWith(t, "GET", "/api/v1/listen-sessions/"+id+"/stream", nil, map[string]string{"Authorization": "Bearer " + key, "Last-Event-ID": bad})
		if r.Status != http.StatusUnprocessableEntity || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("Last-Event-ID %q: %d %s", bad, r.Status, r.Body)
		}
	}
	other, _ := a.Webhook(t, key, "http://127.0.0.1:1/hook", "lead.created")
	if r := a.Do(t, "GET", "/api/v1/listen-sessions/"+other+"/stream", key, nil); r.Status != http.StatusNotFound {
		t.Fatalf("an ordinary webhook's stream: %d %s", r.Status, r.Body)
	}
}
