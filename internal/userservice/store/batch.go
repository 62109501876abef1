package store

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// call is one caller's request waiting in a batcher.
type call[K, V any] struct {
	ctx  context.Context
	key  K
	val  V
	err  error
	done chan struct{}
}

// batcher coalesces concurrent calls into batches. A fixed set of workers
// each takes the next waiting call and, without waiting, every other call
// already queued (up to max), then runs them as one batch. When the
// service is idle a call runs alone at once, so batching never adds
// latency; under load, calls that would have queued for a connection share
// one query instead.
type batcher[K, V any] struct {
	queue chan *call[K, V]
	max   int
	run   func(ctx context.Context, batch []*call[K, V])
	pool  sync.Pool
	wg    sync.WaitGroup

	batches, calls atomic.Uint64 // statistics for metrics
}

// newBatcher starts workers goroutines that run batches of up to max calls
// with run until ctx is cancelled.
func newBatcher[K, V any](ctx context.Context, workers, max int, run func(context.Context, []*call[K, V])) *batcher[K, V] {
	b := &batcher[K, V]{queue: make(chan *call[K, V], 4096), max: max, run: run}
	b.pool.New = func() any { return &call[K, V]{done: make(chan struct{}, 1)} }
	for range workers {
		b.wg.Add(1)
		go b.work(ctx)
	}
	return b
}

// do queues key and waits for its result or for ctx to end.
func (b *batcher[K, V]) do(ctx context.Context, key K) (V, error) {
	c := b.pool.Get().(*call[K, V])
	c.ctx, c.key = ctx, key
	var zero V
	select {
	case b.queue <- c:
	case <-ctx.Done():
		b.pool.Put(c)
		return zero, ctx.Err()
	}
	select {
	case <-c.done:
		v, err := c.val, c.err
		*c = call[K, V]{done: c.done}
		b.pool.Put(c)
		return v, err
	case <-ctx.Done():
		// The worker still owns c and will signal done into its buffer;
		// c is dropped instead of being reused.
		return zero, ctx.Err()
	}
}

// work runs batches until ctx ends.
func (b *batcher[K, V]) work(ctx context.Context) {
	defer b.wg.Done()
	batch := make([]*call[K, V], 0, b.max)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-b.queue:
			batch = append(batch[:0], c)
		}
	drain:
		for len(batch) < b.max {
			select {
			case c := <-b.queue:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		b.runLive(ctx, batch)
		clear(batch)
	}
}

// runLive drops calls whose caller has gone away, runs the rest, and wakes
// every caller.
func (b *batcher[K, V]) runLive(ctx context.Context, batch []*call[K, V]) {
	live := batch[:0:0]
	n := 0
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			c.done <- struct{}{}
			continue
		}
		batch[n] = c
		n++
	}
	live = batch[:n]
	if n == 0 {
		return
	}
	b.batches.Add(1)
	b.calls.Add(uint64(n))
	runCtx, release := callersContext(ctx, live)
	// The batch's database span becomes a child of the first caller's span.
	runCtx = trace.ContextWithSpanContext(runCtx, trace.SpanContextFromContext(live[0].ctx))
	b.run(runCtx, live)
	release()
	for _, c := range live {
		c.done <- struct{}{}
	}
}

// callersContext returns a context derived from ctx that is cancelled as
// soon as every caller in live has gone away, so that a batch nobody waits
// for any more stops holding its connection. release must be called when
// the batch is done.
func callersContext[K, V any](ctx context.Context, live []*call[K, V]) (_ context.Context, release func()) {
	ctx, cancel := context.WithCancel(ctx)
	var remaining atomic.Int64
	remaining.Store(int64(len(live)))
	left := func() {
		if remaining.Add(-1) == 0 {
			cancel()
		}
	}
	stops := make([]func() bool, len(live))
	for i, c := range live {
		stops[i] = context.AfterFunc(c.ctx, left)
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// wait blocks until every worker has stopped.
func (b *batcher[K, V]) wait() {
	b.wg.Wait()
}

// counts returns how many batches ran and how many calls they served.
func (b *batcher[K, V]) counts() (batches, calls uint64) {
	return b.batches.Load(), b.calls.Load()
}
