package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// keyOnlyRoutes are the routes of API keys alone: a dashboard link gets 403.
var keyOnlyRoutes = []string{"/api/v1/portal-sessions", "/api/v1/integrations/calcom", "/api/v1/listen-sessions",
	"/api/v1/listen-sessions/:id", "/api/v1/listen-sessions/:id/stream", "/api/v1/listen-sessions/:id/results"}

// A dashboard link limited to lead.* against what lies outside it — an
// endpoint subscribed to booking.*, another to "*", a booking event and its
// deliveries, the Cal.com integration — on every route of the table: 404
// where a route names one of them, 403 on the routes of API keys, 422 for a
// subscription outside lead.*, nothing of them in any answer, and nothing of
// them changed.
func TestPortal_LimitedLinkActsOnlyInsideItsTypesOnEveryRoute(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, RateLimit: 1_000_000})
	orgID, key := a.Org(t, "Scoped")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	leadHook, _ := a.Webhook(t, key, recv.URL, "lead.*")
	bookingHook, bookingSecret := a.Webhook(t, key, recv.URL, "booking.*")
	starHook, starSecret := a.Webhook(t, key, recv.URL, "*")
	connectCalcom(t, a, key)
	const marker = "booking-data-the-link-must-not-see"
	publishOne := func(eventType string, data map[string]any) string {
		r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": eventType, "organization_id": orgID, "data": data})
		if r.Status != http.StatusAccepted {
			t.Fatalf("publish %s: %d %s", eventType, r.Status, r.Body)
		}
		return r.Map(t)["event_id"].(string)
	}
	bookingEvent := publishOne(webhooks.BookingCreated, map[string]any{"id": "b1", "notes": marker})
	leadEvent := publishOne(webhooks.LeadCreated, map[string]any{"id": "l1", "channel": "web"})
	var bookingDelivery string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT id::text FROM deliveries WHERE event_id = $1 AND endpoint_id = $2`,
		bookingEvent, bookingHook).Scan(&bookingDelivery))
	testenv.Eventually(t, 10*time.Second, "the deliveries are made", func() bool { return len(recv.Requests()) >= 4 })
	before := a.Do(t, "GET", "/api/v1/webhooks/"+bookingHook, key, nil).Map(t)
	var calcomBefore []byte
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT token_hash FROM calcom_integrations WHERE organization_id = $1`, orgID).Scan(&calcomBefore))

	token, _ := portalToken(t, a, key, map[string]any{"allowed_event_types": []string{"lead.*"}})
	outside := []string{bookingHook, starHook, bookingEvent, bookingDelivery, bookingSecret, starSecret, marker}
	fill := strings.NewReplacer(":type", webhooks.BookingCreated)
	body := `{"url":"http://127.0.0.1:1/changed","events":["lead.*"],"description":"changed","enabled":false,` +
		`"since":"` + time.Now().Add(-time.Hour).Format(time.RFC3339) + `","grace":"0s","read_only":false}`
	tested := 0
	for _, rt := range apiRoutes(a) {
		if strings.HasPrefix(rt.path, "/api/v1/organizations") || strings.HasPrefix(rt.path, "/api/v1/webhooks/agent-event") ||
			strings.HasPrefix(rt.path, "/api/v1/webhooks/calcom") || rt.path == "/api/v1/openapi.json" || rt.method == "POST" && rt.path == "/api/v1/events" {
			continue // not an organization's route
		}
		var paths []string
		switch {
		case strings.HasPrefix(rt.path, "/api/v1/webhooks/:id"), strings.HasPrefix(rt.path, "/api/v1/listen-sessions/:id"):
			paths = []string{strings.Replace(rt.path, ":id", bookingHook, 1), strings.Replace(rt.path, ":id", starHook, 1)}
		case strings.HasPrefix(rt.path, "/api/v1/deliveries/:id"):
			paths = []string{strings.Replace(rt.path, ":id", bookingDelivery, 1)}
		case strings.HasPrefix(rt.path, "/api/v1/events/:id"):
			paths = []string{strings.Replace(rt.path, ":id", bookingEvent, 1)}
		default:
			paths = []string{fill.Replace(rt.path)}
		}
		for _, path := range paths {
			tested++
			r := a.Do(t, rt.method, path, token, body)
			switch {
			case slices.Contains(keyOnlyRoutes, rt.path):
				if r.Status != http.StatusForbidden {
					t.Errorf("%s %s with the link: %d %.200s, want 403", rt.method, path, r.Status, r.Body)
				}
			case strings.Contains(rt.path, ":id"):
				if r.Status != http.StatusNotFound {
					t.Errorf("%s %s with the link: %d %.200s, want 404", rt.method, path, r.Status, r.Body)
				}
			case strings.Contains(rt.path, ":type"):
				if r.Status < 400 {
					t.Errorf("%s %s with the link: %d, want it refused", rt.method, path, r.Status)
				}
			}
			for _, s := range outside {
				if strings.Contains(string(r.Body), s) {
					t.Errorf("%s %s with the link shows %.40s", rt.method, path, s)
				}
			}
		}
	}
	if tested < 20 {
		t.Fatalf("only %d requests made", tested)
	}
	// It subscribes only inside lead.*.
	for _, events := range [][]string{{"booking.created"}, {"*"}, {"lead.created", "booking.*"}} {
		m := problem(t, a.Do(t, "POST", "/api/v1/webhooks", token, map[string]any{"url": recv.URL, "events": events}), http.StatusUnprocessableEntity)
		if f := fieldErrors(m); len(f) != 1 || !strings.HasPrefix(f[0], "events") {
			t.Errorf("subscribing to %v: errors %v", events, f)
		}
	}
	problem(t, a.Do(t, "PATCH", "/api/v1/webhooks/"+leadHook, token, map[string]any{"events": []string{"*"}}), http.StatusUnprocessableEntity)

	// Nothing outside changed.
	after := a.Do(t, "GET", "/api/v1/webhooks/"+bookingHook, key, nil).Map(t)
	for _, f := range []string{"url", "events", "description", "enabled"} {
		if !jsonEqualAny(before[f], after[f]) {
			t.Errorf("the booking webhook's %s changed: %v → %v", f, before[f], after[f])
		}
	}
	if s := a.Do(t, "GET", "/api/v1/webhooks/"+bookingHook+"/secret", key, nil).Map(t)["secret"]; s != bookingSecret {
		t.Error("the booking webhook's secret changed")
	}
	var calcomAfter []byte
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT token_hash FROM calcom_integrations WHERE organization_id = $1`, orgID).Scan(&calcomAfter))
	if string(calcomAfter) != string(calcomBefore) {
		t.Error("the Cal.com integration was replaced")
	}

	// Inside lead.* the link works: it sees its webhook, its events, and of
	// where they went only what it sees.
	var hooks struct{ Data []webhooks.Endpoint }
	a.Do(t, "GET", "/api/v1/webhooks", token, nil).JSON(t, &hooks)
	listed := []string{}
	for _, h := range hooks.Data {
		listed = append(listed, h.ID)
		if !slices.Equal(h.Events, []string{"lead.*"}) {
			t.Errorf("the link lists a webhook of %v", h.Events)
		}
	}
	if !slices.Contains(listed, leadHook) {
		t.Fatalf("the link lists %v, not its own %s", listed, leadHook)
	}
	var ev webhooks.Event
	r := a.Do(t, "GET", "/api/v1/events/"+leadEvent, token, nil)
	r.JSON(t, &ev)
	if r.Status != http.StatusOK || len(ev.Deliveries) != 1 || ev.Deliveries[0].EndpointID != leadHook {
		t.Fatalf("the lead event through the link: %d %s", r.Status, r.Body)
	}
}

func jsonEqualAny(a, b any) bool {
	return string(mustJSON(a)) == string(mustJSON(b))
}
