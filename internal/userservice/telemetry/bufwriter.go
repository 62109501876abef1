package telemetry

import (
	"io"
	"sync"
	"time"
)

// maxBuffered is the size at which a BufferedWriter flushes at once
// instead of waiting for its timer.
const maxBuffered = 64 << 10

// BufferedWriter collects log lines in memory and writes them to the
// underlying writer every interval, or as soon as maxBuffered bytes are
// waiting. It turns one write system call per request into one per
// interval, which was the largest single cost of access logging under
// load. Lines stay in order; Close flushes what is left.
type BufferedWriter struct {
	mu  sync.Mutex // guards buf
	buf []byte

	out   sync.Mutex // serialises writes to w, keeping lines in order
	w     io.Writer
	spare []byte

	stop chan struct{}
	done chan struct{}
}

// NewBufferedWriter starts a BufferedWriter that flushes to w every interval.
func NewBufferedWriter(w io.Writer, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{w: w, buf: make([]byte, 0, maxBuffered), spare: make([]byte, 0, maxBuffered),
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(interval)
	return b
}

// Write appends p (one log record) to the buffer.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= maxBuffered
	b.mu.Unlock()
	if full {
		b.Flush()
	}
	return len(p), nil
}

// Flush writes everything buffered so far.
func (b *BufferedWriter) Flush() {
	b.out.Lock()
	defer b.out.Unlock()
	b.mu.Lock()
	pending := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	if len(pending) > 0 {
		_, _ = b.w.Write(pending)
	}
	b.spare = pending[:0]
}

// loop flushes every interval until Close.
func (b *BufferedWriter) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush()
		case <-b.stop:
			b.Flush()
			return
		}
	}
}

// Close stops the timer and flushes the remaining lines.
func (b *BufferedWriter) Close() error {
	close(b.stop)
	<-b.done
	return nil
}
