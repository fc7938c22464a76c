package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/empfio/webhooks/internal/testing/testenv"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
)

// problem asserts r is a problem+json answer with status and returns its body.
func problem(t *testing.T, r *apptest.Response, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.Body)
	}
	m := r.Map(t)
	if m["status"] != float64(status) || m["title"] == "" || m["detail"] == "" || m["type"] == "" {
		t.Fatalf("problem body %s", r.Body)
	}
	return m
}

func fieldErrors(m map[string]any) []string {
	var fields []string
	errs, _ := m["errors"].([]any)
	for _, e := range errs {
		fields = append(fields, e.(map[string]any)["field"].(string))
	}
	return fields
}

func TestOrganizations_AdminCreatesOrgsAndKeys(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	r := a.Do(t, "POST", "/api/v1/organizations", apptest.AdminToken, map[string]string{"name": "Albers"})
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var out struct {
		Organization webhooks.Organization
		APIKey       webhooks.APIKey `json:"api_key"`
	}
	r.JSON(t, &out)
	if !strings.HasPrefix(out.APIKey.Key, "emp_") || len(out.APIKey.Key) < 36 || !strings.HasPrefix(out.APIKey.Key, out.APIKey.Prefix) {
		t.Fatalf("key %+v", out.APIKey)
	}
	// The key is stored as its SHA-256 only: no column of any key row holds it.
	var stored, clear int
	if err := a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE hash = $1`,
		webhooks.HashAPIKey(out.APIKey.Key)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM api_keys k WHERE strpos(k::text, $1) > 0`,
		out.APIKey.Key).Scan(&clear); err != nil {
		t.Fatal(err)
	}
	if stored != 1 || clear != 0 {
		t.Fatalf("key stored by hash: %d, in clear: %d", stored, clear)
	}
	if r := a.Do(t, "GET", "/api/v1/webhooks", out.APIKey.Key, nil); r.Status != 200 {
		t.Fatalf("the new key does not authenticate: %d", r.Status)
	}

	r = a.Do(t, "POST", "/api/v1/organizations/"+out.Organization.ID+"/api-keys", apptest.AdminToken, map[string]string{"name": "ci"})
	var second webhooks.APIKey
	r.JSON(t, &second)
	if r.Status != http.StatusCreated || second.Key == "" || second.Key == out.APIKey.Key {
		t.Fatalf("second key: %d %s", r.Status, r.Body)
	}
	r = a.Do(t, "DELETE", "/api/v1/organizations/"+out.Organization.ID+"/api-keys/"+second.ID, apptest.AdminToken, nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	problem(t, a.Do(t, "GET", "/api/v1/webhooks", second.Key, nil), 401)
	r = a.Do(t, "GET", "/api/v1/organizations/"+out.Organization.ID+"/api-keys", apptest.AdminToken, nil)
	if !strings.Contains(string(r.Body), second.Prefix) || strings.Contains(string(r.Body), second.Key) {
		t.Fatalf("key list must show prefixes only: %s", r.Body)
	}
	problem(t, a.Do(t, "POST", "/api/v1/organizations/00000000-0000-4000-8000-000000000000/api-keys", apptest.AdminToken, nil), 404)
	problem(t, a.Do(t, "POST", "/api/v1/organizations", apptest.AdminToken, map[string]string{"name": " "}), 422)
}

