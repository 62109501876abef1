// Package telemetry sets up the user service's logs, tracing and pool
// metrics.
package telemetry

import (
	"context"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// NewLogger returns a JSON slog logger at level (debug, info, warn, error).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // config.Load has validated level
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// SetupTracing installs an OTLP/HTTP (JSON) trace exporter for endpoint as
// the global tracer provider, with W3C trace-context and baggage
// propagation. The returned function flushes and stops it.
func SetupTracing(_ context.Context, endpoint, version string) (func(context.Context) error, error) {
	exp, err := NewOTLPExporter(endpoint)
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "user-service"),
		attribute.String("service.version", version),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	return tp.Shutdown, nil
}

// poolCollector exports pgxpool statistics.
type poolCollector struct {
	pool                                              *pgxpool.Pool
	total, idle, acquired, constructing, max          *prometheus.Desc
	acquires, emptyAcquires, canceledAcquires, waitNS *prometheus.Desc
	emptyWait                                         *prometheus.Desc
}

// NewPoolCollector returns a Prometheus collector for pool's statistics.
func NewPoolCollector(pool *pgxpool.Pool) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:             pool,
		total:            d("connections", "Open connections in the pool."),
		idle:             d("idle_connections", "Idle connections in the pool."),
		acquired:         d("acquired_connections", "Connections currently in use."),
		constructing:     d("constructing_connections", "Connections being opened."),
		max:              d("max_connections", "Maximum pool size."),
		acquires:         d("acquires_total", "Successful connection acquisitions."),
		emptyAcquires:    d("empty_acquires_total", "Acquisitions that had to wait for a connection."),
		canceledAcquires: d("canceled_acquires_total", "Acquisitions cancelled by their context."),
		waitNS:           d("acquire_wait_seconds_total", "Time spent acquiring connections, including opening new ones."),
		emptyWait: d("empty_acquire_wait_seconds_total",
			"Time requests spent waiting because no connection was idle: its rate is how many requests queue for the pool on average."),
	}
}

// Describe sends the collector's descriptors.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.constructing, c.max,
		c.acquires, c.emptyAcquires, c.canceledAcquires, c.waitNS, c.emptyWait} {
		ch <- d
	}
}

// Collect reads the pool's statistics once and sends them.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.total, float64(s.TotalConns()))
	g(c.idle, float64(s.IdleConns()))
	g(c.acquired, float64(s.AcquiredConns()))
	g(c.constructing, float64(s.ConstructingConns()))
	g(c.max, float64(s.MaxConns()))
	n(c.acquires, float64(s.AcquireCount()))
	n(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	n(c.canceledAcquires, float64(s.CanceledAcquireCount()))
	n(c.waitNS, s.AcquireDuration().Seconds())
	n(c.emptyWait, s.EmptyAcquireWaitTime().Seconds())
}
