package api_test

import (
	"encoding/base64"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
)

// The inbound routes take POST only: any other method is a 405 naming POST,
// never a management route that took "agent-event" or "calcom" for a webhook
// id (401 counted as a failed authentication, or 404).
func TestInbound_OtherMethodsAre405AllowPost(t *testing.T) {
	a := apptest.Start(t, apptest.Options{AuthFailures: 2})
	_, key := a.Org(t, "Methods")
	for _, path := range []string{agentPath, "/api/v1/webhooks/calcom", "/api/v1/webhooks/calcom/cal_sometoken"} {
		for _, method := range []string{"GET", "PATCH", "DELETE", "PUT"} {
			for _, auth := range []string{"", key, "wrong"} {
				r := a.Do(t, method, path, auth, `{}`)
				problem(t, r, http.StatusMethodNotAllowed)
				if got := r.Header.Get("Allow"); got != "POST" {
					t.Errorf("%s %s: Allow %q, want POST", method, path, got)
				}
			}
		}
	}
	// None of those counted as a failed authentication: the key still works.
	if r := a.Do(t, "GET", "/api/v1/webhooks", key, nil); r.Status != http.StatusOK {
		t.Fatalf("after the 405s: %d %s", r.Status, r.Body)
	}
}

// HEAD answers on every GET route, without a body.
func TestRoutes_HeadWorksOnGetRoutes(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Head")
	for _, path := range []string{"/healthz", "/api/v1/webhooks", "/api/v1/events", "/api/v1/event-types", "/api/v1/openapi.json"} {
		r := a.Do(t, "HEAD", path, key, nil)
		if r.Status != http.StatusOK || len(r.Body) != 0 {
			t.Errorf("HEAD %s: %d with %d bytes", path, r.Status, len(r.Body))
		}
	}
}

// /dashboard without its slash redirects: served there, the page's relative
// scripts would 404 and it would say "Loading…" forever.
func TestDashboard_WithoutTheSlashRedirects(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(a.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/dashboard/" {
		t.Fatalf("GET /dashboard: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if r := a.Do(t, "GET", "/dashboard/", "", nil); r.Status != http.StatusOK || !strings.Contains(string(r.Body), "<html") {
		t.Fatalf("GET /dashboard/: %d", r.Status)
	}
}

// /ops/queues counts wrong passwords like every credential, and no page of it
// can be put in a frame.
func TestOps_FailedLoginsAreLimitedAndPagesCannotBeFramed(t *testing.T) {
	a := apptest.Start(t, apptest.Options{AuthFailures: 3})
	basic := func(pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+pw))}
	}
	r := a.DoWith(t, "GET", "/ops/queues", nil, basic(apptest.AdminToken))
	if r.Status != http.StatusOK {
		t.Fatalf("the right password: %d", r.Status)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("framing headers: CSP %q, X-Frame-Options %q", csp, r.Header.Get("X-Frame-Options"))
	}
	// The browser's first request carries no credentials: it is not a guess.
	for range 5 {
		if r := a.DoWith(t, "GET", "/ops/queues", nil, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("no credentials: %d", r.Status)
		}
	}
	statuses := []int{}
	for range 5 {
		statuses = append(statuses, a.DoWith(t, "GET", "/ops/queues", nil, basic("guess")).Status)
	}
	if !slices.Equal(statuses, []int{401, 401, 401, 429, 429}) {
		t.Fatalf("wrong passwords answered %v, want three 401s and then 429s", statuses)
	}
	if r := a.DoWith(t, "GET", "/ops/queues", nil, basic(apptest.AdminToken)); r.Status != http.StatusTooManyRequests {
		t.Fatalf("the right password from a locked-out address: %d, want 429", r.Status)
	}
}

