package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// flaky is a receiver of lead.created that fails until it is told to recover,
// and records the order of what it accepted.
type flaky struct {
	recovered atomic.Bool
	failures  atomic.Int64
	mu        sync.Mutex
	failedAt  []time.Time // when each failure was answered
	accepted  []int       // the "n" of each delivery accepted, in arrival order
	firstOK   time.Time
}

func (f *flaky) reply(_ int, w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Empfio-Event") != webhooks.LeadCreated {
		w.WriteHeader(http.StatusOK) // pings
		return
	}
	if !f.recovered.Load() {
		f.mu.Lock()
		f.failedAt = append(f.failedAt, time.Now())
		f.mu.Unlock()
		f.failures.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var env struct {
		Data struct{ N int }
	}
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	if len(f.accepted) == 0 {
		f.firstOK = time.Now()
	}
	f.accepted = append(f.accepted, env.Data.N)
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (f *flaky) acceptedSoFar() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.accepted)
}

// statusCount counts an endpoint's deliveries in status.
func statusCount(t *testing.T, a *apptest.App, endpointID, status string) int {
	t.Helper()
	var n int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND status = $2`, endpointID, status).Scan(&n))
	return n
}

func webhookOf(t *testing.T, a *apptest.App, key, id string) webhooks.Endpoint {
	t.Helper()
	var e webhooks.Endpoint
	a.Do(t, "GET", "/api/v1/webhooks/"+id, key, nil).JSON(t, &e)
	return e
}

// The breaker's whole life: a receiver fails (at least 12 times), the circuit
// opens after 10 failed attempts, deliveries are held and probed, the receiver
// recovers, the probe closes the circuit and every held delivery is released in
// the order its event arrived — nothing lost, nothing twice, nothing out of
// order — while a second endpoint hears webhook.circuit_opened and _closed.
func TestBreaker_OpensHoldsProbesClosesAndReleasesInOrder(t *testing.T) {
	start := time.Now()
	timeline := func(format string, args ...any) {
		t.Logf("%6.2fs  "+format, append([]any{time.Since(start).Seconds()}, args...)...)
	}
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 5, Window: 3100 * time.Millisecond}, // 0.1 s, 0.2 s, 0.4 s…
		Breaker:  webhooks.Breaker{Failures: 10, ProbeInterval: 300 * time.Millisecond, ReleaseRate: 10, DisableAfter: time.Hour}})
	orgID, key := a.Org(t, "Breaker")
	recv := &flaky{}
	hookID, _ := a.Webhook(t, key, apptest.NewReceiver(t, recv.reply).URL, webhooks.LeadCreated)
	pager := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, pager.URL, "webhook.*")

	const events = 20
	for n := range events / 2 {
		publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": n})
	}
	var open webhooks.Endpoint
	testenv.Eventually(t, 15*time.Second, "the circuit opens", func() bool {
		open = webhookOf(t, a, key, hookID)
		return open.Health.State != webhooks.CircuitClosed
	})
	timeline("circuit %s after %d failed attempts (receiver saw %d failures)", open.Health.State, open.Health.ConsecutiveFailures, recv.failures.Load())
	if open.Health.ConsecutiveFailures < 10 || open.Health.Since == nil {
		t.Fatalf("open circuit's health: %+v", open.Health)
	}
	for n := events / 2; n < events; n++ {
		publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": n})
	}
	// Every delivery held (between probes), at least 12 failures and two
	// failed probes: then the receiver recovers, and the next request can only
	// be a probe.
	atOpen := recv.failures.Load()
	testenv.Eventually(t, 20*time.Second, "all deliveries held, 12 failures or more, two failed probes", func() bool {
		n := recv.failures.Load()
		return statusCount(t, a, hookID, webhooks.StatusHeld) == events && n >= 12 && n >= atOpen+2
	})
	held := webhookOf(t, a, key, hookID)
	recv.mu.Lock()
	probes := recv.failedAt[atOpen:]
	for i := 1; i < len(probes); i++ {
		timeline("failed probe %d came %v after the one before", i+1, probes[i].Sub(probes[i-1]).Round(10*time.Millisecond))
	}
	if len(probes) >= 3 && probes[2].Sub(probes[1]) < probes[1].Sub(probes[0]) {
		t.Errorf("the wait between probes shrank: %v then %v", probes[1].Sub(probes[0]), probes[2].Sub(probes[1]))
	}
	recv.mu.Unlock()
	timeline("all %d deliveries held; %d failures; health %s, next probe at %v", held.Health.Held, recv.failures.Load(), held.Health.State, held.Health.NextProbeAt)
	if held.Health.Held != events || held.Health.State == webhooks.CircuitClosed {
		t.Fatalf("health while held: %+v", held.Health)
	}
	var attempts int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		WHERE d.endpoint_id = $1`, hookID).Scan(&attempts))
	if int64(attempts) != recv.failures.Load() {
		t.Fatalf("%d attempts recorded for %d requests: a held delivery spent an attempt, or one went unrecorded", attempts, recv.failures.Load())
	}
	recv.recovered.Store(true)
	timeline("receiver recovers")

	testenv.Eventually(t, 30*time.Second, "every delivery succeeds", func() bool {
		return statusCount(t, a, hookID, webhooks.StatusSucceeded) == events
	})
	recv.mu.Lock()
	timeline("first accepted (the probe) at %.2fs; all %d delivered", recv.firstOK.Sub(start).Seconds(), events)
	recv.mu.Unlock()
	got := recv.acceptedSoFar()
	want := make([]int, events)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("accepted in the order %v; want each once, in the order of the events", got)
	}
	closed := webhookOf(t, a, key, hookID)
	if closed.Health.State != webhooks.CircuitClosed || closed.Health.Held != 0 || closed.Health.ConsecutiveFailures != 0 {
		t.Fatalf("health after recovery: %+v", closed.Health)
	}

	testenv.Eventually(t, 10*time.Second, "the pager hears the circuit open and close", func() bool {
		return len(pager.Of(webhooks.WebhookCircuitOpened)) == 1 && len(pager.Of(webhooks.WebhookCircuitClosed)) == 1
	})
	opened, closedEv := delivered(t, pager, webhooks.WebhookCircuitOpened)[0], delivered(t, pager, webhooks.WebhookCircuitClosed)[0]
	if opened["webhook_id"] != hookID || opened["consecutive_failures"].(float64) < 10 || opened["last_status_code"] != 503.0 {
		t.Errorf("webhook.circuit_opened data %v", opened)
	}
	if closedEv["webhook_id"] != hookID || closedEv["held"] != float64(events-1) || closedEv["opened_at"] == nil {
		t.Errorf("webhook.circuit_closed data %v (want the %d held besides the probe)", closedEv, events-1)
	}
	timeline("circuit_opened %v, circuit_closed %v", opened["opened_at"], closedEv["closed_at"])
}

