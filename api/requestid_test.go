package api_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/empfio/webhooks/internal/testing/apptest"
)

// An incoming X-Request-Id is honoured and echoed, a hostile one replaced, and
// every line a request logs — the access line and the handler's own — names
// the request id.
func TestRequestID_HonouredEchoedAndOnEveryLine(t *testing.T) {
	logs := &apptest.LogBuffer{}
	a := apptest.Start(t, apptest.Options{LogOutput: logs, LogInfo: true})
	orgID, _ := a.Org(t, "Traced")
	body := `{"type":"new_lead","organization_id":"` + orgID + `","data":{"id":"l1","channel":"web"}}`
	r := a.DoWith(t, "POST", "/api/v1/webhooks/agent-event", body, map[string]string{
		"Authorization": "Bearer " + apptest.InternalToken, "Content-Type": "application/json", "X-Request-Id": "req-4711.a:b"})
	if r.Status != http.StatusAccepted || r.Header.Get("X-Request-Id") != "req-4711.a:b" {
		t.Fatalf("%d, X-Request-Id %q", r.Status, r.Header.Get("X-Request-Id"))
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "req-4711.a:b") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 || !strings.Contains(strings.Join(lines, "\n"), "inbound accepted") {
		t.Fatalf("lines naming the request id:\n%s\nall:\n%s", strings.Join(lines, "\n"), logs.String())
	}

	for _, hostile := range []string{strings.Repeat("a", 200), "evil\tid", "<script>"} {
		r := a.DoWith(t, "GET", "/healthz", nil, map[string]string{"X-Request-Id": hostile})
		got := r.Header.Get("X-Request-Id")
		if got == hostile || !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(got) {
			t.Errorf("X-Request-Id %q was answered with %q; want a fresh id", hostile, got)
		}
	}
	if got := a.DoWith(t, "GET", "/healthz", nil, nil).Header.Get("X-Request-Id"); got == "" {
		t.Error("no X-Request-Id made for a request without one")
	}
}
