package api_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/empfio/webhooks/internal/testing/apptest"
)

func TestOps_QueuesNeedTheAdminToken(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	if r := a.DoWith(t, "GET", "/ops/queues", nil, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("asynqmon without credentials: %d", r.Status)
	}
	basic := func(pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+pw))}
	}
	if r := a.DoWith(t, "GET", "/ops/queues", nil, basic("wrong")); r.Status != http.StatusUnauthorized {
		t.Fatalf("asynqmon with a wrong password: %d", r.Status)
	}
	r := a.DoWith(t, "GET", "/ops/queues", nil, basic(apptest.AdminToken))
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "<html") {
		t.Fatalf("asynqmon with ADMIN_TOKEN: %d %.200s", r.Status, r.Body)
	}
	r = a.DoWith(t, "GET", "/ops/queues/api/queues", nil, basic(apptest.AdminToken))
	if r.Status != http.StatusOK {
		t.Fatalf("asynqmon API: %d %.200s", r.Status, r.Body)
	}
}

func TestMetrics_ExposeInboundCounts(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	orgID, _ := a.Org(t, "Metrics")
	a.Do(t, "POST", agentPath, apptest.InternalToken, agentEvent(orgID, `{"id":"l1","channel":"web"}`))
	r := a.Do(t, "GET", "/metrics", "", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `empfio_inbound_events_total{outcome="accepted",source="agent"}`) {
		t.Fatalf("metrics: %d %.500s", r.Status, r.Body)
	}
}

func TestDashboard_IsServed(t *testing.T) {
	a := apptest.Start(t, apptest.Options{})
	r := a.DoWith(t, "GET", "/dashboard/", nil, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "Empfio Webhooks") {
		t.Fatalf("dashboard: %d", r.Status)
	}
}