// An endpoint whose circuit stays open past ENDPOINT_DISABLE_AFTER is disabled
// with a reason and a webhook.disabled; enabling it again with
// "replay": "held_and_failed" sends what was held and what failed meanwhile.
func TestBreaker_LongOpenDisablesAndEnablingReplays(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}, // a failure is final at once
		Breaker:  webhooks.Breaker{Failures: 3, ProbeInterval: time.Hour, DisableAfter: time.Second}})
	orgID, key := a.Org(t, "Disable")
	recv := &flaky{}
	hookID, _ := a.Webhook(t, key, apptest.NewReceiver(t, recv.reply).URL, webhooks.LeadCreated)
	pager := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, pager.URL, webhooks.WebhookDisabled)

	for n := range 3 {
		publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": n})
	}
	testenv.Eventually(t, 10*time.Second, "the circuit opens", func() bool {
		return webhookOf(t, a, key, hookID).Health.State == webhooks.CircuitOpen
	})
	for n := 3; n < 5; n++ {
		publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": n})
	}
	testenv.Eventually(t, 10*time.Second, "the endpoint is disabled", func() bool {
		return len(delivered(t, pager, webhooks.WebhookDisabled)) == 1
	})
	e := webhookOf(t, a, key, hookID)
	if e.Enabled || e.DisabledReason == nil || !strings.Contains(*e.DisabledReason, "circuit stayed open") {
		t.Fatalf("after a long open circuit: enabled %v, reason %v", e.Enabled, e.DisabledReason)
	}
	if d := delivered(t, pager, webhooks.WebhookDisabled)[0]; d["webhook_id"] != hookID || d["reason"] != *e.DisabledReason {
		t.Errorf("webhook.disabled data %v", d)
	}
	if f, h := statusCount(t, a, hookID, webhooks.StatusFailed), statusCount(t, a, hookID, webhooks.StatusHeld); f != 3 || h != 2 {
		t.Fatalf("%d failed and %d held; want 3 and 2", f, h)
	}

	r := a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"replay": "held_and_failed"})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), "replay") {
		t.Fatalf("replay without enabling: %d %s", r.Status, r.Body)
	}
	if r := a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": true, "replay": "all"}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown replay: %d %s", r.Status, r.Body)
	}
	recv.recovered.Store(true)
	if r := a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": true, "replay": "held_and_failed"}); r.Status != http.StatusOK {
		t.Fatalf("enabling with held_and_failed: %d %s", r.Status, r.Body)
	}
	if r := a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": true, "replay": "held"}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a replay on an enabled webhook: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 30*time.Second, "all five delivered", func() bool { // one at a time, each a scheduled step: slow on a loaded machine
		return statusCount(t, a, hookID, webhooks.StatusSucceeded) == 5
	})
	got := recv.acceptedSoFar()
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("accepted %v after enabling; want each once, in order", got)
	}
	if e := webhookOf(t, a, key, hookID); !e.Enabled || e.Health.State != webhooks.CircuitClosed || e.Health.Held != 0 {
		t.Fatalf("after enabling: enabled %v, health %+v", e.Enabled, e.Health)
	}
}

