package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// arrivals records, per receiver, the data.status of each event in the order
// its requests arrived, and answers 500 to those fail names.
type arrivals struct {
	mu   sync.Mutex
	seen []string
	fail func(status string, n int) bool // n: how many times it arrived before
}

func (a *arrivals) reply(_ int, w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Empfio-Event") != webhooks.LeadStatusChanged {
		return // the webhook's ping
	}
	var env struct {
		Data struct{ Status string } `json:"data"`
	}
	json.NewDecoder(r.Body).Decode(&env)
	a.mu.Lock()
	n := 0
	for _, s := range a.seen {
		if s == env.Data.Status {
			n++
		}
	}
	a.seen = append(a.seen, env.Data.Status)
	a.mu.Unlock()
	if a.fail != nil && a.fail(env.Data.Status, n) { // unlocked: it may wait
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// order returns the arrivals so far.
func (a *arrivals) order() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

// index returns where the first arrival of name is, -1 if none.
func index(list []string, name string) int {
	for i, s := range list {
		if s == name {
			return i
		}
	}
	return -1
}

// lastIndex returns where the last arrival of name is, -1 if none.
func lastIndex(list []string, name string) int {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] == name {
			return i
		}
	}
	return -1
}

// An ordered webhook gets the events of one ordering key one at a time, in
// the order they were accepted: a failing delivery holds back the later ones
// of its key — and only those: not another key, not an unordered webhook —
// until it succeeds, or fails for good, and then the next goes. While held
// back, a delivery says what it waits for.
func TestWebhooks_OrderedDeliveryPerKey(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 2, Window: 3 * time.Second}})
	orgID, key := a.Org(t, "Ordered")
	gate := make(chan struct{})
	ordered := &arrivals{fail: func(status string, n int) bool {
		switch status {
		case "A1":
			if n == 0 {
				return true // A1 fails once; its retry comes after gate opens
			}
			<-gate
			return false
		case "C1":
			return true // fails for good
		}
		return false
	}}
	plain := &arrivals{}
	orderedRecv := apptest.NewReceiver(t, ordered.reply)
	plainRecv := apptest.NewReceiver(t, plain.reply)
	openGate := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(openGate) // before the receivers close (cleanups run last first): a failed test leaves no reply waiting

	var hook webhooks.Endpoint
	r := a.Do(t, "POST", "/api/v1/webhooks", key, `{"url":"`+orderedRecv.URL+`","events":["lead.*"],"ordered":true}`)
	r.JSON(t, &hook)
	if r.Status != http.StatusCreated || !hook.Ordered {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	a.Webhook(t, key, plainRecv.URL, "lead.*")

	events := map[string]string{} // status → event id
	publish := func(status, orderingKey string) {
		t.Helper()
		r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": webhooks.LeadStatusChanged,
			"organization_id": orgID, "ordering_key": orderingKey, "data": map[string]any{"id": "lead-" + orderingKey, "status": status}})
		if r.Status != http.StatusAccepted {
			t.Fatalf("publish %s: %d %s", status, r.Status, r.Body)
		}
		events[status] = r.Map(t)["event_id"].(string)
	}
	deliveryOf := func(status string) map[string]any {
		t.Helper()
		var page struct{ Data []map[string]any }
		a.Do(t, "GET", "/api/v1/webhooks/"+hook.ID+"/deliveries?event_id="+events[status], key, nil).JSON(t, &page)
		if len(page.Data) != 1 {
			t.Fatalf("deliveries of %s: %v", status, page.Data)
		}
		return a.Do(t, "GET", "/api/v1/deliveries/"+page.Data[0]["id"].(string), key, nil).Map(t)
	}

	for _, s := range []string{"A1", "A2", "A3"} {
		publish(s, "A")
	}
	for _, s := range []string{"B1", "B2"} {
		publish(s, "B")
	}
	// A1 failed once and its retry is held at the gate: key B is not held
	// back, nor is the webhook that is not ordered, but A2 and A3 wait.
	testenv.Eventually(t, 15*time.Second, "A1 retried, and all of B delivered", func() bool {
		o := ordered.order()
		return len(o) >= 4 && index(o, "B2") >= 0 && strings.Count(strings.Join(o, " "), "A1") == 2
	})
	testenv.Eventually(t, 10*time.Second, "every event at the webhook that is not ordered", func() bool { return len(plain.order()) == 5 })
	if o := ordered.order(); index(o, "A2") >= 0 || index(o, "A3") >= 0 {
		t.Fatalf("A2 or A3 arrived while A1 was not yet delivered: %v", o)
	}
	a1, a2 := deliveryOf("A1"), deliveryOf("A2")
	if a2["status"] != webhooks.StatusPending || a2["waiting_for"] != a1["id"] || a2["ordering_key"] != "A" {
		t.Fatalf("A2 while A1 is being retried: status %v, waiting_for %v (A1 is %v), key %v", a2["status"], a2["waiting_for"], a1["id"], a2["ordering_key"])
	}
	openGate()
	testenv.Eventually(t, 15*time.Second, "A2 and A3 after A1", func() bool { return index(ordered.order(), "A3") >= 0 })
	o := ordered.order()
	if !(strings.Count(strings.Join(o, " "), "A1") == 2 && index(o, "A1") < index(o, "A2") && index(o, "A2") < index(o, "A3") &&
		index(o, "B1") < index(o, "B2")) {
		t.Fatalf("arrivals %v: each key's events must arrive in order, A2 after A1's success", o)
	}
	if a2 := deliveryOf("A2"); a2["waiting_for"] != nil {
		t.Fatalf("A2 done still waits for %v", a2["waiting_for"])
	}

	// A delivery that fails for good lets the next of its key go.
	publish("C1", "C")
	publish("C2", "C")
	testenv.Eventually(t, 20*time.Second, "C2 after C1 failed for good", func() bool { return index(ordered.order(), "C2") >= 0 })
	if c1 := deliveryOf("C1"); c1["status"] != webhooks.StatusFailed {
		t.Fatalf("C1 is %v when C2 went: want failed for good", c1["status"])
	}
	if o := ordered.order(); strings.Count(strings.Join(o, " "), "C1") != 3 || index(o, "C2") < lastIndex(o, "C1") {
		t.Fatalf("arrivals %v: C1 three times (two retries), then C2", o)
	}

	// Bad keys are 422 on the field; PATCH null turns ordering off.
	for _, k := range []string{"", strings.Repeat("k", webhooks.MaxOrderingKeyLength+1)} {
		m := problem(t, a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": webhooks.LeadCreated,
			"organization_id": orgID, "ordering_key": k, "data": map[string]any{"id": "x"}}), http.StatusUnprocessableEntity)
		if !strings.Contains(string(mustMarshal(m["errors"])), `"ordering_key"`) {
			t.Errorf("key of %d chars: %v", len(k), m["errors"])
		}
	}
	problem(t, a.Do(t, "PATCH", "/api/v1/webhooks/"+hook.ID, key, `{"ordered":"yes"}`), http.StatusUnprocessableEntity)
	if m := a.Do(t, "PATCH", "/api/v1/webhooks/"+hook.ID, key, `{"ordered":null}`).Map(t); m["ordered"] != false {
		t.Fatalf("ordered after null: %v", m["ordered"])
	}
}

// The agent's events carry the ordering key their data give: a lead's id.
func TestAgentEvent_DerivesItsOrderingKey(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, key := a.Org(t, "Derived keys")
	r := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{"id":"lead-42","name":"Jonas","channel":"web"}`))
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	ev := a.Do(t, "GET", "/api/v1/events/"+r.Map(t)["event_id"].(string), key, nil).Map(t)
	if ev["ordering_key"] != "lead:lead-42" {
		t.Fatalf("ordering_key %v, want lead:lead-42", ev["ordering_key"])
	}
}