func TestAuth_WrongCredentialsAreRefused(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Auth")
	for name, token := range map[string]string{
		"missing": "", "garbage": "emp_nope", "not a key": "hello", "admin token on org route": apptest.AdminToken,
		"internal token on org route": apptest.InternalToken,
	} {
		t.Run(name, func(t *testing.T) {
			r := a.Do(t, "GET", "/api/v1/webhooks", token, nil)
			problem(t, r, 401)
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	problem(t, a.Do(t, "POST", "/api/v1/organizations", key, map[string]string{"name": "x"}), 401)
	problem(t, a.Do(t, "POST", "/api/v1/organizations", "", map[string]string{"name": "x"}), 401)
}

func TestEventTypes_ListsTheCatalog(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Catalog")
	var out struct{ Data []webhooks.EventType }
	a.Do(t, "GET", "/api/v1/event-types", key, nil).JSON(t, &out)
	if len(out.Data) != len(webhooks.Catalog) || out.Data[0].Name != "lead.created" || len(out.Data[0].Example) == 0 {
		t.Fatalf("catalog: %+v", out.Data)
	}
}

func TestWebhooks_CreateReadUpdateDelete(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "CRUD")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"lead.*", "booking.created"}, "description": "CRM", "unknown_field": 1})
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.Map(t)
	id, secret := m["id"].(string), m["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || m["enabled"] != true || m["description"] != "CRM" {
		t.Fatalf("created %s", r.Body)
	}
	ping := m["ping"].(map[string]any)
	if ping["ok"] != true || ping["status_code"] != float64(200) || m["last_ping_ok_at"] == nil {
		t.Fatalf("ping %v, last_ping_ok_at %v", ping, m["last_ping_ok_at"])
	}

	r = a.Do(t, "GET", "/api/v1/webhooks/"+id, key, nil)
	if r.Status != 200 || strings.Contains(string(r.Body), secret) {
		t.Fatalf("get must not show the secret: %d %s", r.Status, r.Body)
	}
	r = a.Do(t, "PATCH", "/api/v1/webhooks/"+id, key, map[string]any{"events": []string{"*"}, "enabled": false, "retry_policy": map[string]any{"max_retries": 5, "window": "2h"}})
	var e webhooks.Endpoint
	r.JSON(t, &e)
	if r.Status != 200 || e.Enabled || e.Events[0] != "*" || e.Description != "CRM" || e.RetryPolicy == nil || e.RetryPolicy.MaxRetries != 5 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	problem(t, a.Do(t, "PATCH", "/api/v1/webhooks/"+id, key, map[string]any{"retry_policy": map[string]any{"max_retries": 50, "window": "1m"}}), 422)
	if r := a.Do(t, "DELETE", "/api/v1/webhooks/"+id, key, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	problem(t, a.Do(t, "GET", "/api/v1/webhooks/"+id, key, nil), 404)
}