// Enabling with "replay": "none" fails what was held: nothing is sent.
func TestBreaker_EnablingWithoutReplayFailsWhatWasHeld(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second},
		Breaker:  webhooks.Breaker{Failures: 1, ProbeInterval: time.Hour, DisableAfter: time.Hour}})
	orgID, key := a.Org(t, "None")
	recv := &flaky{}
	hookID, _ := a.Webhook(t, key, apptest.NewReceiver(t, recv.reply).URL, webhooks.LeadCreated)
	publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": 0})
	testenv.Eventually(t, 10*time.Second, "the circuit opens", func() bool {
		return webhookOf(t, a, key, hookID).Health.State == webhooks.CircuitOpen
	})
	publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": 1})
	testenv.Eventually(t, 10*time.Second, "the second delivery is held", func() bool {
		return statusCount(t, a, hookID, webhooks.StatusHeld) == 1
	})
	a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": false})
	recv.recovered.Store(true)
	a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": true, "replay": "none"})
	if f := statusCount(t, a, hookID, webhooks.StatusFailed); f != 2 {
		t.Fatalf("%d failed after enabling without replay; want 2", f)
	}
	// Something sent now goes through: the circuit is closed.
	publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": 2})
	testenv.Eventually(t, 10*time.Second, "the new delivery succeeds", func() bool {
		return statusCount(t, a, hookID, webhooks.StatusSucceeded) == 1
	})
	if got := recv.acceptedSoFar(); !slices.Equal(got, []int{2}) {
		t.Fatalf("accepted %v; want only the new delivery", got)
	}
}

// Held deliveries live in Postgres only: Redis losing everything while a
// circuit is open loses none of them, nor the probe.
func TestBreaker_RedisFlushedWhileOpenLosesNothing(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 5, Window: 3100 * time.Millisecond},
		Breaker:  webhooks.Breaker{Failures: 3, ProbeInterval: 300 * time.Millisecond, ReleaseRate: 50, DisableAfter: time.Hour}})
	orgID, key := a.Org(t, "Flush")
	recv := &flaky{}
	hookID, _ := a.Webhook(t, key, apptest.NewReceiver(t, recv.reply).URL, webhooks.LeadCreated)
	const events = 8
	for n := range events {
		publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": n})
	}
	testenv.Eventually(t, 20*time.Second, "every delivery held", func() bool {
		return statusCount(t, a, hookID, webhooks.StatusHeld) == events
	})
	testenv.Must(t, a.Redis.FlushDB(context.Background()).Err())
	recv.recovered.Store(true)
	testenv.Eventually(t, 30*time.Second, "every delivery succeeds after the flush", func() bool {
		return statusCount(t, a, hookID, webhooks.StatusSucceeded) == events
	})
	got := recv.acceptedSoFar()
	slices.Sort(got)
	if !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("accepted %v; want each of the %d once", got, events)
	}
}

