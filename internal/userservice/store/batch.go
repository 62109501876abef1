package store

import (
	"context"
	"errors"
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

// batcher coalesces concurrent calls into batches. Each caller queues its
// call, then either receives its result or takes one of a fixed number of
// runner slots and runs a batch itself: everything queued at that moment
// (up to max), its own call included. When the service is idle a call runs
// alone at once, so batching never adds latency; under load, calls that
// would have queued for a connection share one statement instead. Running
// the batch on a caller's goroutine, rather than handing it to a worker,
// saves a goroutine wake-up per batch.
type batcher[K, V any] struct {
	ctx   context.Context // lifetime of the store: batches run under it
	queue chan *call[K, V]
	slots chan struct{}
	max   int
	run   func(ctx context.Context, batch []*call[K, V])
	calls sync.Pool
	bufs  sync.Pool

	batches, served atomic.Uint64 // statistics for metrics
}

// newBatcher returns a batcher that runs at most runners batches at once,
// each of at most max calls, with run.
func newBatcher[K, V any](ctx context.Context, runners, max int, run func(context.Context, []*call[K, V])) *batcher[K, V] {
	b := &batcher[K, V]{ctx: ctx, queue: make(chan *call[K, V], 4096), slots: make(chan struct{}, runners), max: max, run: run}
	b.calls.New = func() any { return &call[K, V]{done: make(chan struct{}, 1)} }
	b.bufs.New = func() any { s := make([]*call[K, V], 0, max); return &s }
	return b
}

// do queues key and waits for its result, running batches while a runner
// slot is free, or until ctx ends.
func (b *batcher[K, V]) do(ctx context.Context, key K) (V, error) {
	c := b.calls.Get().(*call[K, V])
	c.ctx, c.key = ctx, key
	var zero V
	select {
	case b.queue <- c:
	case <-ctx.Done():
		b.calls.Put(c)
		return zero, ctx.Err()
	}
	for {
		select {
		case <-c.done:
			v, err := c.val, c.err
			*c = call[K, V]{done: c.done}
			b.calls.Put(c)
			return v, err
		case b.slots <- struct{}{}:
			if b.runWithSlot() == 0 {
				// The queue was empty, so another runner holds c: wait
				// for it instead of spinning on the slots.
				return b.wait(ctx, c)
			}
		case <-ctx.Done():
			// A runner still owns c and will signal done into its
			// buffer; c is dropped instead of being reused.
			return zero, ctx.Err()
		}
	}
}

// wait blocks until c is done or ctx ends.
func (b *batcher[K, V]) wait(ctx context.Context, c *call[K, V]) (V, error) {
	select {
	case <-c.done:
		v, err := c.val, c.err
		*c = call[K, V]{done: c.done}
		b.calls.Put(c)
		return v, err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// runWithSlot runs the queued calls while holding the runner slot taken
// by the caller, and gives the slot back even if the batch panics.
func (b *batcher[K, V]) runWithSlot() int {
	defer func() { <-b.slots }()
	return b.runQueued()
}

// runQueued takes every call queued right now (up to max), runs them as
// one batch and returns how many it took.
func (b *batcher[K, V]) runQueued() int {
	bp := b.bufs.Get().(*[]*call[K, V])
	batch := (*bp)[:0]
drain:
	for len(batch) < b.max {
		select {
		case c := <-b.queue:
			batch = append(batch, c)
		default:
			break drain
		}
	}
	if len(batch) > 0 {
		b.runLive(batch)
	}
	n := len(batch)
	clear(batch)
	*bp = batch[:0]
	b.bufs.Put(bp)
	return n
}

// errBatchPanicked is the result of every call of a batch that panicked;
// the panic itself goes on up the runner's goroutine.
var errBatchPanicked = errors.New("the batched statement this call shared panicked")

// runLive drops calls whose caller has gone away, runs the rest, and wakes
// every caller, even when run panics.
func (b *batcher[K, V]) runLive(batch []*call[K, V]) {
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
	live := batch[:n]
	if n == 0 {
		return
	}
	b.batches.Add(1)
	b.served.Add(uint64(n))
	runCtx, release := callersContext(b.ctx, live)
	// The batch's database span becomes a child of the first caller's span.
	runCtx = trace.ContextWithSpanContext(runCtx, trace.SpanContextFromContext(live[0].ctx))
	finished := false
	defer func() {
		release()
		for _, c := range live {
			if !finished {
				c.err = errBatchPanicked
			}
			c.done <- struct{}{}
		}
	}()
	b.run(runCtx, live)
	finished = true
}

// callersContext returns a context derived from ctx that is cancelled as
// soon as every caller in live has gone away, so that a batch nobody waits
// for any more stops holding its connection. A caller waiting for the batch
// returns ctx.Err() as soon as its own context ends; the caller running it
// (the runner) returns when the batch ends, which is at once if every other
// caller has gone too. release must be called when the batch is done.
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

// counts returns how many batches ran and how many calls they served.
func (b *batcher[K, V]) counts() (batches, calls uint64) {
	return b.batches.Load(), b.served.Load()
}
