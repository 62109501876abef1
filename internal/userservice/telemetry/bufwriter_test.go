package telemetry

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a goroutine-safe bytes.Buffer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns the contents.
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBufferedWriterKeepsEveryLineInOrder writes from many goroutines and
// checks that Close delivers every line, each goroutine's in order.
func TestBufferedWriterKeepsEveryLineInOrder(t *testing.T) {
	var out lockedBuffer
	w := NewBufferedWriter(&out, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				_, _ = fmt.Fprintf(w, "g%d %d %s\n", g, i, strings.Repeat("x", i%50))
			}
		})
	}
	wg.Wait()
	_ = w.Close()
	next := map[string]int{}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		var g string
		var i int
		if _, err := fmt.Sscanf(l, "%s %d", &g, &i); err != nil {
			t.Fatalf("garbled line %q", l)
		}
		if i != next[g] {
			t.Fatalf("%s: line %d came when %d was expected", g, i, next[g])
		}
		next[g]++
	}
	if len(lines) != 8*2000 {
		t.Fatalf("%d lines, want %d", len(lines), 8*2000)
	}
}

// TestBufferedWriterFlushesOnTimer checks that lines appear without Close.
func TestBufferedWriterFlushesOnTimer(t *testing.T) {
	var out lockedBuffer
	w := NewBufferedWriter(&out, 10*time.Millisecond)
	defer func() { _ = w.Close() }()
	_, _ = fmt.Fprintln(w, "hello")
	deadline := time.Now().Add(2 * time.Second)
	for out.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatal("line not flushed by the timer")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