// A user's retry of a held delivery sends it now, as its endpoint's probe —
// not after the probe interval: its success closes the circuit, and what was
// held with it is released.
func TestBreaker_RetryOfAHeldDeliverySendsItNowAsTheProbe(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 5, Window: 3100 * time.Millisecond},
		Breaker:  webhooks.Breaker{Failures: 3, ProbeInterval: webhooks.MaxProbeInterval, ReleaseRate: 50, DisableAfter: time.Hour}})
	orgID, key := a.Org(t, "HeldRetry")
	recv := &flaky{}
	hookID, _ := a.Webhook(t, key, apptest.NewReceiver(t, recv.reply).URL, webhooks.LeadCreated)
	for n := range 4 {
		publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": n})
	}
	testenv.Eventually(t, 15*time.Second, "the circuit opens and holds every delivery", func() bool {
		return webhookOf(t, a, key, hookID).Health.State == webhooks.CircuitOpen && statusCount(t, a, hookID, webhooks.StatusHeld) == 4
	})
	recv.recovered.Store(true)
	var held string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT id::text FROM deliveries WHERE endpoint_id = $1 AND status = 'held'
		ORDER BY created_at DESC LIMIT 1`, hookID).Scan(&held))
	if r := a.Do(t, "POST", "/api/v1/deliveries/"+held+"/retry", key, nil); r.Status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	// The next probe is 15 minutes away: only the retry can send anything now.
	testenv.Eventually(t, 10*time.Second, "the held delivery is sent, the circuit closes and the rest follow", func() bool {
		return len(recv.acceptedSoFar()) == 4 && webhookOf(t, a, key, hookID).Health.State == webhooks.CircuitClosed
	})
	if got := recv.acceptedSoFar(); got[0] != 3 {
		t.Fatalf("accepted in the order %v: the retried delivery (n=3) was not the first", got)
	}
}

// A release sends held deliveries one at a time: the next goes when the
// attempt of the one before it ended (or releaseOrderWait ran out), never
// while it is on its way — the sweeper, tending circuits every 200 ms here,
// restores a lost release without hurrying it.
func TestBreaker_ReleaseWaitsForEachAttemptOfASlowReceiver(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second},
		Breaker:  webhooks.Breaker{Failures: 1, ProbeInterval: time.Hour, ReleaseRate: 50, DisableAfter: time.Hour}})
	orgID, key := a.Org(t, "Slow")
	recv := &flaky{}
	var inFlight, most atomic.Int64
	slow := func(n int, w http.ResponseWriter, r *http.Request) {
		if recv.recovered.Load() && r.Header.Get("X-Empfio-Event") == webhooks.LeadCreated {
			now := inFlight.Add(1)
			defer inFlight.Add(-1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			time.Sleep(time.Second) // slower than several sweeps, well within releaseOrderWait
		}
		recv.reply(n, w, r)
	}
	hookID, _ := a.Webhook(t, key, apptest.NewReceiver(t, slow).URL, webhooks.LeadCreated)
	publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": -1})
	testenv.Eventually(t, 10*time.Second, "the circuit opens", func() bool {
		return webhookOf(t, a, key, hookID).Health.State == webhooks.CircuitOpen
	})
	const held = 4
	for n := range held {
		publish(t, a, orgID, webhooks.LeadCreated, map[string]any{"id": "l", "channel": "web", "n": n})
	}
	testenv.Eventually(t, 10*time.Second, "every delivery held", func() bool {
		return statusCount(t, a, hookID, webhooks.StatusHeld) == held
	})
	a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": false})
	recv.recovered.Store(true)
	if r := a.Do(t, "PATCH", "/api/v1/webhooks/"+hookID, key, map[string]any{"enabled": true, "replay": "held"}); r.Status != http.StatusOK {
		t.Fatalf("enabling: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 30*time.Second, "every held delivery succeeds", func() bool {
		return statusCount(t, a, hookID, webhooks.StatusSucceeded) == held
	})
	if got := recv.acceptedSoFar(); !slices.Equal(got, []int{0, 1, 2, 3}) || most.Load() != 1 {
		t.Fatalf("accepted %v with up to %d at once; want 0 to 3 in order, one at a time", got, most.Load())
	}
}
