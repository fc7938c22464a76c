package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// The delivery log is searched by event and by time range beside status and
// type, and each attempt shows the headers the receiver answered with, up to
// 4 KiB; bad search terms are 422.
func TestDeliveries_SearchByEventAndTimeAndResponseHeaders(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Search")
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Receiver", "crm-7")
		w.Header().Set("X-Huge", strings.Repeat("h", 5000)) // past the budget: left out
		w.WriteHeader(http.StatusOK)
	})
	id, _ := a.Webhook(t, key, recv.URL, "lead.created")
	var events []string
	for i := range 3 {
		r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
			"event": webhooks.LeadCreated, "organization_id": orgID, "data": map[string]any{"id": "l" + string(rune('1'+i))}})
		events = append(events, r.Map(t)["event_id"].(string))
		time.Sleep(5 * time.Millisecond) // three distinct milliseconds to search between
	}
	testenv.Eventually(t, 10*time.Second, "three deliveries", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 3 })

	log := func(query string) []webhooks.Delivery {
		t.Helper()
		var page struct{ Data []webhooks.Delivery }
		r := a.Do(t, "GET", "/api/v1/webhooks/"+id+"/deliveries?"+query, key, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", query, r.Status, r.Body)
		}
		r.JSON(t, &page)
		return page.Data
	}
	all := log("")
	if len(all) != 3 || all[0].EventID != events[2] {
		t.Fatalf("the whole log: %d, newest %v", len(all), all)
	}
	if got := log("event_id=" + strings.ToUpper(events[1])); len(got) != 1 || got[0].EventID != events[1] {
		t.Fatalf("by event: %+v", got)
	}
	second := all[1].CreatedAt.Format(time.RFC3339Nano)
	if got := log("since=" + url.QueryEscape(second)); len(got) != 2 || got[1].EventID != events[1] {
		t.Fatalf("since the second: %d", len(got))
	}
	if got := log("until=" + url.QueryEscape(second)); len(got) != 1 || got[0].EventID != events[0] {
		t.Fatalf("until the second: %d", len(got))
	}
	if got := log("since=" + url.QueryEscape(second) + "&until=" + url.QueryEscape(all[0].CreatedAt.Format(time.RFC3339Nano)) + "&status=succeeded"); len(got) != 1 {
		t.Fatalf("between the second and the third, succeeded: %d", len(got))
	}

	var d webhooks.Delivery
	a.Do(t, "GET", "/api/v1/deliveries/"+all[0].ID, key, nil).JSON(t, &d)
	if len(d.AttemptLog) != 1 {
		t.Fatalf("attempts %+v", d.AttemptLog)
	}
	h := d.AttemptLog[0].ResponseHeaders
	if h["X-Receiver"] != "crm-7" || h["Content-Length"] == "" {
		t.Fatalf("response headers %v", h)
	}
	if _, kept := h["X-Huge"]; kept {
		t.Fatal("a header past the 4 KiB budget was kept")
	}

	for query, field := range map[string]string{
		"event_id=nope":    "event_id",
		"since=yesterday":  "since",
		"until=2026-13-01": "until",
		"since=" + url.QueryEscape(second) + "&until=" + url.QueryEscape(second): "until",
	} {
		m := problem(t, a.Do(t, "GET", "/api/v1/webhooks/"+id+"/deliveries?"+query, key, nil), http.StatusUnprocessableEntity)
		if got := fieldErrors(m); len(got) != 1 || got[0] != field {
			t.Errorf("%s: errors %v, want %s", query, got, field)
		}
	}
}
