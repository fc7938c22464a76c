package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
)

// A webhook's trends: every bucket of the window present, the deliveries of
// each by outcome and the latency of its attempts; an empty webhook is all
// zeros; an unknown window is 422.
func TestWebhooks_TrendsByBucket(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 0, Window: time.Second}})
	orgID, key := a.Org(t, "Trends")
	recv := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		var env struct{ Data struct{ Channel string } }
		json.NewDecoder(r.Body).Decode(&env)
		if env.Data.Channel == "email" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	hookID, _ := a.Webhook(t, key, recv.URL, "lead.*")
	quietID, _ := a.Webhook(t, key, recv.URL+"/quiet", "booking.*")
	for i, channel := range []string{"web", "web", "web", "email", "email"} {
		r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": webhooks.LeadCreated, "organization_id": orgID,
			"data": map[string]any{"id": "l" + string(rune('0'+i)), "channel": channel}})
		if r.Status != http.StatusAccepted {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
	}
	var tr webhooks.Trends
	testenv.Eventually(t, 15*time.Second, "five deliveries final in the trends", func() bool {
		a.Do(t, "GET", "/api/v1/webhooks/"+hookID+"/trends", key, nil).JSON(t, &tr)
		last := tr.Points[len(tr.Points)-1]
		return last.Succeeded == 3 && last.Failed == 2
	})
	if tr.Window != "24h" || tr.Bucket != "1h" || len(tr.Points) != 24 {
		t.Fatalf("window %q bucket %q, %d points", tr.Window, tr.Bucket, len(tr.Points))
	}
	last := tr.Points[len(tr.Points)-1]
	if last.Attempts != 5 || last.P50MS == nil || last.P95MS == nil || *last.P95MS < *last.P50MS || last.Open != 0 {
		t.Fatalf("the last hour: %+v", last)
	}
	for i, p := range tr.Points[:23] {
		if p.Succeeded+p.Failed+p.Open+p.Attempts != 0 || p.P50MS != nil {
			t.Fatalf("point %d before the deliveries: %+v", i, p)
		}
		if !tr.Points[i+1].Start.Equal(p.Start.Add(time.Hour)) {
			t.Fatalf("points %d and %d are not an hour apart", i, i+1)
		}
	}

	a.Do(t, "GET", "/api/v1/webhooks/"+hookID+"/trends?window=7d", key, nil).JSON(t, &tr)
	if tr.Bucket != "6h" || len(tr.Points) != 28 || tr.Points[27].Succeeded != 3 {
		t.Fatalf("7d: bucket %q, %d points, last %+v", tr.Bucket, len(tr.Points), tr.Points[len(tr.Points)-1])
	}
	a.Do(t, "GET", "/api/v1/webhooks/"+quietID+"/trends", key, nil).JSON(t, &tr)
	if len(tr.Points) != 24 || tr.Points[23].Attempts != 0 || tr.Points[23].P50MS != nil {
		t.Fatalf("a quiet webhook: %+v", tr.Points[23])
	}
	m := problem(t, a.Do(t, "GET", "/api/v1/webhooks/"+hookID+"/trends?window=30d", key, nil), http.StatusUnprocessableEntity)
	if errs, _ := m["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["field"] != "window" {
		t.Fatalf("30d: %v", m)
	}
	problem(t, a.Do(t, "GET", "/api/v1/webhooks/00000000-0000-4000-8000-000000000000/trends", key, nil), http.StatusNotFound)
}
