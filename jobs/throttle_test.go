package jobs_test

import (
	"net/http"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/apptest"
	"github.com/empfio/webhooks/internal/testenv"
)

// A receiver that hangs until the sender gives up never sees more requests at
// once than the cap, and the nine healthy endpoints beside it get all their
// deliveries while it still has a backlog.
func TestThrottle_AHangingReceiverCannotStarveTheOthers(t *testing.T) {
	const limit = 3
	a := apptest.Start(t, apptest.Options{Worker: true, Timeout: time.Second, MaxInFlight: limit, Concurrency: 10,
		Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Fair")
	var now, peak atomic.Int64
	hanging := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
			return
		}
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-r.Context().Done() // until the sender's timeout
	})
	hangID, _ := a.Webhook(t, key, hanging.URL, "booking.requested")
	healthy := apptest.NewReceiver(t, apptest.Status(200))
	for range 9 {
		a.Webhook(t, key, healthy.URL, "lead.created")
	}
	for i := range 60 { // at 3 a second, at least 20 s of backlog
		publish(t, a, orgID, "booking.requested", map[string]any{"lead_id": "l", "start_time": "2026-03-10T09:00:00Z", "n": i})
	}
	for i := range 5 {
		publish(t, a, orgID, "lead.created", map[string]any{"id": "l", "channel": "web", "n": i})
	}
	testenv.Eventually(t, 20*time.Second, "the healthy endpoints get all 45 deliveries", func() bool {
		return len(healthy.Of(webhooks.LeadCreated)) >= 45
	})
	backlog := 0
	for _, d := range deliveriesOf(t, a, hangID) {
		if !webhooks.IsFinalStatus(d.Status) {
			backlog++
		}
	}
	if backlog == 0 {
		t.Fatal("the hanging endpoint's deliveries were all done before the healthy ones: nothing was shown")
	}
	if p := peak.Load(); p > limit {
		t.Fatalf("the hanging receiver saw %d requests at once, cap %d", p, limit)
	}
	t.Logf("healthy done with %d of 60 hanging deliveries still waiting; the hanging receiver's peak: %d at once", backlog, peak.Load())
}

// An endpoint's rate_limit holds across the workers: arrivals are spaced so that
// no second has more than the limit. The limit holds when a delivery is let go;
// its POST may then take a little longer than its neighbour's, so two of slack
// (up to 400 ms of such jitter on a loaded machine) are allowed at the receiver.
func TestThrottle_EndpointRateLimitIsNeverExceeded(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Concurrency: 10})
	orgID, key := a.Org(t, "Rated")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"lead.created"}, "rate_limit": map[string]int{"per_second": 5}})
	if r.Status != http.StatusCreated || r.Map(t)["rate_limit"].(map[string]any)["per_second"] != 5.0 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	problem := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"*"}, "rate_limit": map[string]int{"per_second": 0}})
	if problem.Status != http.StatusUnprocessableEntity {
		t.Fatalf("rate 0: %d", problem.Status)
	}
	for i := range 15 {
		publish(t, a, orgID, "lead.created", map[string]any{"id": "l", "channel": "web", "n": i})
	}
	testenv.Eventually(t, 20*time.Second, "all 15 arrive", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 15 })
	var at []time.Time
	for _, q := range recv.Of(webhooks.LeadCreated) {
		at = append(at, q.At)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	worst := 0
	for i := range at {
		n := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			n++
		}
		worst = max(worst, n)
	}
	if worst > 7 {
		t.Fatalf("%d arrivals within one second, limit 5/s", worst)
	}
	if span := at[len(at)-1].Sub(at[0]); span < 2500*time.Millisecond {
		t.Fatalf("15 deliveries at 5/s took only %s", span)
	}
	t.Logf("15 deliveries at 5/s: at most %d in any second, over %s", worst, at[len(at)-1].Sub(at[0]).Round(time.Millisecond))
}
