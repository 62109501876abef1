package telemetry

import (
	"context"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// QueryTracer makes one client span per pgx query.
type QueryTracer struct {
	tracer trace.Tracer
}

// NewQueryTracer returns a pgx tracer using the global tracer provider.
func NewQueryTracer() *QueryTracer {
	return &QueryTracer{tracer: otel.Tracer("github.com/userservice-dev/userservice-operator/internal/userservice/store")}
}

// TraceQueryStart opens a span named after the statement's first word.
func (t *QueryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	ctx, _ = t.tracer.Start(ctx, "db "+operation(data.SQL), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"),
			attribute.String("db.query.text", data.SQL)))
	return ctx
}

// TraceQueryEnd records the outcome and ends the span.
func (t *QueryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if data.Err != nil {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, "query failed")
	}
	span.SetAttributes(attribute.Int64("db.response.returned_rows", data.CommandTag.RowsAffected()))
	span.End()
}

// operation returns the first word of a SQL statement.
func operation(sql string) string {
	for i := 0; i < len(sql); i++ {
		if sql[i] == ' ' || sql[i] == '\n' {
			return sql[:i]
		}
	}
	return sql
}