func TestWebhooks_ListPagesWithACursor(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Pages")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	made := map[string]bool{}
	for range 5 {
		id, _ := a.Webhook(t, key, recv.URL, "*")
		made[id] = true
	}
	seen := map[string]bool{}
	path := "/api/v1/webhooks?limit=2"
	for pages := 0; ; pages++ {
		var page struct {
			Data       []webhooks.Endpoint
			NextCursor *string `json:"next_cursor"`
		}
		a.Do(t, "GET", path, key, nil).JSON(t, &page)
		for _, e := range page.Data {
			if seen[e.ID] {
				t.Fatalf("%s listed twice", e.ID)
			}
			seen[e.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		path = "/api/v1/webhooks?limit=2&cursor=" + *page.NextCursor
	}
	if len(seen) != len(made) {
		t.Fatalf("listed %d of %d webhooks", len(seen), len(made))
	}
	problem(t, a.Do(t, "GET", "/api/v1/webhooks?cursor=garbage", key, nil), 422)
	problem(t, a.Do(t, "GET", "/api/v1/webhooks?limit=1000", key, nil), 422)
}

func TestWebhooks_AnotherOrganizationsIDsAreNotFound(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Owner")
	_, strangerKey := a.Org(t, "Stranger")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	id, _ := a.Webhook(t, key, recv.URL, "*")
	r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": "lead.created", "organization_id": orgID, "data": map[string]any{"id": "1"}})
	eventID := r.Map(t)["event_id"].(string)
	var deliveryID string
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT id FROM deliveries`).Scan(&deliveryID))

	routes := []struct{ method, path string }{
		{"GET", "/api/v1/webhooks/" + id}, {"PATCH", "/api/v1/webhooks/" + id}, {"DELETE", "/api/v1/webhooks/" + id},
		{"POST", "/api/v1/webhooks/" + id + "/test"}, {"GET", "/api/v1/webhooks/" + id + "/secret"},
		{"POST", "/api/v1/webhooks/" + id + "/secret/rotate"}, {"GET", "/api/v1/webhooks/" + id + "/deliveries"},
		{"POST", "/api/v1/webhooks/" + id + "/replay"}, {"GET", "/api/v1/deliveries/" + deliveryID},
		{"POST", "/api/v1/deliveries/" + deliveryID + "/retry"}, {"GET", "/api/v1/events/" + eventID},
	}
	body := map[string]any{"description": "mine now", "since": "2026-01-01T00:00:00Z"}
	for _, rt := range routes {
		problem(t, a.Do(t, rt.method, rt.path, strangerKey, body), 404)
		notUUID := strings.Replace(rt.path, id, "not-a-uuid", 1)
		notUUID = strings.Replace(notUUID, deliveryID, "1234", 1)
		notUUID = strings.Replace(notUUID, eventID, "x'; DROP TABLE events;--", 1)
		problem(t, a.Do(t, rt.method, notUUID, key, body), 404)
	}
	if r := a.Do(t, "GET", "/api/v1/webhooks/"+id, key, nil); r.Status != 200 || r.Map(t)["description"] == "mine now" {
		t.Fatalf("the owner's webhook changed or vanished: %d %s", r.Status, r.Body)
	}
	var list struct{ Data []any }
	a.Do(t, "GET", "/api/v1/events", strangerKey, nil).JSON(t, &list)
	if len(list.Data) != 0 {
		t.Fatalf("a stranger lists %d events of another organization", len(list.Data))
	}
}

func TestWebhooks_BadInputGetsProblems(t *testing.T) {
	a := apptest.Start(t, apptest.Options{MaxBodyBytes: 4096})
	_, key := a.Org(t, "Bad input")
	post := func(body any, headers ...string) *apptest.Response {
		h := map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}
		for i := 0; i+1 < len(headers); i += 2 {
			h[headers[i]] = headers[i+1]
		}
		return a.DoWith(t, "POST", "/api/v1/webhooks", body, h)
	}
	problem(t, post(`{"url": "https://x.example", "events": [`), 400)
	problem(t, post(``), 400)
	problem(t, post(`[1,2]`), 400)
	problem(t, post(`{"url":"http://127.0.0.1/x","events":["*"]} trailing`), 400)
	problem(t, post(`{"url":"http://127.0.0.1/x","events":["*"]}`, "Content-Type", "text/plain"), 415)
	problem(t, post(`{"url":"http://127.0.0.1/x","events":["*"]}`, "Content-Type", ""), 415)
	problem(t, post(`{"url":"http://127.0.0.1/x","events":["*"],"description":"`+strings.Repeat("x", 5000)+`"}`), 413)
	cases := map[string]struct {
		body  string
		field string
	}{
		"wrong type":    {`{"url": 42, "events": ["*"]}`, "url"},
		"events string": {`{"url": "http://127.0.0.1/x", "events": "*"}`, "events"},
		"empty events":  {`{"url": "http://127.0.0.1/x", "events": []}`, "events"},
		"unknown event": {`{"url": "http://127.0.0.1/x", "events": ["lead.deleted"]}`, "events[0]"},
		"no url":        {`{"events": ["*"]}`, "url"},
		"credentials":   {`{"url": "http://u:p@127.0.0.1/x", "events": ["*"]}`, "url"},
		"bad policy":    {`{"url": "http://127.0.0.1/x", "events": ["*"], "retry_policy": {"max_retries": 3, "window": "soon"}}`, "body"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := problem(t, post(c.body), 422)
			if f := fieldErrors(m); len(f) == 0 || f[0] != c.field {
				t.Fatalf("errors %v, want field %s", m["errors"], c.field)
			}
		})
	}
}

// stubResolver maps names to addresses without DNS traffic.
type stubResolver map[string]string

func (s stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := s[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestWebhooks_PrivateTargetsAreRefusedBeforeAnyDial(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Secure: true, Resolver: stubResolver{
		"internal.example.com": "10.0.0.7", "metadata.example.com": "169.254.169.254"}})
	_, key := a.Org(t, "Secure")
	for _, u := range []string{
		"http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.0.0.1/x", "https://[::1]/x",
		"https://169.254.169.254/latest/meta-data", "https://internal.example.com/x", "https://metadata.example.com/x",
		"https://localhost/x",
	} {
		m := problem(t, a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": u, "events": []string{"*"}}), 422)
		if f := fieldErrors(m); len(f) != 1 || f[0] != "url" {
			t.Errorf("%s: errors %v", u, m["errors"])
		}
	}
	var n int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM endpoints`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d refused endpoints were stored", n)
	}
}

func TestWebhooks_PingReachesATLSReceiverSigned(t *testing.T) {
	recv := apptest.NewTLSReceiver(t, apptest.Status(204))
	a := apptest.Start(t, apptest.Options{TLSConfig: recv.Client().Transport.(*http.Transport).TLSClientConfig})
	_, key := a.Org(t, "TLS")
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL + "/hook", "events": []string{"*"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.Map(t)
	if ping := m["ping"].(map[string]any); ping["ok"] != true {
		t.Fatalf("ping over TLS: %v", ping)
	}
	got := recv.Requests()
	if len(got) != 1 || got[0].Header.Get("X-Empfio-Event") != "webhook.ping" {
		t.Fatalf("receiver got %d requests", len(got))
	}
	mac := hmac.New(sha256.New, []byte(m["secret"].(string)))
	mac.Write(got[0].Body)
	if got[0].Header.Get("X-Empfio-Signature") != hex.EncodeToString(mac.Sum(nil)) {
		t.Fatal("the ping's signature does not verify")
	}
	if !strings.Contains(string(got[0].Body), m["id"].(string)) {
		t.Fatalf("ping data lacks the webhook id: %s", got[0].Body)
	}

	// On demand, and a failing receiver: the outcome says so; the webhook stays.
	down := apptest.NewReceiver(t, apptest.Status(500))
	id, _ := a.Webhook(t, key, recv.URL, "*")
	a.Do(t, "PATCH", "/api/v1/webhooks/"+id, key, map[string]any{"url": down.URL})
	tr := a.Do(t, "POST", "/api/v1/webhooks/"+id+"/test", key, nil).Map(t)
	if tr["ok"] != false || tr["status_code"] != float64(500) || tr["error"] == nil {
		t.Fatalf("test against a 500 receiver: %v", tr)
	}
}

func TestWebhooks_SecretRotationKeepsThePreviousSecretSigning(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Rotate")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	id, old := a.Webhook(t, key, recv.URL, "*")
	if s := a.Do(t, "GET", "/api/v1/webhooks/"+id+"/secret", key, nil).Map(t)["secret"]; s != old {
		t.Fatalf("reveal = %v, want %s", s, old)
	}
	r := a.Do(t, "POST", "/api/v1/webhooks/"+id+"/secret/rotate", key, map[string]any{"grace": "1h"})
	m := r.Map(t)
	if r.Status != 200 || m["secret"] == old || m["previous_secret_expires_at"] == nil {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	a.Do(t, "POST", "/api/v1/webhooks/"+id+"/test", key, nil)
	got := recv.Requests()
	sig := got[len(got)-1].Header.Get("webhook-signature")
	if len(strings.Fields(sig)) != 2 {
		t.Fatalf("webhook-signature %q: want the new and the previous secret's signatures", sig)
	}
	problem(t, a.Do(t, "POST", "/api/v1/webhooks/"+id+"/secret/rotate", key, map[string]any{"grace": "30d"}), 422)
}

func TestRateLimit_TooManyRequestsGet429WithRetryAfter(t *testing.T) {
	a := apptest.Start(t, apptest.Options{RateLimit: 3})
	_, key := a.Org(t, "Greedy")
	var last *apptest.Response
	for range 10 {
		last = a.Do(t, "GET", "/api/v1/event-types", key, nil)
		if last.Status == http.StatusTooManyRequests {
			break
		}
	}
	problem(t, last, 429)
	if last.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

func TestCORS_AllowsTheConfiguredOrigin(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	r := a.DoWith(t, "OPTIONS", "/api/v1/webhooks", nil, map[string]string{
		"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight: %d %v", r.Status, r.Header)
	}
	r = a.DoWith(t, "OPTIONS", "/api/v1/webhooks", nil, map[string]string{
		"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an unlisted origin was allowed")
	}
}
