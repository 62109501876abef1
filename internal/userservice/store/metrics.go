package store

import "github.com/prometheus/client_golang/prometheus"

// storeCollector exports how well concurrent calls are being coalesced
// (calls divided by batches is the mean batch size) and how many calls
// failed because the database was away.
type storeCollector struct {
	s                     *Store
	batches, calls        *prometheus.Desc
	timeouts, unavailable *prometheus.Desc
}

// Collector returns a Prometheus collector for the store's batching and
// unavailability counts.
func (s *Store) Collector() prometheus.Collector {
	return &storeCollector{
		s: s,
		batches: prometheus.NewDesc("store_batches_total",
			"Statements run by the batching store, by operation.", []string{"op"}, nil),
		calls: prometheus.NewDesc("store_batched_calls_total",
			"Calls served by those statements, by operation.", []string{"op"}, nil),
		timeouts: prometheus.NewDesc("store_statement_timeouts_total",
			"Calls that failed because PostgreSQL cancelled their statement (statement_timeout, set by DB_STATEMENT_TIMEOUT, or lock_timeout).", nil, nil),
		unavailable: prometheus.NewDesc("store_unavailable_total",
			"Calls that failed because the database was unreachable, restarting or out of connections.", nil, nil),
	}
}

// Describe sends the descriptors.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.batches
	ch <- c.calls
	ch <- c.timeouts
	ch <- c.unavailable
}

// Collect sends the current counts.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	for op, b := range map[string]interface {
		counts() (uint64, uint64)
	}{"get": c.s.gets, "create": c.s.creates} {
		batches, calls := b.counts()
		ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(batches), op)
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(calls), op)
	}
	ch <- prometheus.MustNewConstMetric(c.timeouts, prometheus.CounterValue, float64(c.s.timeouts.Load()))
	ch <- prometheus.MustNewConstMetric(c.unavailable, prometheus.CounterValue, float64(c.s.unavailable.Load()))
}
