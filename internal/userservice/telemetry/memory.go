package telemetry

import (
	"context"
	"runtime/debug"
	"time"
)

// ReleaseMemoryWhenIdle returns freed heap memory to the operating system
// once the service has gone quiet after a burst. activity returns a counter
// that grows with every request; when it has not moved for one interval
// (and has moved since the last release), debug.FreeOSMemory runs. Without
// this the Go runtime hands memory back only gradually, and an idle replica
// keeps its peak RSS for minutes after a load spike.
func ReleaseMemoryWhenIdle(ctx context.Context, activity func() uint64, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	r := newIdleDetector(activity())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if r.tick(activity()) {
				debug.FreeOSMemory()
			}
		}
	}
}

// idleDetector decides, tick by tick, when a burst of activity has ended.
type idleDetector struct {
	last, released uint64
}

// newIdleDetector starts with the current activity count, treated as
// already released.
func newIdleDetector(now uint64) *idleDetector {
	return &idleDetector{last: now, released: now}
}

// tick takes the activity count at a tick and reports whether memory
// should be released now: the count has not moved since the previous tick
// but has moved since the last release.
func (d *idleDetector) tick(now uint64) bool {
	release := now == d.last && now != d.released
	if release {
		d.released = now
	}
	d.last = now
	return release
}
