package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/store"
)

const agentPath = "/api/v1/webhooks/agent-event"

func agentEvent(orgID string, data string) string {
	return `{"type":"new_lead","organization_id":"` + orgID + `","data":` + data + `}`
}

// countEvents counts the events stored in db.
func countEvents(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAgentEvent_AcceptedAndDeliveredWithExtraFields(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Agent")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, "lead.created")
	body := `{"type":"new_lead","organization_id":"` + orgID + `","occurred_at":"2026-03-07T11:30:00+01:00","event_id":"evt-1",
		"data":{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","name":"Jonas","email":null,"phone":"+49","channel":"whatsapp","status":"new","created_at":"2026-03-07T10:30:00Z","score":0.93}}`
	r := a.Do(t, "POST", agentPath, apptest.InternalToken, body)
	if r.Status != http.StatusAccepted || r.Map(t)["status"] != "accepted" || r.Map(t)["event_id"] == nil {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, "the lead.created delivery arrives", func() bool {
		for _, q := range recv.Requests() {
			if q.Header.Get("X-Empfio-Event") == "lead.created" {
				return true
			}
		}
		return false
	})
	var env struct {
		Event, Timestamp string
		Data             map[string]any
	}
	for _, q := range recv.Requests() {
		if q.Header.Get("X-Empfio-Event") == "lead.created" {
			json.Unmarshal(q.Body, &env)
		}
	}
	if env.Timestamp != "2026-03-07T10:30:00Z" || env.Data["score"] != 0.93 || env.Data["name"] != "Jonas" {
		t.Fatalf("delivered %+v", env)
	}
	if v, ok := env.Data["email"]; !ok || v != nil {
		t.Fatalf("a null field must stay null, got %v (present %v)", v, ok)
	}
}

func TestAgentEvent_DuplicateWithinWindowIsDiscarded(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Dedup")
	first := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{"id":"l1","channel":"web","name":"A"}`))
	if first.Status != http.StatusAccepted {
		t.Fatalf("%d %s", first.Status, first.Body)
	}
	// Key order and whitespace do not make a different event.
	again := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{ "name" : "A", "channel":"web",  "id":"l1" }`))
	if again.Status != 200 || again.Map(t)["status"] != "duplicate" {
		t.Fatalf("repeat: %d %s", again.Status, again.Body)
	}
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	// Different data is a different event; the same event_id is the same event.
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{"id":"l2","channel":"web"}`)); r.Status != 202 {
		t.Fatalf("different data: %d", r.Status)
	}
	withID := func(data string) *apptest.Response {
		return a.Do(t, "POST", agentPath, apptest.InternalToken, `{"type":"new_lead","organization_id":"`+orgID+`","event_id":"e-9","data":`+data+`}`)
	}
	if r := withID(`{"id":"l3","channel":"web"}`); r.Status != 202 {
		t.Fatalf("event_id first: %d", r.Status)
	}
	if r := withID(`{"id":"l4","channel":"sms"}`); r.Status != 200 || r.Map(t)["status"] != "duplicate" {
		t.Fatalf("same event_id, other data: %d %s", r.Status, r.Body)
	}
}

func TestAgentEvent_DedupWindowExpires(t *testing.T) {
	a := apptest.Start(t, apptest.Options{DedupWindow: time.Second})
	orgID, _ := a.Org(t, "Expiry")
	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	start := time.Now()
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != 202 {
		t.Fatalf("%d", r.Status)
	}
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != 200 {
		t.Fatalf("inside the window: %d", r.Status)
	}
	testenv.Eventually(t, 5*time.Second, "the same event is accepted again after the window", func() bool {
		return a.Do(t, "POST", agentPath, apptest.InternalToken, body).Status == 202
	})
	if time.Since(start) < 900*time.Millisecond {
		t.Fatal("accepted again before the window ended")
	}
}

func TestAgentEvent_FiftyConcurrentCopiesAcceptOne(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, key := a.Org(t, "Race")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	id1, _ := a.Webhook(t, key, recv.URL, "lead.created")
	id2, _ := a.Webhook(t, key, recv.URL, "*")
	body := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.Do(t, "POST", agentPath, apptest.InternalToken, body)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	// The copies that find the first still being stored are told to retry
	// (409); the others that it is a duplicate.
	if codes[202] != 1 || codes[200]+codes[409] != 49 {
		t.Fatalf("answers %v, want 1×202 and 49× 200 or 409", codes)
	}
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	for _, id := range []string{id1, id2} {
		var n int
		if err := a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM deliveries WHERE endpoint_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("endpoint %s has %d deliveries, want 1", id, n)
		}
	}
}

func TestAgentEvent_BadInputIsRefused(t *testing.T) {
	a := apptest.Start(t, apptest.Options{MaxBodyBytes: 2048})
	orgID, _ := a.Org(t, "Bad")
	send := func(token, body string, headers ...string) *apptest.Response {
		h := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
		if len(headers) == 2 {
			h[headers[0]] = headers[1]
		}
		return a.DoWith(t, "POST", agentPath, body, h)
	}
	ok := agentEvent(orgID, `{"id":"l1","channel":"web"}`)
	problem(t, send("wrong", ok), 401)
	problem(t, send("", ok), 401)
	problem(t, send(apptest.AdminToken, ok), 401)
	problem(t, send(apptest.InternalToken, `{"type":`), 400)
	problem(t, send(apptest.InternalToken, ok, "Content-Type", "application/x-www-form-urlencoded"), 415)
	problem(t, send(apptest.InternalToken, agentEvent(orgID, `{"id":"l1","channel":"web","pad":"`+strings.Repeat("x", 3000)+`"}`)), 413)

	m := problem(t, send(apptest.InternalToken, `{"type":"lead_spotted","organization_id":"`+orgID+`","data":{}}`), 422)
	if f := fieldErrors(m); len(f) != 1 || f[0] != "type" || !strings.Contains(string(mustJSON(m)), "new_lead") {
		t.Errorf("unknown type: %v", m["errors"])
	}
	m = problem(t, send(apptest.InternalToken, `{"type":"message_logged","organization_id":"`+orgID+`","data":{"role":"user"}}`), 422)
	if f := fieldErrors(m); strings.Join(f, ",") != "data.conversation_id,data.content" {
		t.Errorf("missing fields: %v", f)
	}
	m = problem(t, send(apptest.InternalToken, agentEvent("not-a-uuid", `{"id":"l1","channel":"web"}`)), 422)
	if f := fieldErrors(m); len(f) != 1 || f[0] != "organization_id" {
		t.Errorf("bad organization id: %v", f)
	}
	problem(t, send(apptest.InternalToken, `{"type":"new_lead","organization_id":"`+orgID+`","data":[1]}`), 422)
	problem(t, send(apptest.InternalToken, `{"type":"new_lead","organization_id":"`+orgID+`","data":{"id":"1","channel":"x"},"occurred_at":"yesterday"}`), 422)

	// An unknown organization is 404, and its dedup key is released.
	unknown := agentEvent("6f1c2a9e-8b1d-4c57-9e2a-71d0b5c4e8f2", `{"id":"l1","channel":"web"}`)
	problem(t, send(apptest.InternalToken, unknown), 404)
	problem(t, send(apptest.InternalToken, unknown), 404)
	if n := countEvents(t, a.DB); n != 0 {
		t.Fatalf("%d events stored from bad input", n)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestAgentEvent_UnsetTokenRefusesEverything(t *testing.T) {
	db, _ := testenv.DB(t)
	rdb, _ := testenv.Redis(t)
	url := serve(t, api.Config{DB: db, Redis: rdb})
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if resp := postAgent(t, url, auth, `{}`); resp.Status != 401 {
			t.Fatalf("auth %q with no INTERNAL_AUTH_TOKEN: %d, want 401", auth, resp.Status)
		}
	}
}

func TestAgentEvent_RedisDownIs503NotASilentAccept(t *testing.T) {
	db, _ := testenv.DB(t)
	rdb := deadRedis(t)
	url := serve(t, api.Config{DB: db, Redis: rdb, InternalToken: "t"})
	orgID, _, err := db.CreateOrganization(context.Background(), "Outage")
	if err != nil {
		t.Fatal(err)
	}
	resp := postAgent(t, url, "Bearer t", agentEvent(orgID.ID, `{"id":"l1","channel":"web"}`))
	if resp.Status != 503 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("Redis down: %d %v", resp.Status, resp.Header)
	}
	if n := countEvents(t, db); n != 0 {
		t.Fatalf("%d events stored while dedup was unavailable", n)
	}
}

func TestAgentEvent_PostgresDownReleasesTheDedupKey(t *testing.T) {
	rdb, _ := testenv.Redis(t)
	url := serve(t, api.Config{DB: deadPostgres(t), Redis: rdb, InternalToken: "t"})
	for i := range 2 { // the retry must not be taken for a duplicate
		resp := postAgent(t, url, "Bearer t", agentEvent("6f1c2a9e-8b1d-4c57-9e2a-71d0b5c4e8f2", `{"id":"l1","channel":"web"}`))
		if resp.Status != 503 {
			t.Fatalf("try %d with Postgres down: %d, want 503", i+1, resp.Status)
		}
	}
	if keys := rdb.Keys(context.Background(), "empfio:dedup:*").Val(); len(keys) != 0 {
		t.Fatalf("dedup keys left behind: %v", keys)
	}
}

// postAgent posts body to the agent endpoint of the server at url with the given
// Authorization header.
func postAgent(t *testing.T, url, authorization, body string) *apptest.Response {
	t.Helper()
	return apptest.Request(t, "POST", url+agentPath, body, map[string]string{"Authorization": authorization, "Content-Type": "application/json"})
}

// Each agent type, sent with only its required fields, is delivered with every
// field docs/events.md names for its event: a receiver written against the docs never
// finds one missing.
func TestAgentEvent_MinimalBodiesDeliverEveryKnownField(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Minimal")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, "*")
	minimal := map[string]string{
		"new_lead":        `{"id":"l1","channel":"whatsapp","name":"Anna","email":"anna@example.com"}`,
		"status_update":   `{"id":"l1","status":"qualified"}`,
		"booking_request": `{"lead_id":"l1","start_time":"2026-03-10T09:00:00Z"}`,
		"message_logged":  `{"conversation_id":"c1","role":"user","content":"Hallo"}`,
		"escalation":      `{"conversation_id":"c1","reason":"customer_request"}`,
	}
	for agentType, data := range minimal {
		body := `{"type":"` + agentType + `","organization_id":"` + orgID + `","occurred_at":"2026-03-07T10:30:00Z","data":` + data + `}`
		if r := a.Do(t, "POST", agentPath, apptest.InternalToken, body); r.Status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", agentType, r.Status, r.Body)
		}
	}
	for agentType, eventType := range webhooks.AgentEventTypes {
		testenv.Eventually(t, 10*time.Second, eventType+" arrives", func() bool { return len(recv.Of(eventType)) == 1 })
		var env struct{ Data map[string]json.RawMessage }
		if err := json.Unmarshal(recv.Of(eventType)[0].Body, &env); err != nil {
			t.Fatal(err)
		}
		example := map[string]json.RawMessage{}
		for _, e := range webhooks.Catalog {
			if e.Name == eventType {
				testenv.Must(t, json.Unmarshal(e.Example, &example))
			}
		}
		for k := range example {
			if _, ok := env.Data[k]; !ok {
				t.Errorf("%s (%s): field %q is missing from %s", eventType, agentType, k, recv.Of(eventType)[0].Body)
			}
		}
	}
	var lead struct{ Data map[string]any }
	testenv.Must(t, json.Unmarshal(recv.Of(webhooks.LeadCreated)[0].Body, &lead))
	if d := lead.Data; d["status"] != "new" || d["created_at"] != "2026-03-07T10:30:00Z" || d["phone"] != nil || d["name"] != "Anna" {
		t.Errorf("lead.created data %v", d)
	}
}

// An organization id spelled differently is the same organization: it is stored
// and signed in its canonical form, and its repeat is a duplicate.
func TestAgentEvent_OrganizationIDSpellingsAreOneID(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Spelling")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, "lead.created")
	data := `{"id":"l1","channel":"web"}`
	if r := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(strings.ToUpper(orgID), data)); r.Status != http.StatusAccepted {
		t.Fatalf("upper case: %d %s", r.Status, r.Body)
	}
	for _, spelling := range []string{orgID, "{" + orgID + "}", strings.ReplaceAll(orgID, "-", ""), "urn:uuid:" + orgID} {
		r := a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(spelling, data))
		if r.Status != http.StatusOK || r.Map(t)["status"] != "duplicate" {
			t.Errorf("%s: %d %s, want a duplicate", spelling, r.Status, r.Body)
		}
	}
	testenv.Eventually(t, 10*time.Second, "the event arrives", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 1 })
	var env struct {
		OrganizationID string `json:"organization_id"`
	}
	testenv.Must(t, json.Unmarshal(recv.Of(webhooks.LeadCreated)[0].Body, &env))
	if env.OrganizationID != orgID {
		t.Fatalf("envelope organization_id %q, want %q", env.OrganizationID, orgID)
	}
	if n := countEvents(t, a.DB); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}
