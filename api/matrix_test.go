package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// route is one API route of the server's route table.
type route struct{ method, path string }

// apiRoutes returns every /api/v1 route the server has, from fiber's table: the
// matrices below cover routes added later by themselves.
func apiRoutes(a *apptest.App) []route {
	var out []route
	seen := map[route]bool{}
	for _, r := range a.Server.App.GetRoutes(true) {
		rt := route{r.Method, r.Path}
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == "HEAD" || seen[rt] {
			continue
		}
		seen[rt] = true
		out = append(out, rt)
	}
	return out
}

// tenant is an organization with one of everything.
type tenant struct {
	orgID, key, keyID, webhookID, deliveryID, eventID string
}

func newTenant(t *testing.T, a *apptest.App, name string, recv *apptest.Receiver) tenant {
	t.Helper()
	var tn tenant
	tn.orgID, tn.key = a.Org(t, name)
	tn.webhookID, _ = a.Webhook(t, tn.key, recv.URL, "*")
	r := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(tn.orgID, `{"id":"`+name+`","channel":"web"}`))
	tn.eventID, _ = r.Map(t)["event_id"].(string)
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT id::text FROM deliveries WHERE event_id = $1`, tn.eventID).Scan(&tn.deliveryID))
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT id::text FROM api_keys WHERE organization_id = $1`, tn.orgID).Scan(&tn.keyID))
	return tn
}

// fill puts tn's ids into a route's parameters.
func (tn tenant) fill(path string) string {
	r := strings.NewReplacer(":key_id", tn.keyID, ":token", "cal_notatoken")
	path = r.Replace(path)
	switch {
	case strings.HasPrefix(path, "/api/v1/webhooks/:id"):
		return strings.Replace(path, ":id", tn.webhookID, 1)
	case strings.HasPrefix(path, "/api/v1/deliveries/:id"):
		return strings.Replace(path, ":id", tn.deliveryID, 1)
	case strings.HasPrefix(path, "/api/v1/events/:id"):
		return strings.Replace(path, ":id", tn.eventID, 1)
	case strings.HasPrefix(path, "/api/v1/organizations/:id"):
		return strings.Replace(path, ":id", tn.orgID, 1)
	}
	return path
}

// credential is what a route is called with: the admin or internal token, or
// the tenant's key.
func (tn tenant) credential(rt route) string {
	switch {
	case strings.HasPrefix(rt.path, "/api/v1/organizations"):
		return apptest.AdminToken
	case rt.path == agentPath || rt.method == "POST" && rt.path == "/api/v1/events":
		return apptest.InternalToken
	}
	return tn.key
}

// Organization B's key against every one of A's resources on every route: 404
// where a route names one, and nothing of A in any answer.
func TestIsolation_AnotherOrganizationsResourcesOnEveryRoute(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	recv := apptest.NewReceiver(t, apptest.Status(200))
	orgA, orgB := newTenant(t, a, "tenant-a", recv), newTenant(t, a, "tenant-b", recv)
	secretA := a.Do(t, "GET", "/api/v1/webhooks/"+orgA.webhookID+"/secret", orgA.key, nil).Map(t)["secret"].(string)
	tested := 0
	for _, rt := range apiRoutes(a) {
		if strings.HasPrefix(rt.path, "/api/v1/organizations") || strings.HasPrefix(rt.path, "/api/v1/webhooks/agent-event") ||
			strings.HasPrefix(rt.path, "/api/v1/webhooks/calcom") || rt.path == "/api/v1/openapi.json" || rt.method == "POST" && rt.path == "/api/v1/events" {
			continue // not an organization's route
		}
		path := orgA.fill(rt.path)
		r := a.Do(t, rt.method, path, orgB.key, `{"since":"`+time.Now().Add(-time.Hour).Format(time.RFC3339)+`","url":"http://127.0.0.1:1/x","events":["*"]}`)
		tested++
		body := string(r.Body)
		if strings.Contains(rt.path, ":id") && r.Status != http.StatusNotFound {
			t.Errorf("%s %s with B's key: %d %.200s, want 404", rt.method, rt.path, r.Status, body)
		}
		for _, secret := range []string{orgA.orgID, orgA.webhookID, orgA.eventID, orgA.deliveryID, secretA} {
			if strings.Contains(body, secret) {
				t.Errorf("%s %s with B's key shows A's %s", rt.method, rt.path, secret)
			}
		}
	}
	if tested < 15 {
		t.Fatalf("only %d routes tested", tested)
	}
	// A's resources are all still there and unchanged.
	if r := a.Do(t, "GET", "/api/v1/webhooks/"+orgA.webhookID, orgA.key, nil); r.Status != 200 || r.Map(t)["enabled"] != true {
		t.Fatalf("A's webhook after B's attempts: %d %s", r.Status, r.Body)
	}
}

