package jobs_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	webhooks "github.com/empfio/webhooks"
	"github.com/empfio/webhooks/internal/testing/apptest"
	"github.com/empfio/webhooks/internal/testing/testenv"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// spans records every span of this test binary: OpenTelemetry's global
// provider can be set, but tracers made before it was first set (the
// service's: telemetry.Tracer) keep the first one, so it is set once, and
// each test reads the spans of its own trace.
var (
	spans        = tracetest.NewSpanRecorder()
	tracingSetUp sync.Once
)

func recordSpans() {
	tracingSetUp.Do(func() {
		otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
		otel.SetTextMapPropagator(propagation.TraceContext{})
	})
}

// postTracedLead sends an agent event of orgID in the trace traceID (as a
// caller's traceparent).
func postTracedLead(t *testing.T, a *apptest.App, orgID, traceID string) {
	t.Helper()
	r := a.DoWith(t, "POST", "/api/v1/webhooks/agent-event",
		`{"type":"new_lead","organization_id":"`+orgID+`","data":{"id":"l1","channel":"web"}}`,
		map[string]string{"Authorization": "Bearer " + apptest.InternalToken, "Content-Type": "application/json",
			"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"})
	if r.Status != http.StatusAccepted {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}

// spansOf returns the ended spans of trace traceID.
func spansOf(traceID string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.SpanContext().TraceID().String() == traceID {
			out = append(out, s)
		}
	}
	return out
}

// One trace runs from the inbound request (continuing the caller's
// traceparent) through the publish to each delivery attempt, carried in the
// task.
func TestTracing_OneTraceFromRequestToAttempts(t *testing.T) {
	recordSpans()

	a := apptest.Start(t, apptest.Options{Worker: true})
	orgID, key := a.Org(t, "Traced")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, webhooks.LeadCreated)
	a.Webhook(t, key, recv.URL+"/second", webhooks.LeadCreated)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	postTracedLead(t, a, orgID, traceID)
	testenv.Eventually(t, 10*time.Second, "both deliveries' attempts are traced", func() bool {
		n := 0
		for _, s := range spansOf(traceID) {
			if s.Name() == "deliver lead.created" {
				n++
			}
		}
		return n == 2
	})
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spansOf(traceID) {
		byName[s.Name()] = append(byName[s.Name()], s)
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

// With tracing on, the trace of one agent event goes into its dependencies:
// the Postgres statements and Redis commands made for it are spans under its
// request and under its attempt; lines logged inside a span carry trace_id
// and span_id; health, readiness and metrics make no span. The tree is
// printed (go test -v) for the record.
func TestTracing_IntoPostgresAndRedis(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9") // on; the test's provider replaces the exporter
	recordSpans()

	logs := &apptest.LogBuffer{}
	a := apptest.Start(t, apptest.Options{Worker: true, Tracing: true, LogOutput: logs, LogInfo: true})
	orgID, key := a.Org(t, "Traced deeply")
	recv := apptest.NewReceiver(t, apptest.Status(200))
	a.Webhook(t, key, recv.URL, webhooks.LeadCreated)
	const traceID = "5cf92f3577b34da6a3ce929d0e0e4737"
	postTracedLead(t, a, orgID, traceID)
	testenv.Eventually(t, 10*time.Second, "the attempt is traced", func() bool {
		for _, s := range spansOf(traceID) {
			if s.Name() == "deliver lead.created" {
				return true
			}
		}
		return false
	})
	trace := spansOf(traceID)
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range trace {
		byID[s.SpanContext().SpanID().String()] = s
	}
	// under reports whether s has an ancestor named name.
	under := func(s sdktrace.ReadOnlySpan, name string) bool {
		for p, ok := byID[s.Parent().SpanID().String()]; ok; p, ok = byID[p.Parent().SpanID().String()] {
			if p.Name() == name {
				return true
			}
		}
		return false
	}
	var pgInRequest, pgInAttempt, redisInRequest int
	for _, s := range trace {
		pg := s.InstrumentationScope().Name == "github.com/exaring/otelpgx"
		rd := strings.Contains(s.InstrumentationScope().Name, "redisotel")
		switch {
		case pg && under(s, "deliver lead.created"):
			pgInAttempt++
		case pg && under(s, "POST /api/v1/webhooks/agent-event"):
			pgInRequest++
		case rd && under(s, "POST /api/v1/webhooks/agent-event"):
			redisInRequest++
		}
	}
	t.Logf("the trace of one agent event:\n%s", tree(trace))
	if pgInRequest == 0 || pgInAttempt == 0 || redisInRequest == 0 {
		t.Fatalf("Postgres spans under the request %d, under the attempt %d; Redis spans under the request %d", pgInRequest, pgInAttempt, redisInRequest)
	}
	if !strings.Contains(logs.String(), "trace_id="+traceID) {
		t.Error("no log line carries the trace's id")
	}

	before := len(spans.Ended())
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		a.Do(t, "GET", path, "", nil)
	}
	for _, s := range spans.Ended()[before:] {
		if s.SpanKind() == oteltrace.SpanKindServer {
			t.Errorf("a probe made the server span %q", s.Name())
		}
	}
}

// tree renders spans as an indented tree, children in start order.
func tree(spans []sdktrace.ReadOnlySpan) string {
	children := map[string][]sdktrace.ReadOnlySpan{}
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID().String()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if p := s.Parent().SpanID().String(); ids[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	var b strings.Builder
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		fmt.Fprintf(&b, "%s%s (%s)\n", strings.Repeat("  ", depth), s.Name(), s.EndTime().Sub(s.StartTime()).Round(10*time.Microsecond))
		kids := children[s.SpanContext().SpanID().String()]
		sort.Slice(kids, func(i, j int) bool { return kids[i].StartTime().Before(kids[j].StartTime()) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
