package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/empfio/webhooks/telemetry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"
)

// Off without OTEL_EXPORTER_OTLP_ENDPOINT; with it, spans reach the OTLP/HTTP
// endpoint (a local receiver) by the time Setup's shutdown returns.
func TestSetup_ExportsOnlyWhenAsked(t *testing.T) {
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(collector.Close)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	stop, err := telemetry.Setup(context.Background(), "test")
	if err != nil || telemetry.Enabled() {
		t.Fatalf("without an endpoint: enabled %v, %v", telemetry.Enabled(), err)
	}
	_, span := telemetry.Tracer.Start(context.Background(), "unexported")
	span.End()
	stop(context.Background())

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	stop, err = telemetry.Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := telemetry.Tracer.Start(context.Background(), "exported")
	if tp := telemetry.Inject(ctx); len(tp) != 55 {
		t.Errorf("traceparent %q", tp)
	}
	span.End()
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 {
		t.Fatal("no span reached the OTLP endpoint")
	}
	if posts.Load() > 1 {
		t.Fatalf("%d exports for one span", posts.Load())
	}
}

func TestInjectExtract_RoundTrip(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := telemetry.Extract(context.Background(), tp)
	if got := telemetry.Inject(ctx); got != tp {
		t.Fatalf("round trip: %q", got)
	}
	if telemetry.Inject(context.Background()) != "" || telemetry.Extract(context.Background(), "") == nil {
		t.Fatal("an empty context carries nothing")
	}
}
