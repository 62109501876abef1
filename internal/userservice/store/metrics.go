package store

import "github.com/prometheus/client_golang/prometheus"

// batchCollector exports how well concurrent calls are being coalesced:
// calls divided by batches is the mean batch size.
type batchCollector struct {
	s              *Store
	batches, calls *prometheus.Desc
}

// Collector returns a Prometheus collector for the store's batching.
func (s *Store) Collector() prometheus.Collector {
	return &batchCollector{
		s: s,
		batches: prometheus.NewDesc("store_batches_total",
			"Statements run by the batching store, by operation.", []string{"op"}, nil),
		calls: prometheus.NewDesc("store_batched_calls_total",
			"Calls served by those statements, by operation.", []string{"op"}, nil),
	}
}

// Describe sends the descriptors.
func (c *batchCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.batches
	ch <- c.calls
}

// Collect sends the current counts.
func (c *batchCollector) Collect(ch chan<- prometheus.Metric) {
	for op, b := range map[string]interface {
		counts() (uint64, uint64)
	}{"get": c.s.gets, "create": c.s.creates} {
		batches, calls := b.counts()
		ch <- prometheus.MustNewConstMetric(c.batches, prometheus.CounterValue, float64(batches), op)
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(calls), op)
	}
}
