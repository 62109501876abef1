package http

import (
	"testing"
	"time"
)

// TestObserveCachesNonStandardMethods checks that requests with methods
// outside the standard set share the "OTHER" series and, once it is
// cached, record without resolving it again (which allocates and takes
// the write lock).
func TestObserveCachesNonStandardMethods(t *testing.T) {
	m := NewMetrics()
	for _, method := range []string{"GET", "BREW", "PROPFIND"} {
		m.observe(method, "unmatched", 405, time.Millisecond)
	}
	for _, method := range []string{"GET", "BREW"} {
		if allocs := testing.AllocsPerRun(100, func() { m.observe(method, "unmatched", 405, time.Millisecond) }); allocs != 0 {
			t.Errorf("observing a cached %s request allocated %.0f times, want 0", method, allocs)
		}
	}
	got := requestCounts(t, m)
	if got["GET"] != 102 || got["OTHER"] != 103 || len(got) != 2 {
		t.Fatalf("http_requests_total by method: %v, want GET 102 and OTHER 103", got)
	}
}

// requestCounts returns http_requests_total by method label.
func requestCounts(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "http_requests_total" {
			continue
		}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "method" {
					counts[l.GetValue()] += metric.GetCounter().GetValue()
				}
			}
		}
	}
	return counts
}
