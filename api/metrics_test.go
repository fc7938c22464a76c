package api_test

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"github.com/empfio/webhooks/jobs"
	"github.com/prometheus/client_golang/prometheus"
)

// metric returns the value of the series of /metrics whose line starts with
// prefix (name and labels), or -1.
func metric(text, prefix string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, prefix)), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// /metrics counts deliveries by outcome and event type, receivers' answers by
// class, retries and deliveries failed for good, and API requests by route
// pattern — never by the path as sent.
func TestMetrics_DeliveriesAnswersAndRoutes(t *testing.T) {
	a := apptest.Start(t, apptest.Options{Worker: true, Schedule: webhooks.RetrySchedule{MaxRetries: 1, Window: 200 * time.Millisecond}})
	scrape := func() string { return string(a.Do(t, "GET", "/metrics", "", nil).Body) }
	before := scrape()
	orgID, key := a.Org(t, "Metered")
	ok := apptest.NewReceiver(t, apptest.Status(200))
	failing := apptest.NewReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Empfio-Event") == webhooks.WebhookPing {
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	})
	okID, _ := a.Webhook(t, key, ok.URL, webhooks.BookingRequested)
	a.Webhook(t, key, failing.URL, webhooks.BookingRequested)
	r := a.Do(t, "POST", "/api/v1/events", apptest.InternalToken, map[string]any{"event": webhooks.BookingRequested,
		"organization_id": orgID, "data": map[string]any{"lead_id": "l", "start_time": "2026-03-10T09:00:00Z"}})
	if r.Status != http.StatusAccepted {
		t.Fatalf("publish: %d", r.Status)
	}
	a.Do(t, "GET", "/api/v1/webhooks/"+okID, key, nil)
	a.Do(t, "GET", "/no/such/path/"+okID, key, nil)

	grew := func(series string, by float64) bool {
		return metric(scrape(), series)-max(metric(before, series), 0) >= by
	}
	testenv.Eventually(t, 10*time.Second, "a success, a retry and a failure counted", func() bool {
		return grew(`empfio_delivery_attempts_total{event_type="booking.requested",outcome="succeeded"}`, 1) &&
			grew(`empfio_delivery_attempts_total{event_type="booking.requested",outcome="retrying"}`, 1) &&
			grew(`empfio_deliveries_failed_total{event_type="booking.requested"}`, 1)
	})
	text := scrape()
	for _, series := range []string{`empfio_delivery_responses_total{class="2xx"}`, `empfio_delivery_responses_total{class="5xx"}`,
		`empfio_delivery_retries_scheduled_total`, `empfio_http_request_duration_seconds_count{method="GET",route="/api/v1/webhooks/:id",status="200"}`,
		`empfio_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}`, `go_goroutines`,
		`empfio_delivery_latency_seconds_count`, `empfio_ready{dependency="postgres"}`, `empfio_ready{dependency="redis"}`} {
		if metric(text, series) < 1 {
			t.Errorf("%s missing or zero in /metrics", series)
		}
	}
	if regexp.MustCompile(`route="[^"]*` + okID).MatchString(text) {
		t.Error("a route label carries an id as sent")
	}

	// The queue's tasks by state, from asynq's Inspector; the circuits, from Postgres.
	reg := prometheus.NewRegistry()
	if err := jobs.RegisterQueueMetrics(reg, a.Redis, "", a.DB); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]bool{}
	for _, f := range families {
		if f.GetName() == "empfio_circuits" || f.GetName() == "empfio_deliveries_held" {
			states[f.GetName()] = true
		}
		if f.GetName() == "empfio_queue_tasks" {
			for _, m := range f.GetMetric() {
				states[m.GetLabel()[0].GetValue()] = true
			}
		}
	}
	for _, s := range []string{"pending", "active", "scheduled", "retry", "archived", "empfio_circuits", "empfio_deliveries_held"} {
		if !states[s] {
			t.Errorf("empfio_queue_tasks{state=%q} missing", s)
		}
	}
}
