package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/api"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// A webhook with a filter gets only the events whose envelope matches it,
// and no delivery is made for the others; the dry run says which recent
// events a filter lets through, as publishing decides; a test event goes
// whatever the filter; bad filters are 422 on "filter".
func TestWebhooks_PayloadFilter(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Filters")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	r := a.Do(t, "POST", "/api/v1/webhooks", key, `{"url":"`+recv.URL+`","events":["lead.*"],
		"filter":{"data.channel":{"$in":["web","whatsapp"]},"data.score":{"$gte":0.5}}}`)
	var hook webhooks.Endpoint
	r.JSON(t, &hook)
	if r.Status != http.StatusCreated || !strings.Contains(string(hook.Filter), `"$gte"`) {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	publish := func(lead, channel string, score float64) {
		t.Helper()
		r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": webhooks.LeadCreated, "organization_id": orgID,
			"data": map[string]any{"id": lead, "channel": channel, "score": score}})
		if r.Status != http.StatusAccepted {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	publish("l1", "web", 0.9)      // passes
	publish("l2", "email", 0.9)    // wrong channel
	publish("l3", "whatsapp", 0.1) // low score
	publish("l4", "whatsapp", 0.7) // passes
	testenv.Eventually(t, 10*time.Second, "the two that pass arrive", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 2 })
	var dry api.FilterTestResult
	a.Do(t, "POST", "/api/v1/webhooks/"+hook.ID+"/filter-test", key, `{"filter":{"data.score":{"$gt":0.8}}}`).JSON(t, &dry)
	if dry.Checked != 4 || dry.Passed != 2 || dry.Events[0].Passes != false || dry.Events[3].Passes != true {
		t.Fatalf("dry run: %+v", dry)
	}
	a.Do(t, "POST", "/api/v1/webhooks/"+hook.ID+"/filter-test", key, `{"filter":null}`).JSON(t, &dry)
	if dry.Passed != 4 {
		t.Fatalf("dry run without a filter: %+v", dry)
	}

	// A test event is sent whatever the filter.
	if r := a.Do(t, "POST", "/api/v1/webhooks/"+hook.ID+"/test", key, map[string]string{"event_type": webhooks.LeadStatusChanged}); r.Status != http.StatusAccepted {
		t.Fatalf("test event: %d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, "the test event arrives", func() bool { return len(recv.Of(webhooks.LeadStatusChanged)) == 1 })
	var stored int
	testenv.Must(t, a.DB.Pool().QueryRow(context.Background(), `SELECT count(*) FROM deliveries WHERE endpoint_id = $1`, hook.ID).Scan(&stored))
	if stored != 3 { // the two leads that passed and the test event
		t.Fatalf("%d deliveries stored, want 3: a filtered-out event makes none", stored)
	}

	// null removes the filter.
	var changed map[string]any
	a.Do(t, "PATCH", "/api/v1/webhooks/"+hook.ID, key, `{"filter":null}`).JSON(t, &changed)
	if changed["filter"] != nil {
		t.Fatalf("filter after null: %v", changed["filter"])
	}
	publish("l5", "email", 0.1)
	testenv.Eventually(t, 10*time.Second, "an unfiltered event arrives", func() bool { return len(recv.Of(webhooks.LeadCreated)) == 3 })

	for body, says := range map[string]string{
		`{"filter":{"data.x":{"$regex":"a"}}}`: "is not an operator",
		`{"filter":[1]}`:                       "JSON object",
		`{"filter":{"data.x":{"$gt":true}}}`:   "string or a number",
	} {
		for _, req := range []struct{ method, path string }{{"PATCH", "/api/v1/webhooks/" + hook.ID}, {"POST", "/api/v1/webhooks/" + hook.ID + "/filter-test"}} {
			m := problem(t, a.Do(t, req.method, req.path, key, body), http.StatusUnprocessableEntity)
			errs, _ := m["errors"].([]any)
			if len(errs) != 1 || !strings.Contains(errs[0].(map[string]any)["message"].(string), says) || errs[0].(map[string]any)["field"] != "filter" {
				t.Errorf("%s %s: %v", req.method, body, m["errors"])
			}
		}
	}
}
