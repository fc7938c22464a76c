package telemetry

import (
	"context"
	"log/slog"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// PgxTracer returns the tracer that makes a span of every Postgres query,
// under the span of what sent it (the maintained otelpgx), or nil when
// tracing is off: then pgx calls nothing per query.
func PgxTracer() pgx.QueryTracer {
	if !Enabled() {
		return nil
	}
	return otelpgx.NewTracer() // span names trimmed to the statement's verb
}

// InstrumentRedis makes rdb trace every command and pipeline (go-redis's own
// redisotel hooks) when tracing is on.
func InstrumentRedis(rdb redis.UniversalClient) error {
	if !Enabled() {
		return nil
	}
	return redisotel.InstrumentTracing(rdb)
}

// LogHandler wraps h so that a line logged inside a span (slog's …Context
// methods with the span's context) carries its trace_id and span_id: a log
// line leads to its trace, and back.
func LogHandler(h slog.Handler) slog.Handler { return spanHandler{h} }

type spanHandler struct{ slog.Handler }

func (h spanHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h spanHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return spanHandler{h.Handler.WithAttrs(attrs)}
}

func (h spanHandler) WithGroup(name string) slog.Handler {
	return spanHandler{h.Handler.WithGroup(name)}
}
