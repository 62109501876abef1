package http

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/userservice-dev/userservice-operator/internal/userservice/telemetry"
)

// Metrics holds the service's Prometheus collectors.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	series *telemetry.SeriesCache[seriesKey]

	handled atomic.Uint64
}

// seriesKey identifies one label combination.
type seriesKey struct {
	method, route string
	code          int
}

// NewMetrics registers the request metrics, Go runtime and process
// collectors, and any extra collectors (such as pool statistics).
func NewMetrics(extra ...prometheus.Collector) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests handled, by method, route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency, by method, route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route", "code"}),
	}
	m.series = telemetry.NewSeriesCache(m.resolve)
	m.registry.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(extra...)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Handled returns how many requests have been handled so far.
func (m *Metrics) Handled() uint64 {
	return m.handled.Load()
}

// observe records one request.
func (m *Metrics) observe(method, route string, code int, d time.Duration) {
	m.handled.Add(1)
	s := m.series.Get(seriesKey{method: metricMethod(method), route: route, code: code})
	s.Count.Inc()
	s.Duration.Observe(d.Seconds())
}

// metricMethod returns the method label: methods outside the standard set
// share "OTHER", so that clients cannot grow the cache or the series. It
// runs before the cache lookup, so that they hit the cache too.
func metricMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodPatch, http.MethodOptions:
		return method
	}
	return "OTHER"
}

// resolve looks up the series for k.
func (m *Metrics) resolve(k seriesKey) telemetry.Series {
	code := strconv.Itoa(k.code)
	return telemetry.Series{
		Count:    m.requests.WithLabelValues(k.method, k.route, code),
		Duration: m.duration.WithLabelValues(k.method, k.route, code),
	}
}