// Log lines name route patterns, never paths: a Cal.com subscriber URL's
// token stays out of the logs when its request ends in a 404 or a 405 too.
func TestLogs_NameRoutePatternsNotPaths(t *testing.T) {
	logs := &apptest.LogBuffer{}
	a := apptest.Start(t, apptest.Options{LogOutput: logs, LogInfo: true})
	const token = "cal_tokenthatmustnotbelogged"
	a.Do(t, "GET", "/api/v1/webhooks/calcom/"+token, "", nil)
	a.Do(t, "POST", "/api/v1/webhooks/calcom/"+token, "", `{}`)
	a.Do(t, "POST", "/api/v1/webhooks/calcom/"+token+"/extra", "", `{}`)
	a.Do(t, "GET", "/api/v1/no-such/"+token, "", nil)
	out := logs.String()
	if strings.Contains(out, "tokenthatmustnotbelogged") {
		t.Fatalf("a token was logged:\n%s", out)
	}
	if !strings.Contains(out, "/api/v1/webhooks/calcom/:token") {
		t.Fatalf("the requests were not logged by their route:\n%s", out)
	}
}

// Behind a load balancer listed in TRUSTED_PROXIES, failed authentications
// count per client (the right-most X-Forwarded-For entry that is not a
// trusted proxy): one client locked out leaves the others in, and a client
// cannot get out by writing other addresses into the header.
func TestAuth_FailuresCountPerClientBehindATrustedProxy(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	a := apptest.Start(t, apptest.Options{AuthFailures: 2, TrustedProxies: loopback})
	_, key := a.Org(t, "Proxied")
	from := func(xff, auth string) int {
		return a.DoWith(t, "GET", "/api/v1/webhooks", nil, map[string]string{"Authorization": "Bearer " + auth, "X-Forwarded-For": xff}).Status
	}
	for range 2 {
		from("203.0.113.9", "emp_wrong")
	}
	if got := from("203.0.113.9", "emp_wrong"); got != http.StatusTooManyRequests {
		t.Fatalf("the guessing client: %d, want 429", got)
	}
	if got := from("198.51.100.7", key); got != http.StatusOK {
		t.Fatalf("another client behind the same balancer: %d, want 200", got)
	}
	if got := from("198.51.100.99, 203.0.113.9", "emp_wrong"); got != http.StatusTooManyRequests {
		t.Fatalf("the guessing client with a made-up address in front: %d, want 429", got)
	}
	// Without a trusted proxy the header is the client's to write: ignored.
	b := apptest.Start(t, apptest.Options{AuthFailures: 2})
	for _, xff := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		b.DoWith(t, "GET", "/api/v1/webhooks", nil, map[string]string{"Authorization": "Bearer emp_wrong", "X-Forwarded-For": xff})
	}
	if r := b.DoWith(t, "GET", "/api/v1/webhooks", nil, map[string]string{"Authorization": "Bearer emp_wrong", "X-Forwarded-For": "192.0.2.4"}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("X-Forwarded-For from an untrusted peer changed the count: %d", r.Status)
	}
}

// The links the api returns start with PUBLIC_URL, whatever Host a request
// names.
func TestLinks_AreBuiltFromThePublicURLNotTheHost(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Links")
	h := map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json", "Host": "evil.example"}
	for path, field := range map[string]string{"/api/v1/portal-sessions": "url", "/api/v1/integrations/calcom": "subscriber_url", "/api/v1/listen-sessions": "stream_url"} {
		req, _ := http.NewRequest("POST", a.URL+path, strings.NewReader(`{}`))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		req.Host = "evil.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r := &apptest.Response{Status: resp.StatusCode, Header: resp.Header}
		r.Body = mustRead(t, resp)
		if r.Status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", path, r.Status, r.Body)
		}
		if link, _ := r.Map(t)[field].(string); !strings.HasPrefix(link, a.URL+"/") {
			t.Errorf("POST %s with Host: evil.example: %s = %q, want it under %s", path, field, link, a.URL)
		}
	}
}

