package jobs_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// publish posts a catalog event through the internal API and returns its id.
func publish(t *testing.T, a *apptest.App, orgID, eventType string, data any) string {
	t.Helper()
	r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": eventType, "organization_id": orgID, "data": data})
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	return r.Map(t)["event_id"].(string)
}

// okUnlessEvent answers pings 200 and event deliveries with reply; n counts the
// event deliveries (0-based). The receiver calls it from concurrent handlers.
func okUnlessEvent(reply func(n int, w http.ResponseWriter)) apptest.Reply {
	var count atomic.Int64
	return func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
			w.WriteHeader(http.StatusOK)
			return
		}
		reply(int(count.Add(1)-1), w)
	}
}

type deliveryRow struct {
	ID, Status string
	Attempts   int
}

func deliveriesOf(t *testing.T, a *apptest.App, endpointID string) []deliveryRow {
	t.Helper()
	rows, err := a.DB.Pool().Query(context.Background(), `SELECT id, status, attempts FROM deliveries WHERE endpoint_id = $1 ORDER BY created_at`, endpointID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []deliveryRow
	for rows.Next() {
		var d deliveryRow
		if err := rows.Scan(&d.ID, &d.Status, &d.Attempts); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitStatus(t *testing.T, a *apptest.App, endpointID, status string, timeout time.Duration) deliveryRow {
	t.Helper()
	var got deliveryRow
	testenv.Eventually(t, timeout, "a delivery of "+endpointID+" becomes "+status, func() bool {
		ds := deliveriesOf(t, a, endpointID)
		if len(ds) == 1 && ds[0].Status == status {
			got = ds[0]
			return true
		}
		return false
	})
	return got
}

func TestDelivery_ReceiverVerifiesSignaturesAsThePublicDocsSay(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Albers")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	hookID, secret := a.Webhook(t, key, recv.URL, "lead.created")
	eventID := publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "name": "Jonas", "channel": "whatsapp"})
	d := waitStatus(t, a, hookID, webhooks.StatusSucceeded, 10*time.Second)

	got := recv.Of("lead.created")
	if len(got) != 1 {
		t.Fatalf("receiver got %d lead.created deliveries, want 1", len(got))
	}
	q := got[0]
	// The three steps of the public docs: raw body, HMAC-SHA256 with the secret, compare hex.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(q.Body)
	if sig := q.Header.Get("X-Empfio-Signature"); !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(m.Sum(nil)))) {
		t.Errorf("X-Empfio-Signature %q does not verify", sig)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(q.Body, q.Header); err != nil {
		t.Errorf("Standard Webhooks signature: %v", err)
	}
	if q.Header.Get("X-Empfio-Delivery") != d.ID || q.Header.Get("webhook-id") != d.ID {
		t.Errorf("delivery id headers %q/%q, want %s", q.Header.Get("X-Empfio-Delivery"), q.Header.Get("webhook-id"), d.ID)
	}
	if ts, err := strconv.ParseInt(q.Header.Get("X-Empfio-Timestamp"), 10, 64); err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
		t.Errorf("X-Empfio-Timestamp %q is not a recent unix time", q.Header.Get("X-Empfio-Timestamp"))
	}
	if q.Header.Get("User-Agent") != "Empfio-Webhooks/"+webhooks.Version() || q.Header.Get("Content-Type") != "application/json" {
		t.Errorf("User-Agent %q, Content-Type %q", q.Header.Get("User-Agent"), q.Header.Get("Content-Type"))
	}
	var env map[string]any
	if err := json.Unmarshal(q.Body, &env); err != nil {
		t.Fatal(err)
	}
	if env["id"] != eventID || env["event"] != "lead.created" || env["organization_id"] != orgID {
		t.Errorf("envelope %v", env)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(env["timestamp"].(string)) {
		t.Errorf("timestamp %q is not RFC 3339 UTC seconds with Z", env["timestamp"])
	}
	if data := env["data"].(map[string]any); data["name"] != "Jonas" {
		t.Errorf("data %v", data)
	}
}

