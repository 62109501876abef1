package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// tableLock is a transaction holding an ACCESS EXCLUSIVE lock on a table,
// as a migration rewriting it would.
type tableLock struct {
	tx pgx.Tx
}

// lockTable locks table in dbURL until release (or the end of the test).
func lockTable(t *testing.T, dbURL, table string) *tableLock {
	t.Helper()
	ctx := context.Background()
	tx, err := connect(t, dbURL).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("locking %s: %v", table, err)
	}
	l := &tableLock{tx: tx}
	t.Cleanup(l.release)
	return l
}

// release ends the locking transaction; it is safe to call twice.
func (l *tableLock) release() {
	_ = l.tx.Rollback(context.Background())
}

// lockWaiters returns a function that counts the sessions of dbURL's
// database waiting for a lock, through one connection of its own.
func lockWaiters(t *testing.T, dbURL string) func() int {
	conn := connect(t, dbURL)
	return func() int {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks l
			JOIN pg_database d ON d.oid = l.database
			WHERE NOT l.granted AND d.datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// metric returns the value of one series of /metrics, such as
// `db_pool_acquired_connections` or `store_batches_total{op="get"}`, or
// -1 when it is absent.
func (s *service) metric(t *testing.T, series string) float64 {
	t.Helper()
	r := s.do(t, "GET", "/metrics", "")
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("series %s has value %q", series, v)
			}
			return f
		}
	}
	return -1
}

// backgroundRequests sends n copies of a request at once with a client
// whose timeout only guards against hangs, and returns their statuses
// (0 for a transport error) on a channel.
func backgroundRequests(s *service, n int, method, path, body string) chan int {
	statuses := make(chan int, n)
	client := &http.Client{Timeout: 2 * time.Minute}
	for range n {
		go func() {
			req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Authorization", "Bearer "+s.token)
			resp, err := client.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	return statuses
}

// TestStatementTimeout blocks every statement on a table lock: with
// DB_STATEMENT_TIMEOUT set, each request ends with 503 and Retry-After
// instead of holding its connection, the cut-off statements are counted,
// and /ready stays 200.
func TestStatementTimeout(t *testing.T) {
	db := newMigratedDB(t)
	s := startService(t, db, map[string]string{"DB_STATEMENT_TIMEOUT": "200ms"})
	s.waitReady(t, http.StatusOK, 10*time.Second)
	created := s.write(t, "POST", "/api/v1/users", `{"name":"Ada","email":"ada@example.com"}`)
	if created.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", created.status, created.body)
	}
	lockTable(t, db, "users")
	cases := []struct{ method, path, body string }{
		{"GET", "/api/v1/users", ""},
		{"GET", "/api/v1/users/1", ""},
		{"POST", "/api/v1/users", `{"name":"Bob","email":"bob@example.com"}`},
		{"PUT", "/api/v1/users/1", `{"name":"Ada","email":"ada2@example.com"}`},
		{"DELETE", "/api/v1/users/1", ""},
	}
	var wg sync.WaitGroup
	results := make([]response, len(cases))
	client := &http.Client{Timeout: 30 * time.Second} // a hang guard, not a speed check
	for i, c := range cases {
		wg.Go(func() {
			req, _ := http.NewRequest(c.method, s.base+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+s.token)
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("%s %s: %v", c.method, c.path, err)
				return
			}
			defer func() { _ = resp.Body.Close() }()
			b, _ := io.ReadAll(resp.Body)
			results[i] = response{status: resp.StatusCode, header: resp.Header, body: b}
		})
	}
	wg.Wait()
	for i, c := range cases {
		r := results[i]
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s behind a lock: %d, Retry-After %q, body %s; want 503 with Retry-After",
				c.method, c.path, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if t.Failed() {
		return
	}
	if got := s.metric(t, "store_statement_timeouts_total"); got != float64(len(cases)) {
		t.Fatalf("store_statement_timeouts_total = %v, want %d", got, len(cases))
	}
	if r := s.do(t, "GET", "/ready", ""); r.status != http.StatusOK {
		t.Fatalf("/ready answered %d while statements time out on a lock, want 200", r.status)
	}
}

// TestReadyWhilePoolIsSaturated fills the request pool with statements
// blocked on a table lock (as behind a migration rewriting the table),
// with more requests queued for a connection. /ready must keep answering
// 200, since the database is reachable, and the saturation must show in
// /metrics instead.
func TestReadyWhilePoolIsSaturated(t *testing.T) {
	db := newMigratedDB(t)
	s := startService(t, db, map[string]string{"DB_MAX_CONNS": "2", "DB_STATEMENT_TIMEOUT": "0"})
	s.waitReady(t, http.StatusOK, 10*time.Second)
	lock := lockTable(t, db, "users")
	waiting := lockWaiters(t, db)
	const requests = 6
	statuses := backgroundRequests(s, requests, "GET", "/api/v1/users?limit=1", "")
	waitFor(t, "both pool connections to wait for the lock", func() bool { return waiting() == 2 })
	if got := s.metric(t, "db_pool_acquired_connections"); got != 2 {
		t.Fatalf("db_pool_acquired_connections = %v, want 2 (the whole pool)", got)
	}
	for i := range 3 {
		if r := s.do(t, "GET", "/ready", ""); r.status != http.StatusOK {
			t.Fatalf("/ready #%d answered %d %s while the pool was busy but the database up, want 200", i, r.status, r.body)
		}
	}
	lock.release()
	for range requests {
		if status := <-statuses; status != http.StatusOK {
			t.Fatalf("a request queued behind the lock got %d, want 200", status)
		}
	}
	if got := s.metric(t, "db_pool_empty_acquire_wait_seconds_total"); got <= 0 {
		t.Fatalf("db_pool_empty_acquire_wait_seconds_total = %v, want the time requests waited for a connection", got)
	}
}

// TestDeepPagesAreRefusedAndCursorsWalk checks that a page beyond
// page*limit = 10,000 is refused with a 400 that points to the cursor,
// and that following next_after walks every user once, in id order.
func TestDeepPagesAreRefusedAndCursorsWalk(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	s.seed(t, 25)
	for _, q := range []string{"?page=2147483648&limit=100", "?page=101&limit=100", "?page=10001", "?page=501"} {
		r := s.do(t, "GET", "/api/v1/users"+q, "")
		if r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), "after") {
			t.Fatalf("GET %s: %d %s, want 400 pointing to the after cursor", q, r.status, r.body)
		}
	}
	if r := s.do(t, "GET", "/api/v1/users?page=100&limit=100", ""); r.status != http.StatusOK {
		t.Fatalf("page 100 of 100 (the last one allowed): %d %s", r.status, r.body)
	}
	for _, q := range []string{"?after=x", "?after=-1", "?after=1&page=2"} {
		if r := s.do(t, "GET", "/api/v1/users"+q, ""); r.status != http.StatusBadRequest {
			t.Fatalf("GET %s: %d %s, want 400", q, r.status, r.body)
		}
	}
	get := func(q string) listPage { return s.list(t, q) }
	if p := get("?page=3&limit=10"); len(p.Users) != 5 || p.NextAfter != nil {
		t.Fatalf("last numbered page: %d users, next_after %v; want 5 and none", len(p.Users), p.NextAfter)
	}
	var walked []int64
	p := get("?limit=10")
	for pages := 1; ; pages++ {
		for _, u := range p.Users {
			walked = append(walked, u.ID)
		}
		if p.NextAfter == nil {
			break
		}
		if *p.NextAfter != walked[len(walked)-1] || pages > 3 {
			t.Fatalf("page %d: next_after %d, last id %d", pages, *p.NextAfter, walked[len(walked)-1])
		}
		p = get(fmt.Sprintf("?after=%d&limit=10", *p.NextAfter))
	}
	if len(walked) != 25 {
		t.Fatalf("the cursor walk returned %d users, want 25", len(walked))
	}
	for i := 1; i < len(walked); i++ {
		if walked[i-1] >= walked[i] {
			t.Fatalf("the cursor walk is not in id order at %d: %v", i, walked)
		}
	}
	if p := get(fmt.Sprintf("?after=%d", walked[len(walked)-1])); len(p.Users) != 0 || p.Users == nil {
		t.Fatalf("after the last id: %+v, want an empty list", p.Users)
	}
}

