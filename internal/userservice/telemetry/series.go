package telemetry

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Series is the counter and the histogram of one label combination.
type Series struct {
	Count    prometheus.Counter
	Duration prometheus.Observer
}

// SeriesCache resolves each label combination (its key) to its Series
// once, so that the hot path of a request skips the label hashing of
// WithLabelValues. Keys must come from a bounded set.
type SeriesCache[K comparable] struct {
	resolve func(K) Series

	mu     sync.RWMutex
	series map[K]Series
}

// NewSeriesCache returns a cache that resolves keys with resolve.
func NewSeriesCache[K comparable](resolve func(K) Series) *SeriesCache[K] {
	return &SeriesCache[K]{resolve: resolve, series: make(map[K]Series)}
}

// Get returns the Series of k.
func (c *SeriesCache[K]) Get(k K) Series {
	c.mu.RLock()
	s, ok := c.series[k]
	c.mu.RUnlock()
	if ok {
		return s
	}
	s = c.resolve(k)
	c.mu.Lock()
	c.series[k] = s
	c.mu.Unlock()
	return s
}
