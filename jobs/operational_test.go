package jobs_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// delivered decodes the data of the requests of eventType a receiver got.
func delivered(t *testing.T, recv *apptest.Receiver, eventType string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, q := range recv.Of(eventType) {
		var env struct{ Data map[string]any }
		testenv.Must(t, json.Unmarshal(q.Body, &env))
		out = append(out, env.Data)
	}
	return out
}

// delivery.failed and webhook.disabled are events of the organization like any
// other: a second endpoint subscribed to them gets them, never the endpoint they
// are about, and a failing delivery of one causes no further delivery.failed.
func TestOperationalEvents_ReachAnotherEndpointNeverTheirOwn(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Ops")
	broken := apptest.NewReceiver(t, okUnlessEvent(func(n int, w http.ResponseWriter) {
		if n == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusGone)
	}))
	brokenID, _ := a.Webhook(t, key, broken.URL, "*") // "*" includes the operational events: never its own
	pager := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, pager.URL, "delivery.failed", "webhook.*")
	failingPager := apptest.NewReceiver(t, okUnlessEvent(func(_ int, w http.ResponseWriter) { w.WriteHeader(500) }))
	a.Webhook(t, key, failingPager.URL, "delivery.failed")

	eventID := publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	testenv.Eventually(t, 15*time.Second, "the pager hears of the failed delivery", func() bool {
		for _, d := range delivered(t, pager, webhooks.DeliveryFailed) {
			if d["webhook_id"] == brokenID && d["event_id"] == eventID {
				return true
			}
		}
		return false
	})
	for _, d := range delivered(t, pager, webhooks.DeliveryFailed) {
		if d["webhook_id"] == brokenID && (d["last_status_code"] != 502.0 || d["event_type"] != "lead.created" || d["attempts"] != 1.0) {
			t.Fatalf("delivery.failed data %v", d)
		}
	}

	// A 410 disables the endpoint: webhook.disabled, with the reason.
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l2", "channel": "web"})
	testenv.Eventually(t, 15*time.Second, "the pager hears the endpoint was disabled", func() bool {
		for _, d := range delivered(t, pager, webhooks.WebhookDisabled) {
			if d["webhook_id"] == brokenID && d["reason"] == "the endpoint answered 410 Gone" && d["url"] == broken.URL {
				return true
			}
		}
		return false
	})
	// A user disabling the failing pager is news too.
	pagers := map[string]bool{}
	var hooks struct{ Data []webhooks.Endpoint }
	a.Do(t, "GET", "/api/v1/webhooks", key, nil).JSON(t, &hooks)
	for _, h := range hooks.Data {
		if h.URL == failingPager.URL {
			if r := a.Do(t, "PATCH", "/api/v1/webhooks/"+h.ID, key, map[string]any{"enabled": false}); r.Status != 200 {
				t.Fatalf("disable: %d %s", r.Status, r.Body)
			}
			pagers[h.ID] = true
		}
	}
	testenv.Eventually(t, 15*time.Second, "the pager hears of the user's disabling", func() bool {
		for _, d := range delivered(t, pager, webhooks.WebhookDisabled) {
			if pagers[d["webhook_id"].(string)] && d["reason"] == "disabled by a user" {
				return true
			}
		}
		return false
	})

	// Never their own endpoint; and the failing pager's failed delivery.failed
	// caused no delivery.failed about itself.
	if n := len(broken.Of(webhooks.DeliveryFailed)) + len(broken.Of(webhooks.WebhookDisabled)); n != 0 {
		t.Fatalf("the broken endpoint got %d operational events about itself", n)
	}
	for _, d := range delivered(t, pager, webhooks.DeliveryFailed) {
		if d["event_type"] == webhooks.DeliveryFailed {
			t.Fatalf("a delivery.failed about a delivery.failed: %v", d)
		}
	}
}

// delivery.failed says once that a delivery failed for good: a user's retry
// of it that fails again sends no second one (a support inbox got eleven
// pages for five deliveries).
func TestDeliveryFailed_OncePerDeliveryNotPerManualRetry(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Failed once")
	broken := apptest.NewReceiver(t, okUnlessEvent(func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }))
	a.Webhook(t, key, broken.URL, "lead.*")
	pager := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, pager.URL, "delivery.failed")
	failedAbout := func(eventID string) int {
		n := 0
		for _, d := range delivered(t, pager, webhooks.DeliveryFailed) {
			if d["event_id"] == eventID {
				n++
			}
		}
		return n
	}

	first := publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	testenv.Eventually(t, 15*time.Second, "delivery.failed about the first event", func() bool { return failedAbout(first) == 1 })
	var ev webhooks.Event
	a.Do(t, "GET", "/api/v1/events/"+first, key, nil).JSON(t, &ev)
	var id string
	for _, d := range ev.Deliveries {
		if d.EventType == webhooks.LeadCreated {
			id = d.ID
		}
	}
	for try := 2; try <= 3; try++ {
		if r := a.Do(t, "POST", "/api/v1/deliveries/"+id+"/retry", key, nil); r.Status != http.StatusAccepted {
			t.Fatalf("retry: %d %s", r.Status, r.Body)
		}
		testenv.Eventually(t, 15*time.Second, "the manual attempt failed", func() bool {
			var d webhooks.Delivery
			a.Do(t, "GET", "/api/v1/deliveries/"+id, key, nil).JSON(t, &d)
			return d.Attempts == try && d.Status == webhooks.StatusFailed
		})
	}
	// A later failure is heard: by then the manual ones would have been too.
	second := publish(t, a, orgID, "lead.created", map[string]any{"id": "l2", "channel": "web"})
	testenv.Eventually(t, 15*time.Second, "delivery.failed about the second event", func() bool { return failedAbout(second) == 1 })
	if n := failedAbout(first); n != 1 {
		t.Fatalf("%d delivery.failed about one delivery that failed, then failed two manual retries: want 1", n)
	}
}