// A JSON body that names a key twice, or is not UTF-8, is refused on every
// JSON route: a gateway that read the first value and this service would not
// agree on what was asked.
func TestJSON_DuplicateKeysAndBadUTF8Are400(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, key := a.Org(t, "Strict")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	cases := []struct{ method, path, token, body string }{
		{"POST", "/api/v1/webhooks", key, `{"url":"` + recv.URL + `","url":"https://b.example.com","events":["*"]}`},
		{"POST", agentPath, apptest.InternalToken, `{"type":"new_lead","organization_id":"` + orgID + `","data":{"id":"l1","id":"l2","channel":"web"}}`},
		{"POST", "/api/v1/events", apptest.InternalToken, `{"event":"lead.created","event":"lead.created","organization_id":"` + orgID + `","data":{}}`},
		{"POST", "/api/v1/webhooks", key, "{\"url\":\"" + recv.URL + "\",\"events\":[\"*\"],\"description\":\"\xff\"}"},
	}
	for _, c := range cases {
		problem(t, a.Do(t, c.method, c.path, c.token, c.body), http.StatusBadRequest)
	}
	// The same bodies with each key once are taken.
	if r := a.Do(t, "POST", "/api/v1/webhooks", key, `{"url":"`+recv.URL+`","events":["*"],"description":"ü"}`); r.Status != http.StatusCreated {
		t.Fatalf("a clean body: %d %s", r.Status, r.Body)
	}
	if n := countEvents(t, a.DB); n != 0 {
		t.Fatalf("%d events stored from refused bodies", n)
	}
}

// The service's own events cannot be published by senders.
func TestEvents_TheServicesOwnTypesAreReserved(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Reserved")
	for _, eventType := range []string{webhooks.DeliveryFailed, webhooks.WebhookDisabled, webhooks.WebhookCircuitOpened, webhooks.WebhookCircuitClosed, webhooks.WebhookPing} {
		m := problem(t, a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
			"event": eventType, "organization_id": orgID, "data": map[string]any{"webhook_id": "x"}}), http.StatusUnprocessableEntity)
		if !slices.Contains(fieldErrors(m), "event") {
			t.Errorf("%s: errors %v", eventType, fieldErrors(m))
		}
	}
	if r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": webhooks.LeadCreated, "organization_id": orgID, "data": map[string]any{"id": "l1"}}); r.Status != http.StatusAccepted {
		t.Fatalf("a catalog event: %d %s", r.Status, r.Body)
	}
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

// Documented data fields of the wrong type are refused, naming the field.
func TestAgentEvent_DocumentedFieldsOfTheWrongTypeAre422(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Types")
	for data, field := range map[string]string{
		`{"id":1,"channel":"web"}`:                            "data.id",
		`{"id":"l1","channel":"web","created_at":"notatime"}`: "data.created_at",
	} {
		m := problem(t, a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, data)), http.StatusUnprocessableEntity)
		if !slices.Equal(fieldErrors(m), []string{field}) {
			t.Errorf("%s: errors %v, want [%s]", data, fieldErrors(m), field)
		}
	}
	m := problem(t, a.Do(t, "POST", agentPath, apptest.InternalToken, `{"type":"status_update","organization_id":"`+orgID+`","data":{"id":"l1","status":5}}`), http.StatusUnprocessableEntity)
	if !slices.Equal(fieldErrors(m), []string{"data.status"}) {
		t.Errorf("status 5: errors %v", fieldErrors(m))
	}
	m = problem(t, a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{
		"event": webhooks.LeadCreated, "organization_id": orgID, "data": map[string]any{"id": 7}}), http.StatusUnprocessableEntity)
	if !slices.Equal(fieldErrors(m), []string{"data.id"}) {
		t.Errorf("POST /events with id 7: errors %v", fieldErrors(m))
	}
	if n := countEvents(t, a.DB); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

// A dashboard link may be limited to at most as many event types as an
// endpoint may subscribe to.
func TestPortal_AllowedEventTypesAreCapped(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Cap")
	many := make([]string, webhooks.MaxSubscriptions+1)
	for i := range many {
		many[i] = webhooks.LeadCreated
	}
	m := problem(t, a.Do(t, "POST", "/api/v1/portal-sessions", key, map[string]any{"allowed_event_types": many}), http.StatusUnprocessableEntity)
	if !slices.Equal(fieldErrors(m), []string{"allowed_event_types"}) {
		t.Fatalf("errors %v", fieldErrors(m))
	}
	portalToken(t, a, key, map[string]any{"allowed_event_types": many[:webhooks.MaxSubscriptions]})
}

