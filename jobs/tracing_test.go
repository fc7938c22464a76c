package jobs_test

import (
	"net/http"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// One trace runs from the inbound request (continuing the caller's
// traceparent) through the publish to each delivery attempt, carried in the
// task.
func TestTracing_OneTraceFromRequestToAttempts(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Traced")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, webhooks.LeadCreated)
	a.Webhook(t, key, recv.URL+"/second", webhooks.LeadCreated)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := a.DoWith(t, "POST", "/api/v1/webhooks/agent-event",
		`{"type":"new_lead","organization_id":"`+orgID+`","data":{"id":"l1","channel":"web"}}`,
		map[string]string{"Authorization": "Bearer " + apptest.InternalToken, "Content-Type": "application/json",
			"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	testenv.Eventually(t, 10*time.Second, "both deliveries' attempts are traced", func() bool {
		n := 0
		for _, s := range spans.Ended() {
			if s.Name() == "deliver lead.created" {
				n++
			}
		}
		return n == 2
	})
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			byName[s.Name()] = append(byName[s.Name()], s)
		}
	}
	request, publish, deliver := byName["POST /api/v1/webhooks/agent-event"], byName["publish lead.created"], byName["deliver lead.created"]
	if len(request) != 1 || len(publish) != 1 || len(deliver) != 2 {
		t.Fatalf("spans of the caller's trace: %d request, %d publish, %d deliver (all: %v)", len(request), len(publish), len(deliver), names(spans.Ended()))
	}
	if publish[0].Parent().SpanID() != request[0].SpanContext().SpanID() {
		t.Error("the publish is not a child of the request")
	}
	for _, d := range deliver {
		if d.Parent().SpanID() != publish[0].SpanContext().SpanID() {
			t.Error("an attempt is not a child of the publish")
		}
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name()+"@"+s.SpanContext().TraceID().String()[:8])
	}
	return out
}
