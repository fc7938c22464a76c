package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// A webhook's custom headers go with its ping and every attempt of its
// deliveries, show in the delivery's request, change with PATCH and go with
// null; bad ones are 422 at the field. (Sealed at rest: store's
// TestSecrets_EncryptedAtRestAndRotated.)
func TestWebhooks_CustomHeadersOnEveryAttempt(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Headers")
	recv := apptest.NewReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 { // the event's first attempt fails: the retry must carry them too
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	var created struct {
		webhooks.Endpoint
		Ping struct{ OK bool } `json:"ping"`
	}
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"lead.created"},
		"headers": map[string]string{"Authorization": "Bearer s3cret-token", "X-Tenant": "acme"}})
	r.JSON(t, &created)
	if r.Status != http.StatusCreated || created.Headers["X-Tenant"] != "acme" || !created.Ping.OK {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}

	ev := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": webhooks.LeadCreated, "organization_id": orgID, "data": map[string]any{"id": "l1"}})
	if ev.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", ev.Status, ev.Body)
	}
	testenv.Eventually(t, 15*time.Second, "the ping and the failed attempt", func() bool { return recv.Count() >= 2 })
	var list struct{ Data []webhooks.Delivery }
	a.Do(t, "GET", "/api/v1/webhooks/"+created.ID+"/deliveries", key, nil).JSON(t, &list)
	if len(list.Data) != 1 {
		t.Fatalf("%d deliveries", len(list.Data))
	}
	if r := a.Do(t, "POST", "/api/v1/deliveries/"+list.Data[0].ID+"/retry", key, nil); r.Status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 15*time.Second, "the retry", func() bool { return recv.Count() >= 3 })
	for i, q := range recv.Requests()[:3] {
		if q.Header.Get("Authorization") != "Bearer s3cret-token" || q.Header.Get("X-Tenant") != "acme" {
			t.Fatalf("request %d (%s) lacks the custom headers: %v", i, q.Header.Get("X-Empfio-Event"), q.Header)
		}
		if q.Header.Get("Content-Type") != "application/json" || q.Header.Get("X-Empfio-Signature") == "" {
			t.Fatalf("request %d lost the service's headers: %v", i, q.Header)
		}
	}

	var d webhooks.Delivery
	a.Do(t, "GET", "/api/v1/deliveries/"+list.Data[0].ID, key, nil).JSON(t, &d)
	if d.Request.Headers["X-Tenant"] != "acme" || d.Request.Headers["X-Empfio-Event"] != webhooks.LeadCreated {
		t.Fatalf("the delivery's request headers: %v", d.Request.Headers)
	}

	var e webhooks.Endpoint
	a.Do(t, "PATCH", "/api/v1/webhooks/"+created.ID, key, `{"headers":{"X-Tenant":"globex"}}`).JSON(t, &e)
	if len(e.Headers) != 1 || e.Headers["X-Tenant"] != "globex" {
		t.Fatalf("patched: %v", e.Headers)
	}
	a.Do(t, "PATCH", "/api/v1/webhooks/"+created.ID, key, `{"description":"other"}`).JSON(t, &e)
	if e.Headers["X-Tenant"] != "globex" {
		t.Fatalf("an absent field changed the headers: %v", e.Headers)
	}
	var cleared map[string]any // fresh: decoding into e would keep the map's old keys
	a.Do(t, "PATCH", "/api/v1/webhooks/"+created.ID, key, `{"headers":null}`).JSON(t, &cleared)
	if h, ok := cleared["headers"].(map[string]any); !ok || len(h) != 0 {
		t.Fatalf("null: %v", cleared["headers"])
	}

	m := problem(t, a.Do(t, "PATCH", "/api/v1/webhooks/"+created.ID, key, `{"headers":{"X-Empfio-Signature":"forged","Bad Name":"x","X-Ok":"a\nb"}}`),
		http.StatusUnprocessableEntity)
	if got := fieldErrors(m); !slices.Equal(got, []string{"headers.Bad Name", "headers.X-Empfio-Signature", "headers.X-Ok"}) {
		t.Fatalf("errors %v", got)
	}
	problem(t, a.Do(t, "POST", "/api/v1/webhooks", key, `{"url":"`+recv.URL+`","events":["*"],"headers":{"Host":"evil.example"}}`),
		http.StatusUnprocessableEntity)
	problem(t, a.Do(t, "POST", "/api/v1/webhooks", key, `{"url":"`+recv.URL+`","events":["*"],"headers":{"X-A":1}}`), http.StatusUnprocessableEntity)
}
