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
	last, released := activity(), activity()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := activity()
		if now == last && now != released {
			debug.FreeOSMemory()
			released = now
		}
		last = now
	}
}
