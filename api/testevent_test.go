package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// POST /webhooks/{id}/test with an event type sends that type's catalog
// example to this webhook alone as a real delivery, whose id the answer gives
// and whose log shows it; without a body it is still the ping. A type the
// webhook does not receive, an operational one or an unknown one is 422; a
// disabled webhook is 409.
func TestWebhooks_TestEventOfAChosenType(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	_, key := a.Org(t, "Typed test")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	other := apptest.NewReceiver(t, apptest.Status(200))
	id, secret := a.Webhook(t, key, recv.URL, "booking.*")
	a.Webhook(t, key, other.URL, "*")
	path := "/api/v1/webhooks/" + id + "/test"

	r := a.Do(t, "POST", path, key, map[string]string{"event_type": webhooks.BookingCreated})
	var sent api.TestEvent
	r.JSON(t, &sent)
	if r.Status != http.StatusAccepted || sent.DeliveryID == "" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, "the test event arrives", func() bool { return len(recv.Of(webhooks.BookingCreated)) == 1 })
	got := recv.Of(webhooks.BookingCreated)[0]
	if got.Header.Get("X-Empfio-Delivery") != sent.DeliveryID || got.Header.Get("X-Empfio-Signature") != webhooks.SignBody([]string{secret}, got.Body) {
		t.Fatalf("delivery %s, signature %q", got.Header.Get("X-Empfio-Delivery"), got.Header.Get("X-Empfio-Signature"))
	}
	example, _ := webhooks.LookupEventType(webhooks.BookingCreated)
	var env webhooks.Envelope
	testenv.Must(t, json.Unmarshal(got.Body, &env))
	if !jsonEqual(env.Data, example.Example) {
		t.Fatalf("sent %s, want the catalog example %s", env.Data, example.Example)
	}
	var d webhooks.Delivery
	testenv.Eventually(t, 10*time.Second, "the delivery is logged as succeeded", func() bool {
		a.Do(t, "GET", "/api/v1/deliveries/"+sent.DeliveryID, key, nil).JSON(t, &d)
		return d.Status == webhooks.StatusSucceeded && len(d.AttemptLog) == 1
	})
	if other.Count() != 0 { // the other webhook, subscribed to everything (its ping aside)
		for _, q := range other.Requests() {
			if q.Header.Get("X-Empfio-Event") != webhooks.WebhookPing {
				t.Fatalf("another webhook got the test event: %s", q.Header.Get("X-Empfio-Event"))
			}
		}
	}

	var ping api.PingResult
	a.Do(t, "POST", path, key, nil).JSON(t, &ping)
	if !ping.OK || len(recv.Of(webhooks.WebhookPing)) != 2 { // on creation, and now
		t.Fatalf("without a body: %+v, %d pings", ping, len(recv.Of(webhooks.WebhookPing)))
	}

	for _, bad := range []string{webhooks.LeadCreated, webhooks.DeliveryFailed, webhooks.WebhookPing, "nope.never"} {
		m := problem(t, a.Do(t, "POST", path, key, map[string]string{"event_type": bad}), http.StatusUnprocessableEntity)
		if !slices.Contains(fieldErrors(m), "event_type") {
			t.Errorf("%s: errors %v", bad, fieldErrors(m))
		}
	}
	a.Do(t, "PATCH", "/api/v1/webhooks/"+id, key, `{"enabled":false}`)
	problem(t, a.Do(t, "POST", path, key, map[string]string{"event_type": webhooks.BookingCreated}), http.StatusConflict)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && string(mustMarshal(x)) == string(mustMarshal(y))
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