// TestShutdownIsBoundedWithABlockedRequest sends SIGTERM (cancels run)
// while a request waits for a table lock that is never released: run must
// return once SHUTDOWN_TIMEOUT has passed, close the pool anyway and flush
// its log, instead of waiting for the request.
func TestShutdownIsBoundedWithABlockedRequest(t *testing.T) {
	db := newMigratedDB(t)
	s := startService(t, db, map[string]string{"SHUTDOWN_TIMEOUT": "1s", "DB_STATEMENT_TIMEOUT": "0"})
	s.waitReady(t, http.StatusOK, 10*time.Second)
	lockTable(t, db, "users")
	waiting := lockWaiters(t, db)
	statuses := backgroundRequests(s, 1, "GET", "/api/v1/users", "")
	waitFor(t, "the request to wait for the lock", func() bool { return waiting() == 1 })
	start := time.Now()
	s.cancel() // what SIGTERM does
	s.cancel = nil
	var err error
	select {
	case err = <-s.done:
	case <-time.After(30 * time.Second): // a hang guard, not a speed check
		t.Fatalf("run did not return within 30s of SIGTERM with a request blocked on a lock\n%s", s.logs.String())
	}
	t.Logf("run returned %s after SIGTERM (SHUTDOWN_DRAIN 0s, SHUTDOWN_TIMEOUT 1s): %v",
		time.Since(start).Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("run returned %v, want an error saying requests were cut off after SHUTDOWN_TIMEOUT", err)
	}
	if status := <-statuses; status == http.StatusOK {
		t.Fatalf("the blocked request got 200 although its table stayed locked")
	}
	if logs := s.logs.String(); !strings.Contains(logs, "Closed HTTP server forcibly") {
		t.Fatalf("the log lacks the forced close (was it flushed?):\n%s", logs)
	}
	waitFor(t, "the blocked statement to be cancelled", func() bool { return waiting() == 0 })
}