// A correctly signed booking whose uid is longer than any stored id is a 422,
// not a 500 from the index that refuses it.
func TestCalcom_OverlongUIDIs422(t *testing.T) {
	a, _ := calcomApp(t, apptest.Options{})
	body := []byte(strings.Replace(string(fixture(t, "booking_created.json")), `"uid":"`, `"uid":"`+strings.Repeat("u", 3000), 1))
	if !strings.Contains(string(body), strings.Repeat("u", 3000)) {
		t.Fatal("the fixture has no uid to lengthen")
	}
	m := problem(t, sendCalcom(t, a, "", body, webhooks.Sign(apptest.CalcomSecret, body)), http.StatusUnprocessableEntity)
	if !slices.Equal(fieldErrors(m), []string{"payload.uid"}) {
		t.Fatalf("errors %v", fieldErrors(m))
	}
	if r := sendCalcom(t, a, "", fixture(t, "booking_created.json"), fixtureSignatures["booking_created.json"]); r.Status != http.StatusAccepted {
		t.Fatalf("the fixture itself: %d %s", r.Status, r.Body)
	}
}

// An organization with its own Cal.com subscriber URL takes bookings there
// only; CALCOM_SHARED_ROUTE=false turns the shared route off for everyone.
func TestCalcom_SharedRouteRefusesOrganizationsWithTheirOwnURL(t *testing.T) {
	a, _ := calcomApp(t, apptest.Options{})
	body, sig := fixture(t, "booking_created.json"), fixtureSignatures["booking_created.json"]
	key, err := a.DB.CreateAPIKey(t.Context(), fixtureOrg, "connect")
	if err != nil {
		t.Fatal(err)
	}
	connectCalcom(t, a, key.Key)
	problem(t, sendCalcom(t, a, "", body, sig), http.StatusForbidden)
	if n := countEvents(t, a.DB); n != 0 {
		t.Fatalf("%d events stored through the shared route", n)
	}
	off := apptest.Start(t, apptest.Options{CalcomSharedRouteOff: true})
	problem(t, sendCalcom(t, off, "?organization_id="+fixtureOrg, body, sig), http.StatusNotFound)
}

// A webhook's health reads the same in the answer that creates it as in a
// later read.
func TestWebhooks_CreateAnswersTheSameHealthAsARead(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Health")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	r := a.Do(t, "POST", "/api/v1/webhooks", key, map[string]any{"url": recv.URL, "events": []string{"*"}})
	var created, read webhooks.Endpoint
	r.JSON(t, &created)
	a.Do(t, "GET", "/api/v1/webhooks/"+created.ID, key, nil).JSON(t, &read)
	if created.Health.State != webhooks.CircuitClosed || read.Health.State != webhooks.CircuitClosed {
		t.Fatalf("health.state: %q on create, %q on read", created.Health.State, read.Health.State)
	}
}

// PATCH with null resets a field to its default; a field with no default may
// not be null; an absent field stays as it is.
func TestWebhooks_PatchNullResetsToTheDefault(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	_, key := a.Org(t, "Patch")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	id, _ := a.Webhook(t, key, recv.URL, "*")
	path := "/api/v1/webhooks/" + id
	var e webhooks.Endpoint
	a.Do(t, "PATCH", path, key, `{"rate_limit":{"per_second":5},"retry_policy":{"max_retries":2,"window":"1h"},"description":"mine"}`).JSON(t, &e)
	if e.RateLimit == nil || e.RetryPolicy == nil || e.Description != "mine" {
		t.Fatalf("set: %+v", e)
	}
	a.Do(t, "PATCH", path, key, `{"events":["lead.*"]}`).JSON(t, &e)
	if e.RateLimit == nil || e.RetryPolicy == nil || e.Description != "mine" {
		t.Fatalf("an absent field changed: %+v", e)
	}
	r := a.Do(t, "PATCH", path, key, `{"rate_limit":null,"retry_policy":null,"description":null}`)
	r.JSON(t, &e)
	if r.Status != http.StatusOK || e.RateLimit != nil || e.RetryPolicy != nil || e.Description != "" {
		t.Fatalf("null: %d %s", r.Status, r.Body)
	}
	m := problem(t, a.Do(t, "PATCH", path, key, `{"url":null,"events":null,"enabled":null}`), http.StatusUnprocessableEntity)
	if got := fieldErrors(m); !slices.Equal(got, []string{"enabled", "events", "url"}) {
		t.Fatalf("null without a default: errors %v", got)
	}
}
