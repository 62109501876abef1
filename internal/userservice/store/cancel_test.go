package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// lookupTracer is a pgx.QueryTracer that reports when each lookup
// statement starts and how it ends.
type lookupTracer struct {
	starts chan struct{}
	ends   chan error
}

// lookupKey marks, in a query's context, that the query is a lookup.
type lookupKey struct{}

// TraceQueryStart reports lookups and marks their context.
func (lt *lookupTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if d.SQL != getUserSQL && d.SQL != getUsersSQL {
		return ctx
	}
	lt.starts <- struct{}{}
	return context.WithValue(ctx, lookupKey{}, true)
}

// TraceQueryEnd reports how a lookup ended.
func (lt *lookupTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	if ctx.Value(lookupKey{}) != nil {
		lt.ends <- d.Err
	}
}

// cancelFixture is a Store with one lookup worker over a traced pool, and
// a separate connection that can lock the users table.
type cancelFixture struct {
	store  *Store
	tracer *lookupTracer
	locker *pgx.Conn
	lockTx pgx.Tx
}

// newCancelFixture migrates a fresh database and opens the fixture.
func newCancelFixture(t *testing.T) *cancelFixture {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	plain, err := NewPool(ctx, url, PoolOptions{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(ctx, plain, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	plain.Close()
	tr := &lookupTracer{starts: make(chan struct{}, 16), ends: make(chan error, 16)}
	pool, err := NewPool(ctx, url, PoolOptions{MaxConns: 4, Tracer: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := Open(pool, Workers{Get: 1, Create: 1})
	t.Cleanup(s.Close)
	locker, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = locker.Close(context.Background()) })
	return &cancelFixture{store: s, tracer: tr, locker: locker}
}

// lock makes every lookup block until unlock.
func (f *cancelFixture) lock(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	tx, err := f.locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	f.lockTx = tx
}

// unlock releases the table lock.
func (f *cancelFixture) unlock(t *testing.T) {
	t.Helper()
	if err := f.lockTx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// get looks up id with ctx in the background and delivers the error.
func (f *cancelFixture) get(ctx context.Context, id int64) chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := f.store.GetUser(ctx, id)
		errc <- err
	}()
	return errc
}

// waitStart waits for a lookup statement to start.
func (f *cancelFixture) waitStart(t *testing.T) {
	t.Helper()
	select {
	case <-f.tracer.starts:
	case <-time.After(time.Minute):
		t.Fatal("no lookup statement started")
	}
}

// waitEnd waits for a lookup statement to end and returns its error.
func (f *cancelFixture) waitEnd(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.tracer.ends:
		return err
	case <-time.After(time.Minute):
		t.Fatal("no lookup statement ended")
		return nil
	}
}

// blockedLookup is a lookup whose caller holds the only runner slot and
// whose statement is blocked on the table lock.
type blockedLookup struct {
	errc   chan error
	cancel context.CancelFunc
}

// startBlocker starts a lookup that takes the runner slot and blocks on
// the table lock.
func (f *cancelFixture) startBlocker(t *testing.T) blockedLookup {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := f.get(ctx, 1)
	f.waitStart(t)
	return blockedLookup{errc: errc, cancel: cancel}
}

// queue starts one lookup per ctx and waits until all of them are queued
// (behind a blocker, so none of them runs yet).
func (f *cancelFixture) queue(t *testing.T, ctxs ...context.Context) []chan error {
	t.Helper()
	errcs := make([]chan error, len(ctxs))
	for i, ctx := range ctxs {
		errcs[i] = f.get(ctx, int64(100+i))
	}
	for len(f.store.gets.queue) < len(ctxs) {
		time.Sleep(5 * time.Millisecond)
	}
	return errcs
}

// releaseBlocker cancels the blocker's only caller, which must cancel its
// statement at once, and waits for the queued lookups' batch to start (it
// blocks on the lock in turn).
func (f *cancelFixture) releaseBlocker(t *testing.T, b blockedLookup) {
	t.Helper()
	b.cancel()
	if err := f.waitEnd(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("the statement of a batch whose only caller left ended with %v, want it cancelled", err)
	}
	f.waitStart(t)
}

// TestBatchFollowsCallersContexts checks that a waiting caller returns as
// soon as its context ends, that a batched statement runs on while any of
// its callers still waits for it, and that it is cancelled as soon as
// every caller has gone away.
func TestBatchFollowsCallersContexts(t *testing.T) {
	f := newCancelFixture(t)
	bg := context.Background()

	f.lock(t)
	blocker := f.startBlocker(t)
	leaverCtx, leave := context.WithCancel(bg)
	leaver2Ctx, leave2 := context.WithCancel(bg)
	errcs := f.queue(t, leaverCtx, leaver2Ctx, bg)
	leave()
	if err := <-errcs[0]; !errors.Is(err, context.Canceled) {
		t.Fatalf("a waiting caller that left got %v, want context.Canceled at once", err)
	}
	f.releaseBlocker(t, blocker)
	leave2() // one of the two live callers of the running batch leaves
	f.unlock(t)
	if err := f.waitEnd(t); err != nil {
		t.Fatalf("a batch with a caller still waiting ended with %v, want it to run on", err)
	}
	if err := <-errcs[2]; !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("the remaining caller got %v, want its lookup's ErrNotFound", err)
	}
	// The caller that left may have been running the batch itself, and
	// then may see the batch's result.
	if err := <-errcs[1]; !errors.Is(err, context.Canceled) && !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("the second caller that left got %v", err)
	}
	if err := <-blocker.errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the blocker's caller, which left, got %v, want context.Canceled", err)
	}

	f.lock(t)
	defer f.unlock(t)
	blocker = f.startBlocker(t)
	c1, cancel1 := context.WithCancel(bg)
	c2, cancel2 := context.WithCancel(bg)
	errcs = f.queue(t, c1, c2)
	f.releaseBlocker(t, blocker)
	cancel1()
	cancel2()
	if err := f.waitEnd(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("the statement of a batch whose callers all left ended with %v, want it cancelled", err)
	}
	for i, errc := range errcs {
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("caller %d got %v, want context.Canceled", i, err)
		}
	}
	if err := <-blocker.errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the blocker's caller, which left, got %v, want context.Canceled", err)
	}
}