func TestDelivery_FansOutToSubscribedEndpointsOnly(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Fan-out")
	exact := apptest.NewReceiver(t, apptest.Status(200))
	prefix := apptest.NewReceiver(t, apptest.Status(204))
	other := apptest.NewReceiver(t, apptest.Status(200))
	exactID, _ := a.Webhook(t, key, exact.URL, "lead.created")
	prefixID, _ := a.Webhook(t, key, prefix.URL, "lead.*")
	otherID, _ := a.Webhook(t, key, other.URL, "booking.*")
	_, otherOrgKey := a.Org(t, "Someone else")
	strangerID, _ := a.Webhook(t, otherOrgKey, other.URL, "*")

	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	waitStatus(t, a, exactID, webhooks.StatusSucceeded, 10*time.Second)
	waitStatus(t, a, prefixID, webhooks.StatusSucceeded, 10*time.Second)
	if n := len(deliveriesOf(t, a, otherID)); n != 0 {
		t.Errorf("booking.* endpoint got %d deliveries of lead.created", n)
	}
	if n := len(deliveriesOf(t, a, strangerID)); n != 0 {
		t.Errorf("another organization's endpoint got %d deliveries", n)
	}
	if len(exact.Of("lead.created")) != 1 || len(prefix.Of("lead.created")) != 1 {
		t.Errorf("exact got %d, prefix got %d; want 1 each", len(exact.Of("lead.created")), len(prefix.Of("lead.created")))
	}
}

func TestDelivery_FailureThenSuccessRetriesOnSchedule(t *testing.T) {
	schedule := webhooks.RetrySchedule{MaxRetries: 2, Window: 6 * time.Second} // 2s, then 4s
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: schedule})
	orgID, key := a.Org(t, "Flaky")
	recv := apptest.NewReceiver(t, okUnlessEvent(func(n int, w http.ResponseWriter) {
		if n == 0 {
			w.WriteHeader(500)
			w.Write([]byte("database is down"))
			return
		}
		w.WriteHeader(200)
	}))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "message.logged", map[string]any{"conversation_id": "c", "role": "user", "content": "hi"})
	d := waitStatus(t, a, hookID, webhooks.StatusSucceeded, 15*time.Second)
	if d.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", d.Attempts)
	}
	got := recv.Of("message.logged")
	if len(got) != 2 {
		t.Fatalf("receiver got %d attempts, want 2", len(got))
	}
	gap := got[1].At.Sub(got[0].At)
	// asynq schedules retries on whole seconds: allow that much either way.
	if gap < schedule.Delay(1)-1100*time.Millisecond || gap > schedule.Delay(1)+1500*time.Millisecond {
		t.Errorf("retry came %v after the failure, want about %v", gap, schedule.Delay(1))
	}
	if string(got[0].Body) != string(got[1].Body) {
		t.Error("the envelope changed between attempts")
	}
	if got[0].Header.Get("X-Empfio-Delivery") != got[1].Header.Get("X-Empfio-Delivery") {
		t.Error("the delivery id changed between attempts")
	}

	r := a.Do(t, "GET", "/api/v1/deliveries/"+d.ID, key, nil)
	var full webhooks.Delivery
	r.JSON(t, &full)
	if len(full.AttemptLog) != 2 || *full.AttemptLog[0].StatusCode != 500 || *full.AttemptLog[0].ResponseBody != "database is down" ||
		*full.AttemptLog[1].StatusCode != 200 {
		t.Errorf("attempt log %s", r.Body)
	}
}

