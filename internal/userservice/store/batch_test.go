package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// hangGuard bounds waits that only a bug could make endless; it is not a
// speed check.
const hangGuard = time.Minute

// waitUntil polls cond until it holds, failing after hangGuard.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// outcome is what one caller of a batcher got.
type outcome struct {
	val      int
	err      error
	panicked any
}

// TestBatchPanicReleasesEveryCaller makes a batch panic on its runner's
// goroutine: the panic must reach that caller, every other caller of the
// batch must get an error instead of waiting forever, and the runner slot
// must be free again for later calls.
func TestBatchPanicReleasesEveryCaller(t *testing.T) {
	gate := make(chan struct{})
	run := func(_ context.Context, batch []*call[int, int]) {
		for _, c := range batch {
			switch c.key {
			case 0:
				<-gate // holds the only runner slot while the others queue
			case 13:
				panic("batch exploded")
			}
			c.val = 2 * c.key
		}
	}
	b := newBatcher(context.Background(), 1, 16, run)
	do := func(key int) chan outcome {
		ch := make(chan outcome, 1)
		go func() {
			var o outcome
			defer func() { o.panicked = recover(); ch <- o }()
			o.val, o.err = b.do(context.Background(), key)
		}()
		return ch
	}
	result := func(ch chan outcome) outcome {
		select {
		case o := <-ch:
			return o
		case <-time.After(hangGuard):
			t.Fatal("a caller of the batcher still waits")
			return outcome{}
		}
	}
	first := do(0)
	waitUntil(t, "the first call to hold the runner slot", func() bool { return len(b.slots) == 1 && len(b.queue) == 0 })
	others := []chan outcome{do(13), do(1), do(2)}
	waitUntil(t, "three calls to queue", func() bool { return len(b.queue) == 3 })
	close(gate)
	if o := result(first); o.err != nil || o.panicked != nil || o.val != 0 {
		t.Fatalf("the first call: %+v", o)
	}
	panics := 0
	for _, ch := range others {
		o := result(ch)
		switch {
		case o.panicked != nil:
			panics++
		case o.err == nil:
			t.Errorf("a caller of the batch that panicked got %d and no error", o.val)
		}
	}
	if panics != 1 {
		t.Fatalf("%d callers saw the panic, want exactly the runner", panics)
	}
	if o := result(do(5)); o.err != nil || o.panicked != nil || o.val != 10 {
		t.Fatalf("a call after the panic: %+v, want 10 (the runner slot must be free)", o)
	}
}

// cutProxy forwards TCP connections to PostgreSQL. Once armed with a
// command tag, it withholds the server's answer to the statement that
// reports that tag until the server has committed it (its ReadyForQuery
// has arrived), then closes both sides without passing the answer on:
// the network failing right after a commit.
type cutProxy struct {
	ln     net.Listener
	target string

	mu  sync.Mutex
	tag []byte
	cut chan struct{}
}

// startCutProxy listens on loopback and forwards to dbURL's host; it
// returns the proxy and dbURL rewritten to go through it.
func startCutProxy(t *testing.T, dbURL string) (*cutProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: u.Host, cut: make(chan struct{})}
	t.Cleanup(func() { _ = ln.Close() })
	go p.accept()
	u.Host = ln.Addr().String()
	return p, u.String()
}

// arm makes the proxy cut the connection that next reports tag.
func (p *cutProxy) arm(tag string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tag = append([]byte(tag), 0)
}

// takeTag returns the armed tag if chunk holds it, disarming the proxy.
func (p *cutProxy) takeTag(chunk []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tag == nil || !bytes.Contains(chunk, p.tag) {
		return nil
	}
	tag := p.tag
	p.tag = nil
	return tag
}

// accept serves connections until the listener closes.
func (p *cutProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		go func() {
			_, _ = io.Copy(server, client)
			_ = server.Close()
		}()
		go p.serverToClient(server, client)
	}
}

// readyForQuery is the start of PostgreSQL's ReadyForQuery message.
var readyForQuery = []byte{'Z', 0, 0, 0, 5}

// serverToClient forwards the server's messages, except for the answer
// to an armed statement.
func (p *cutProxy) serverToClient(server, client net.Conn) {
	defer func() { _ = client.Close() }()
	defer func() { _ = server.Close() }()
	buf := make([]byte, 64<<10)
	var held []byte
	for {
		n, err := server.Read(buf)
		if err != nil {
			return
		}
		chunk := buf[:n]
		if held == nil {
			if tag := p.takeTag(chunk); tag != nil {
				held = append([]byte{}, chunk[bytes.Index(chunk, tag):]...)
			}
		} else {
			held = append(held, chunk...)
		}
		if held != nil {
			if bytes.Contains(held, readyForQuery) {
				close(p.cut) // committed; the client never hears of it
				return
			}
			continue
		}
		if _, err := client.Write(chunk); err != nil {
			return
		}
	}
}

// TestBatchCutAfterCommitIsNotRetried inserts a batch of three users whose
// connection breaks after PostgreSQL committed them but before the answer
// arrives. The store must not retry the rows one by one (each would then
// report a conflict with itself, a 409 for a user that was created): every
// caller gets ErrUnavailable, and the rows are there.
func TestBatchCutAfterCommitIsNotRetried(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	direct, err := NewPool(ctx, dbURL, PoolOptions{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if err := migrations.Up(ctx, direct, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	proxy, proxied := startCutProxy(t, dbURL)
	pool, err := NewPool(ctx, proxied, PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := Open(pool, Workers{Get: 1, Create: 1})
	defer s.Close()

	// A lone insert takes the only runner slot and waits for a table lock
	// while three more queue, so that those three share one statement.
	lockTx, err := direct.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lockTx.Rollback(ctx) }()
	if _, err := lockTx.Exec(ctx, "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	create := func(email string) chan error {
		errc := make(chan error, 1)
		go func() {
			_, err := s.CreateUser(ctx, users.Input{Name: "cut", Email: email})
			errc <- err
		}()
		return errc
	}
	first := create("first@example.com")
	waitUntil(t, "the lone insert to hold the runner slot", func() bool { return len(s.creates.slots) == 1 && len(s.creates.queue) == 0 })
	batch := []chan error{create("a@example.com"), create("b@example.com"), create("c@example.com")}
	waitUntil(t, "three inserts to queue", func() bool { return len(s.creates.queue) == 3 })
	proxy.arm("INSERT 0 3")
	if err := lockTx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the lone insert: %v", err)
	}
	for _, errc := range batch {
		var err error
		select {
		case err = <-errc:
		case <-time.After(hangGuard):
			t.Fatal("an insert of the cut batch still waits")
		}
		if err == nil || errors.Is(err, users.ErrConflict) || !errors.Is(err, users.ErrUnavailable) {
			t.Errorf("an insert whose batch was cut after its commit: %v, want ErrUnavailable (never a conflict)", err)
		}
	}
	select {
	case <-proxy.cut:
	default:
		t.Fatal("the proxy did not cut the batch's connection")
	}
	var n int
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil || n != 4 {
		t.Fatalf("%d users in the table (%v), want 4: the cut batch was committed", n, err)
	}
}
