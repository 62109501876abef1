package telemetry

import "testing"

// TestIdleDetector checks that release happens once after activity stops,
// never while requests keep coming, and not again until new activity.
func TestIdleDetector(t *testing.T) {
	d := newIdleDetector(10)
	steps := []struct {
		count uint64
		want  bool
		when  string
	}{
		{10, false, "idle since start"},
		{15, false, "under load"},
		{20, false, "under load"},
		{20, true, "first quiet tick after the burst"},
		{20, false, "still idle"},
		{21, false, "new activity"},
		{21, true, "quiet again"},
		{21, false, "released already"},
	}
	for i, s := range steps {
		if got := d.tick(s.count); got != s.want {
			t.Fatalf("step %d (%s): release %v, want %v", i, s.when, got, s.want)
		}
	}
}
