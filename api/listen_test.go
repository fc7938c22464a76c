package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
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
	// A secret of the caller's own must be one this service makes; it is the
	// session's.
	for _, bad := range []string{"hunter2", "whsec_not base64!", "whsec_" + strings.Repeat("A", 8), "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))} {
		r := a.Do(t, "POST", "/api/v1/listen-sessions", key, map[string]any{"secret": bad})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `"secret"`) {
			t.Errorf("secret %q: %d %s", bad, r.Status, r.Body)
		}
	}
	own := webhooks.NewSecret()
	if r := a.Do(t, "POST", "/api/v1/listen-sessions", key, map[string]any{"secret": own}); r.Status != http.StatusCreated || r.Map(t)["secret"] != own {
		t.Fatalf("a session with its own secret: %d %s", r.Status, r.Body)
	}
	other, _ := a.Webhook(t, key, "http://127.0.0.1:1/hook", "lead.created")
	if r := a.Do(t, "GET", "/api/v1/listen-sessions/"+other+"/stream", key, nil); r.Status != http.StatusNotFound {
		t.Fatalf("an ordinary webhook's stream: %d %s", r.Status, r.Body)
	}
}

// openStreamOnce opens listen session id's stream and leaves it at once, as a
// CLI killed right after it connected would.
func openStreamOnce(t *testing.T, a *apptest.App, key, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.URL+"/api/v1/listen-sessions/"+id+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	resp.Body.Read(make([]byte, 64)) // the first keep-alive
}

// The deliveries of a session whose CLI is gone fail — nobody reports the
// local server's answer — without opening a circuit or telling the
// organization anything: a session is the CLI's, not one of its webhooks.
func TestListenSession_AGoneCLITripsNothing(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Timeout: 500 * time.Millisecond,
		Schedule: webhooks.RetrySchedule{MaxRetries: 1, Window: time.Second},
		Breaker:  webhooks.Breaker{Failures: 2, ProbeInterval: time.Minute, ReleaseRate: 10, DisableAfter: time.Hour}})
	_, key := a.Org(t, "GoneCLI")
	pager := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, pager.URL, "webhook.*", "delivery.*")
	r := a.Do(t, "POST", "/api/v1/listen-sessions", key, map[string]any{"events": []string{"lead.*"}})
	id := r.Map(t)["id"].(string)
	openStreamOnce(t, a, key, id)
	for range 2 {
		if r := a.Do(t, "POST", "/api/v1/event-types/lead.created/trigger", key, nil); r.Status != http.StatusAccepted {
			t.Fatalf("trigger: %d %s", r.Status, r.Body)
		}
	}
	testenv.Eventually(t, 20*time.Second, "both deliveries fail for good", func() bool {
		var failed int
		testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM deliveries WHERE endpoint_id = $1 AND status = 'failed'`, id).Scan(&failed))
		return failed == 2
	})
	var state string
	var errText string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT e.circuit_state, a.error FROM endpoints e
		JOIN deliveries d ON d.endpoint_id = e.id JOIN attempts a ON a.delivery_id = d.id WHERE e.id = $1 LIMIT 1`, id).Scan(&state, &errText))
	if state != webhooks.CircuitClosed {
		t.Fatalf("the session's circuit is %s", state)
	}
	if !strings.Contains(errText, "did not report") {
		t.Fatalf("attempt error %q", errText)
	}
	for _, eventType := range []string{webhooks.WebhookCircuitOpened, webhooks.DeliveryFailed, webhooks.WebhookDisabled} {
		if got := pager.Of(eventType); len(got) != 0 {
			t.Errorf("the organization heard %d %s about a listen session", len(got), eventType)
		}
	}
}

// A session whose stream is left unread goes away by itself (within a minute
// with the defaults: jobs.ListenAbandoned, jobs.ListenCheckInterval).
func TestListenSession_AbandonedOneGoesAway(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, ListenIdle: time.Second})
	_, key := a.Org(t, "Abandoned")
	r := a.Do(t, "POST", "/api/v1/listen-sessions", key, nil)
	id := r.Map(t)["id"].(string)
	openStreamOnce(t, a, key, id)
	testenv.Eventually(t, 10*time.Second, "the session is deleted", func() bool {
		var gone bool
		testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT deleted_at IS NOT NULL FROM endpoints WHERE id = $1`, id).Scan(&gone))
		return gone
	})
	if jobs.ListenAbandoned+jobs.ListenCheckInterval > time.Minute {
		t.Fatalf("with the defaults a session lasts up to %s after its CLI", jobs.ListenAbandoned+jobs.ListenCheckInterval)
	}
}