// malformed returns the bodies, content types and headers a hostile client
// sends, each a request of its own.
func malformed() []struct {
	name    string
	body    string
	headers map[string]string
} {
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	big := `{"url":"https://example.com/` + strings.Repeat("x", 100_000) + `","name":"` + strings.Repeat("n", 50_000) + `"}`
	bodies := map[string]string{
		"empty": "", "not json": "this is not json", "truncated": `{"url":`, "array": `[1,2,3]`, "number": `42`,
		"null": `null`, "string": `"x"`, "wrong types": `{"url":1,"events":"*","description":[],"enabled":"yes","data":7,"type":[],"organization_id":{}}`,
		"deep nesting": deep, "huge strings": big, "invalid utf-8": "{\"url\":\"\xff\xfe\",\"name\":\"\xc3\x28\"}",
		"NUL":           "{\"url\":\"https://a\\u0000b\",\"name\":\"a\\u0000\",\"type\":\"new_lead\",\"data\":{\"id\":\"\\u0000\"}}",
		"trailing data": `{} {}`, "duplicate keys": `{"url":"a","url":"b"}`, "bad ids": `{"organization_id":"../../etc","since":"never","until":"2026-13-45"}`,
	}
	type req = struct {
		name    string
		body    string
		headers map[string]string
	}
	var out []req
	for name, b := range bodies {
		out = append(out, req{name, b, map[string]string{"Content-Type": "application/json"}})
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", "garbage/garbage; x=\"y", ""} {
		out = append(out, req{"content type " + ct, `{}`, map[string]string{"Content-Type": ct}})
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer emp_" + strings.Repeat("z", 40), "Bearer emps_forged", "Bearer ~~~~"} {
		out = append(out, req{"authorization " + auth, `{}`, map[string]string{"Content-Type": "application/json", "Authorization": auth}})
	}
	return out
}

// Over a thousand malformed requests across every route: no 5xx, and every
// error is problem+json.
func TestHostileInput_MalformedRequestsOnEveryRouteGetProblems(t *testing.T) {
	a := apptest.Start(t, apptest.Options{MaxBodyBytes: 64 << 10, RateLimit: 1_000_000})
	recv := apptest.NewReceiver(t, apptest.Status(200))
	tn := newTenant(t, a, "hostile", recv)
	count := 0
	check := func(method, path string, r *apptest.Response, what string) {
		count++
		if r == nil {
			return // a body over the limit: the server answered 413 and closed while it was still being sent
		}
		if r.Status >= 500 {
			t.Errorf("%s %s (%s): %d %.200s", method, path, what, r.Status, r.Body)
		}
		if r.Status >= 400 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s %s (%s): %d with Content-Type %q", method, path, what, r.Status, r.Header.Get("Content-Type"))
		}
	}
	for _, rt := range apiRoutes(a) {
		paths := []string{tn.fill(rt.path)}
		if strings.Contains(rt.path, ":") { // garbage in every parameter
			for _, g := range []string{"not-a-uuid", "%00", strings.Repeat("9", 300), "00000000-0000-0000-0000-000000000000", "..%2F..%2Fetc"} {
				paths = append(paths, strings.NewReplacer(":id", g, ":key_id", g, ":token", g).Replace(rt.path))
			}
		}
		for _, path := range paths {
			for _, m := range malformed() {
				h := map[string]string{"Authorization": "Bearer " + tn.credential(rt)}
				for k, v := range m.headers {
					h[k] = v
				}
				check(rt.method, path, send(t, a, rt.method, path, m.body, h, 64<<10), m.name)
			}
			for _, method := range []string{"PUT", "TRACE", "OPTIONS", "PATCH", "DELETE"} {
				if method != rt.method {
					check(method, path, a.DoWith(t, method, path, `{}`, map[string]string{"Authorization": "Bearer " + tn.key}), "method "+method)
				}
			}
		}
	}
	for _, q := range []string{"?limit=-1", "?limit=abc", "?limit=100000", "?cursor=!!!", "?cursor=" + strings.Repeat("A", 5000), "?status=nope", "?event_type=%00"} {
		for _, p := range []string{"/api/v1/webhooks", "/api/v1/events", "/api/v1/webhooks/" + tn.webhookID + "/deliveries"} {
			check("GET", p+q, a.Do(t, "GET", p+q, tn.key, nil), "query "+q)
		}
	}
	if count < 1000 {
		t.Fatalf("only %d malformed requests sent", count)
	}
	t.Logf("%d malformed requests, no 5xx", count)
}

// send is App.DoWith for bodies that may be over the server's limit: a transport
// error then means the server answered and closed before reading it all, and nil
// is returned; under the limit a transport error fails the test.
func send(t *testing.T, a *apptest.App, method, path, body string, headers map[string]string, limit int) *apptest.Response {
	t.Helper()
	r, err := apptest.TryRequest(t, method, a.URL+path, body, headers)
	if err != nil && len(body) <= limit {
		t.Fatal(err)
	}
	return r
}