func TestDelivery_AlwaysFailingEndsFailedAfterOnePlusRAttempts(t *testing.T) {
	schedule := webhooks.RetrySchedule{MaxRetries: 2, Window: 3 * time.Second}
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: schedule})
	orgID, key := a.Org(t, "Broken")
	recv := apptest.NewReceiver(t, okUnlessEvent(func(_ int, w http.ResponseWriter) { w.WriteHeader(503) }))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 15*time.Second)
	if d.Attempts != 3 {
		t.Fatalf("attempts = %d, want 1 + R = 3", d.Attempts)
	}
	if n := len(recv.Of("lead.created")); n != 3 {
		t.Fatalf("receiver got %d requests, want 3", n)
	}
	var logged int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM attempts WHERE delivery_id = $1 AND status_code = 503`, d.ID).Scan(&logged))
	if logged != 3 {
		t.Errorf("%d attempts logged, want 3", logged)
	}
}

func TestDelivery_HangingReceiverTimesOut(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Timeout: time.Second, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Slow")
	release := make(chan struct{})
	defer close(release)
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
			return
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 10*time.Second)
	var msg string
	var ms int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT error, duration_ms FROM attempts WHERE delivery_id = $1`, d.ID).Scan(&msg, &ms))
	if !strings.Contains(msg, "timeout") || ms < 900 || ms > 5000 {
		t.Errorf("attempt error %q after %d ms, want a timeout after about 1 s", msg, ms)
	}
}

