package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// portalToken opens a portal session with key and returns its token, taken from
// the URL's fragment.
func portalToken(t *testing.T, a *apptest.App, key string, body any) (string, map[string]any) {
	t.Helper()
	r := a.Do(t, "POST", "/api/v1/portal-sessions", key, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("portal session: %d %s", r.Status, r.Body)
	}
	m := r.Map(t)
	url, _ := m["url"].(string)
	_, token, ok := strings.Cut(url, "/dashboard/#portal=")
	if !ok || !strings.HasPrefix(token, webhooks.PortalTokenPrefix) {
		t.Fatalf("portal url %q", url)
	}
	return token, m
}

func TestPortal_ReadOnlyLinkCanLookButNotTouch(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Portal")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	hookID, _ := a.Webhook(t, key, recv.URL, "*")
	token, m := portalToken(t, a, key, map[string]any{"read_only": true})
	if exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string)); time.Until(exp) > time.Hour+time.Minute || exp.Before(time.Now()) {
		t.Fatalf("expires_at %v, want about an hour from now", m["expires_at"])
	}

	session := a.Do(t, "GET", "/api/v1/session", token, nil)
	if session.Status != 200 || session.Map(t)["read_only"] != true || session.Map(t)["kind"] != "portal" {
		t.Fatalf("session: %d %s", session.Status, session.Body)
	}
	for _, path := range []string{"/api/v1/webhooks", "/api/v1/webhooks/" + hookID, "/api/v1/event-types", "/api/v1/events"} {
		if r := a.Do(t, "GET", path, token, nil); r.Status != 200 {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	writes := []struct{ method, path string }{
		{"POST", "/api/v1/webhooks"}, {"PATCH", "/api/v1/webhooks/" + hookID}, {"DELETE", "/api/v1/webhooks/" + hookID},
		{"POST", "/api/v1/webhooks/" + hookID + "/test"}, {"POST", "/api/v1/webhooks/" + hookID + "/secret/rotate"},
		{"GET", "/api/v1/webhooks/" + hookID + "/secret"}, {"POST", "/api/v1/portal-sessions"},
	}
	for _, w := range writes {
		problem(t, a.Do(t, w.method, w.path, token, map[string]any{"url": "http://127.0.0.1:1/x", "events": []string{"*"}}), http.StatusForbidden)
	}
	if r := a.Do(t, "GET", "/api/v1/webhooks/"+hookID, key, nil); r.Status != 200 || r.Map(t)["enabled"] != true {
		t.Fatalf("the webhook changed: %d %s", r.Status, r.Body)
	}
}

func TestPortal_LinksEndWithTimeOrTheirKey(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Ends")
	// A second key, to revoke.
	r := a.Do(t, "POST", "/api/v1/organizations/"+orgID+"/api-keys", apptest.AdminToken, map[string]string{"name": "frontend"})
	var k webhooks.APIKey
	r.JSON(t, &k)
	token, _ := portalToken(t, a, k.Key, map[string]any{"ttl": "1m"})
	if r := a.Do(t, "GET", "/api/v1/webhooks", token, nil); r.Status != 200 {
		t.Fatalf("fresh link: %d", r.Status)
	}
	forged := token[:len(token)-1] + "x"
	if forged == token {
		forged = token[:len(token)-1] + "y"
	}
	problem(t, a.Do(t, "GET", "/api/v1/webhooks", forged, nil), http.StatusUnauthorized)
	if r := a.Do(t, "DELETE", "/api/v1/organizations/"+orgID+"/api-keys/"+k.ID, apptest.AdminToken, nil); r.Status != 204 {
		t.Fatalf("revoke: %d", r.Status)
	}
	problem(t, a.Do(t, "GET", "/api/v1/webhooks", token, nil), http.StatusUnauthorized) // its key was revoked

	_, key := a.Org(t, "Expiry")
	token, _ = portalToken(t, a, key, map[string]any{"ttl": "1m"})
	_, err := a.DB.Pool().Exec(t.Context(), `UPDATE portal_sessions SET expires_at = now() - interval '1 second'`)
	if err != nil {
		t.Fatal(err)
	}
	problem(t, a.Do(t, "GET", "/api/v1/webhooks", token, nil), http.StatusUnauthorized) // expired

	for _, bad := range []map[string]any{{"ttl": "10s"}, {"ttl": "25h"}, {"allowed_event_types": []string{"lead.deleted"}}} {
		problem(t, a.Do(t, "POST", "/api/v1/portal-sessions", key, bad), http.StatusUnprocessableEntity)
	}
}

func TestPortal_AllowedEventTypesLimitWhatCanBeSubscribed(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Limited")
	token, _ := portalToken(t, a, key, map[string]any{"allowed_event_types": []string{"lead.*", "booking.created"}})
	var list struct{ Data []webhooks.EventType }
	a.Do(t, "GET", "/api/v1/event-types", token, nil).JSON(t, &list)
	var names []string
	for _, e := range list.Data {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "lead.created,lead.status_changed,booking.created" {
		t.Fatalf("event types of a limited link: %v", names)
	}
	recv := apptest.NewReceiver(t, apptest.Status(200))
	for _, events := range [][]string{{"lead.*"}, {"lead.created", "booking.created"}} {
		if r := a.Do(t, "POST", "/api/v1/webhooks", token, map[string]any{"url": recv.URL, "events": events}); r.Status != 201 {
			t.Errorf("subscribe %v: %d %s", events, r.Status, r.Body)
		}
	}
	for _, events := range [][]string{{"*"}, {"booking.*"}, {"conversation.escalated"}} {
		problem(t, a.Do(t, "POST", "/api/v1/webhooks", token, map[string]any{"url": recv.URL, "events": events}), http.StatusUnprocessableEntity)
	}
}

// The dashboard reads the list's stats, a delivery's request, and where an event
// went: the API gives each.
func TestWebhooks_StatsRequestAndEventDeliveries(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Stats")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	hookID, _ := a.Webhook(t, key, recv.URL+"/in", "lead.created")
	r := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{"id":"l1","channel":"web"}`))
	eventID := r.Map(t)["event_id"].(string)
	var e webhooks.Endpoint
	testenv.Eventually(t, 10*time.Second, "the stats show the delivery", func() bool {
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID, key, nil).JSON(t, &e)
		return e.Stats != nil && e.Stats.SuccessRate24h != nil
	})
	if *e.Stats.SuccessRate24h != 1 || e.Stats.Deliveries24h != 1 || *e.Stats.LastDeliveryStatus != "succeeded" {
		t.Fatalf("stats %+v", e.Stats)
	}
	var ev webhooks.Event
	a.Do(t, "GET", "/api/v1/events/"+eventID, key, nil).JSON(t, &ev)
	if len(ev.Deliveries) != 1 || ev.Deliveries[0].EndpointID != hookID {
		t.Fatalf("event deliveries %+v", ev.Deliveries)
	}
	var d webhooks.Delivery
	a.Do(t, "GET", "/api/v1/deliveries/"+ev.Deliveries[0].ID, key, nil).JSON(t, &d)
	got := recv.Of("lead.created")
	if d.Request == nil || d.Request.URL != recv.URL+"/in" || string(d.Request.Body) != string(got[0].Body) ||
		d.Request.Headers["X-Empfio-Delivery"] != d.ID || d.Request.Headers["User-Agent"] != got[0].Header.Get("User-Agent") {
		t.Fatalf("request %+v, want what the receiver got: %s", d.Request, got[0].Body)
	}
}
