package rpc

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/userservice-dev/userservice-operator/internal/userservice/telemetry"
)

// Metrics counts RPCs under the names of go-grpc-middleware's Prometheus
// provider, so that existing gRPC dashboards work:
// grpc_server_handled_total{grpc_type, grpc_service, grpc_method,
// grpc_code} and grpc_server_handling_seconds{grpc_type, grpc_service,
// grpc_method}. It is a connect.Interceptor and a prometheus.Collector.
type Metrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec

	series *telemetry.SeriesCache[rpcKey]

	count atomic.Uint64
}

// rpcKey identifies one label combination. Only registered procedures
// reach the interceptor, so there are few.
type rpcKey struct {
	procedure string
	stream    connect.StreamType
	code      connect.Code
}

// NewMetrics returns unregistered RPC metrics; pass them to the registry
// (http.NewMetrics takes extra collectors) and to Options.
func NewMetrics() *Metrics {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total",
			Help: "RPCs completed on the server, by type, service, method and gRPC status code.",
		}, []string{"grpc_type", "grpc_service", "grpc_method", "grpc_code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "grpc_server_handling_seconds",
			Help:    "RPC latency on the server, by type, service and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"grpc_type", "grpc_service", "grpc_method"}),
	}
	m.series = telemetry.NewSeriesCache(m.resolve)
	return m
}

// Describe sends the metrics' descriptors.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.handled.Describe(ch)
	m.duration.Describe(ch)
}

// Collect sends the metrics.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.handled.Collect(ch)
	m.duration.Collect(ch)
}

// Handled returns how many RPCs have completed so far.
func (m *Metrics) Handled() uint64 {
	return m.count.Load()
}

// WrapUnary records a unary RPC.
func (m *Metrics) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		m.observe(req.Spec(), err, time.Since(start))
		return resp, err
	}
}

// WrapStreamingClient leaves clients alone: the service makes no calls.
func (m *Metrics) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler records a streaming RPC (reflection) when it ends.
func (m *Metrics) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		err := next(ctx, conn)
		m.observe(conn.Spec(), err, time.Since(start))
		return err
	}
}

// observe records one RPC that ended with err.
func (m *Metrics) observe(spec connect.Spec, err error, d time.Duration) {
	m.count.Add(1)
	s := m.series.Get(rpcKey{procedure: spec.Procedure, stream: spec.StreamType, code: codeOf(err)})
	s.Count.Inc()
	s.Duration.Observe(d.Seconds())
}

// resolve looks up the series for k.
func (m *Metrics) resolve(k rpcKey) telemetry.Series {
	service, method := splitProcedure(k.procedure)
	typ := streamTypes[k.stream]
	return telemetry.Series{
		Count:    m.handled.WithLabelValues(typ, service, method, codeNames[k.code]),
		Duration: m.duration.WithLabelValues(typ, service, method),
	}
}

// codeOf returns the gRPC code of an RPC's error: 0 (OK) for none, and
// Unknown for an error that is not a *connect.Error, as Connect sends it.
func codeOf(err error) connect.Code {
	if err == nil {
		return 0
	}
	if cerr, ok := errors.AsType[*connect.Error](err); ok {
		return cerr.Code()
	}
	return connect.CodeUnknown
}

// splitProcedure splits "/pkg.Service/Method" into service and method.
func splitProcedure(p string) (service, method string) {
	service, method, _ = strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return service, method
}

// streamTypes are the grpc_type label values.
var streamTypes = map[connect.StreamType]string{
	connect.StreamTypeUnary:  "unary",
	connect.StreamTypeClient: "client_stream",
	connect.StreamTypeServer: "server_stream",
	connect.StreamTypeBidi:   "bidi_stream",
}

// codeNames are the grpc_code label values: gRPC's names for its codes,
// as google.golang.org/grpc/codes prints them.
var codeNames = map[connect.Code]string{
	0:                              "OK",
	connect.CodeCanceled:           "Canceled",
	connect.CodeUnknown:            "Unknown",
	connect.CodeInvalidArgument:    "InvalidArgument",
	connect.CodeDeadlineExceeded:   "DeadlineExceeded",
	connect.CodeNotFound:           "NotFound",
	connect.CodeAlreadyExists:      "AlreadyExists",
	connect.CodePermissionDenied:   "PermissionDenied",
	connect.CodeResourceExhausted:  "ResourceExhausted",
	connect.CodeFailedPrecondition: "FailedPrecondition",
	connect.CodeAborted:            "Aborted",
	connect.CodeOutOfRange:         "OutOfRange",
	connect.CodeUnimplemented:      "Unimplemented",
	connect.CodeInternal:           "Internal",
	connect.CodeUnavailable:        "Unavailable",
	connect.CodeDataLoss:           "DataLoss",
	connect.CodeUnauthenticated:    "Unauthenticated",
}
