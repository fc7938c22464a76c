// Package telemetry is the service's OpenTelemetry tracing: one trace from an
// inbound request through its transaction and enqueue to each delivery
// attempt, the trace context carried in the task. It is off — every span a
// no-op — unless OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; the OTLP/HTTP exporter reads the
// other standard OTEL_* variables itself (headers, timeout, compression).
// Traces never leave for receivers: deliveries carry no trace header.
package telemetry

import (
	"context"
	"os"

	webhooks "github.com/empfio/webhooks"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracer makes the service's spans; it follows the global provider Setup sets.
var Tracer = otel.Tracer("github.com/empfio/webhooks")

// propagator carries trace context in W3C traceparent/tracestate form: in the
// requests the api receives, and in the tasks.
var propagator = propagation.TraceContext{}

// Enabled reports whether the environment asks for traces.
func Enabled() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the OTLP/HTTP exporter as the global tracer provider for
// service (OTEL_SERVICE_NAME, when set, names it instead) when Enabled, and returns what flushes and stops it (a no-op when
// off).
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	if !Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	attrs := []attribute.KeyValue{attribute.String("service.version", webhooks.Version())}
	if os.Getenv("OTEL_SERVICE_NAME") == "" { // the operator's name wins (resource.Default reads it)
		attrs = append(attrs, attribute.String("service.name", service))
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Inject returns the trace context of ctx as a traceparent value, "" when ctx
// carries no recording span.
func Inject(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// Extract returns ctx carrying the trace context of traceparent (as Inject
// made it); ctx itself when there is none.
func Extract(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// FromHeaders returns ctx carrying the trace context of an incoming request's
// headers, read with get.
func FromHeaders(ctx context.Context, get func(string) string) context.Context {
	return propagator.Extract(ctx, headerCarrier(get))
}

type headerCarrier func(string) string

func (h headerCarrier) Get(key string) string { return h(key) }
func (headerCarrier) Set(string, string)      {}
func (headerCarrier) Keys() []string          { return []string{"traceparent", "tracestate"} }