func TestDelivery_RedirectIsNotFollowed(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Moved")
	target := apptest.NewReceiver(t, apptest.Status(200))
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	})
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 10*time.Second)
	if target.Count() != 0 {
		t.Fatalf("the redirect target got %d requests", target.Count())
	}
	var code int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT status_code FROM attempts WHERE delivery_id = $1`, d.ID).Scan(&code))
	if code != http.StatusFound {
		t.Errorf("attempt status %d, want 302", code)
	}
}

func TestDelivery_GoneDisablesTheEndpoint(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Gone")
	recv := apptest.NewReceiver(t, okUnlessEvent(func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) }))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 10*time.Second)
	if d.Attempts != 1 {
		t.Errorf("410 was retried: %d attempts", d.Attempts)
	}
	// The attempt is recorded first and the endpoint judged after it (see
	// Deliverer.judgeEndpoint), so the failed delivery can be visible a moment
	// before the endpoint is off.
	var e webhooks.Endpoint
	testenv.Eventually(t, 5*time.Second, "the endpoint disabled for its 410", func() bool {
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID, key, nil).JSON(t, &e)
		return !e.Enabled
	})
	if e.DisabledReason == nil || !strings.Contains(*e.DisabledReason, "410") {
		t.Fatalf("endpoint after 410: enabled %v, reason %v", e.Enabled, e.DisabledReason)
	}
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l2", "channel": "web"})
	if n := len(deliveriesOf(t, a, hookID)); n != 1 {
		t.Errorf("a disabled endpoint got a new delivery (%d in all)", n)
	}
}

func TestDelivery_RetryAfterDelaysTheNextAttempt(t *testing.T) {
	schedule := webhooks.RetrySchedule{MaxRetries: 2, Window: 3 * time.Second} // 1s, then 2s
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: schedule})
	orgID, key := a.Org(t, "Busy")
	recv := apptest.NewReceiver(t, okUnlessEvent(func(n int, w http.ResponseWriter) {
		if n == 0 {
			w.Header().Set("Retry-After", "60") // more than the window: capped to 3 s
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(200)
	}))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	waitStatus(t, a, hookID, webhooks.StatusSucceeded, 15*time.Second)
	got := recv.Of("lead.created")
	// asynq schedules on whole seconds: 3 s ± 1 s, clearly more than the 1 s of the schedule.
	if gap := got[1].At.Sub(got[0].At); gap < 2*time.Second || gap > 4500*time.Millisecond {
		t.Errorf("retry came %v later; want Retry-After capped by the 3 s window", gap)
	}
}

func TestDelivery_ManualRetryOfAFailedDeliverySendsOnceMore(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Retry")
	recv := apptest.NewReceiver(t, okUnlessEvent(func(n int, w http.ResponseWriter) {
		if n < 2 {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(200)
	}))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 10*time.Second)

	r := a.Do(t, "POST", "/api/v1/deliveries/"+d.ID+"/retry", key, nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, "the manual retry is recorded", func() bool { return deliveriesOf(t, a, hookID)[0].Attempts == 2 })
	if d := deliveriesOf(t, a, hookID)[0]; d.Status != webhooks.StatusFailed {
		t.Fatalf("after a failed manual retry: %s, want failed (one attempt only)", d.Status)
	}

	r = a.Do(t, "POST", "/api/v1/webhooks/"+hookID+"/replay", key, map[string]any{"since": time.Now().Add(-time.Hour)})
	if r.Status != http.StatusAccepted || r.Map(t)["replayed"] != float64(1) {
		t.Fatalf("replay: %d %s", r.Status, r.Body)
	}
	d = waitStatus(t, a, hookID, webhooks.StatusSucceeded, 10*time.Second)
	if d.Attempts != 3 {
		t.Errorf("attempts %d, want 3", d.Attempts)
	}
}

// retryGap publishes one event to a receiver that answers its first delivery
// with first, then 200, and returns the time between the two attempts.
func retryGap(t *testing.T, schedule webhooks.RetrySchedule, first func(w http.ResponseWriter)) time.Duration {
	t.Helper()
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: schedule})
	orgID, key := a.Org(t, "Busy")
	recv := apptest.NewReceiver(t, okUnlessEvent(func(n int, w http.ResponseWriter) {
		if n == 0 {
			first(w)
			return
		}
		w.WriteHeader(200)
	}))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	waitStatus(t, a, hookID, webhooks.StatusSucceeded, 20*time.Second)
	got := recv.Of("lead.created")
	if len(got) != 2 {
		t.Fatalf("%d attempts; want 2", len(got))
	}
	return got[1].At.Sub(got[0].At)
}

// A 429 with Retry-After: 3 waits at least 3 s, although the schedule's own
// first retry comes after 1 s.
func TestDelivery_TooManyRequestsWithRetryAfterSeconds(t *testing.T) {
	gap := retryGap(t, webhooks.RetrySchedule{MaxRetries: 3, Window: 7 * time.Second}, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	// asynq moves due retries every 100 ms here, and schedules on whole seconds.
	if gap < 2900*time.Millisecond || gap > 5*time.Second {
		t.Fatalf("the retry came %v later; want Retry-After's 3 s", gap)
	}
}

// A 503 with Retry-After as an HTTP date is honoured like seconds.
func TestDelivery_UnavailableWithRetryAfterDate(t *testing.T) {
	gap := retryGap(t, webhooks.RetrySchedule{MaxRetries: 3, Window: 7 * time.Second}, func(w http.ResponseWriter) {
		at := time.Now().Add(4 * time.Second).UTC()
		w.Header().Set("Retry-After", at.Format(http.TimeFormat)) // whole seconds: 3 to 4 s from now
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	if gap < 2900*time.Millisecond || gap > 6*time.Second {
		t.Fatalf("the retry came %v later; want the Retry-After date, 3 to 4 s away", gap)
	}
}

// An endpoint's own retry_policy of 0 retries fails a delivery after one
// attempt, whatever the service's schedule.
func TestDelivery_EndpointPolicyOfNoRetriesFailsAfterOneAttempt(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 3, Window: 700 * time.Millisecond}})
	orgID, key := a.Org(t, "NoRetries")
	recv := apptest.NewReceiver(t, okUnlessEvent(func(_ int, w http.ResponseWriter) { w.WriteHeader(500) }))
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"*"},
		"retry_policy": map[string]any{"max_retries": 0, "window": "30m"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	hookID := r.Map(t)["id"].(string)
	publish(t, a, orgID, "lead.created", map[string]any{"id": "l1", "channel": "web"})
	d := waitStatus(t, a, hookID, webhooks.StatusFailed, 10*time.Second)
	if d.Attempts != 1 || len(recv.Of("lead.created")) != 1 {
		t.Fatalf("%d attempts recorded, %d received; want 1 and 1", d.Attempts, len(recv.Of("lead.created")))
	}
}
