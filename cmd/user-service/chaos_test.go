package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// chaosLoad is a bounded loop of reads and writes against a service,
// recording every status and every acknowledged write.
type chaosLoad struct {
	s      *service
	client *http.Client
	stop   atomic.Bool
	wg     sync.WaitGroup

	mu       sync.Mutex
	statuses map[string]int // "POST 201" -> count
	acked    []string       // emails of writes that got a 2xx
	failures []string       // transport errors and unexpected statuses
}

// Chaos load bounds: workers, and requests per worker at most.
const (
	chaosWorkers   = 8
	chaosPerWorker = 3000
)

// startChaosLoad starts the workers.
func startChaosLoad(s *service) *chaosLoad {
	l := &chaosLoad{s: s, statuses: map[string]int{},
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: chaosWorkers}}}
	for w := range chaosWorkers {
		l.wg.Go(func() {
			for i := 0; i < chaosPerWorker && !l.stop.Load(); i++ {
				if !l.request(w, i) {
					time.Sleep(5 * time.Millisecond) // do not spin while the database is away
				}
			}
		})
	}
	return l
}

// request sends one write, lookup or list and records the outcome; it
// returns whether the request succeeded.
func (l *chaosLoad) request(worker, i int) bool {
	var req *http.Request
	email := ""
	switch i % 3 {
	case 0:
		email = fmt.Sprintf("chaos-%d-%d@example.com", worker, i)
		req, _ = http.NewRequest("POST", l.s.base+"/api/v1/users", strings.NewReader(`{"name":"chaos","email":"`+email+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+l.s.token)
	case 1:
		req, _ = http.NewRequest("GET", fmt.Sprintf("%s/api/v1/users/%d", l.s.base, 1+i%5), nil)
	default:
		req, _ = http.NewRequest("GET", l.s.base+"/api/v1/users?limit=5", nil)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		l.record(req.Method+" error", fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, err))
		return false
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	key := fmt.Sprintf("%s %d", req.Method, resp.StatusCode)
	switch {
	case resp.StatusCode/100 == 2:
		l.mu.Lock()
		l.statuses[key]++
		if email != "" {
			l.acked = append(l.acked, email)
		}
		l.mu.Unlock()
		return true
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		l.record(key, "")
	default:
		l.record(key, fmt.Sprintf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body))
	}
	return false
}

// record counts a status and keeps a failure message when there is one.
func (l *chaosLoad) record(key, failure string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[key]++
	if failure != "" && len(l.failures) < 20 {
		l.failures = append(l.failures, failure)
	}
}

// ackedWrites returns how many writes got a 2xx so far.
func (l *chaosLoad) ackedWrites() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// finish stops the workers and waits for them.
func (l *chaosLoad) finish() {
	l.stop.Store(true)
	l.wg.Wait()
}

// readyWatch polls /ready and remembers whether it answered 503 and, after
// that, 200 again.
type readyWatch struct {
	sawDown, sawBack atomic.Bool
	stop             chan struct{}
	done             chan struct{}
}

// watchReady starts polling s's /ready every 20 ms until stopped.
func watchReady(s *service) *readyWatch {
	rw := &readyWatch{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(rw.done)
		for {
			select {
			case <-rw.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := client.Get(s.base + "/ready")
			if err != nil {
				continue
			}
			_ = resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusServiceUnavailable:
				rw.sawDown.Store(true)
			case resp.StatusCode == http.StatusOK && rw.sawDown.Load():
				rw.sawBack.Store(true)
			}
		}
	}()
	return rw
}

// TestChaosDatabaseRestart restarts PostgreSQL (fast shutdown, then start)
// under a bounded loop of reads and writes. /ready must go 503 and come
// back, the service must never exit, every failed request must be a 503
// with Retry-After (never a 500 or a dropped connection), and every write
// that got a 2xx must be in the database afterwards.
func TestChaosDatabaseRestart(t *testing.T) {
	c := pgtest.StartCluster(t)
	migrateUp(t, c.URL)
	s := startService(t, c.URL, nil)
	s.waitReady(t, http.StatusOK, 10*time.Second)
	for i := range 5 {
		body := fmt.Sprintf(`{"name":"seed","email":"seed%d@example.com"}`, i)
		if r := s.write(t, "POST", "/api/v1/users", body); r.status != http.StatusCreated {
			t.Fatalf("seeding: %d %s", r.status, r.body)
		}
	}
	rw := watchReady(s)
	defer func() { close(rw.stop); <-rw.done }()
	load := startChaosLoad(s)
	defer load.finish()

	waitFor(t, "200 acknowledged writes before the restart", func() bool { return load.ackedWrites() >= 200 })
	c.Stop() // pg_ctl stop -m fast
	waitFor(t, "/ready to answer 503", rw.sawDown.Load)
	before := load.ackedWrites()
	c.Start()
	waitFor(t, "/ready to answer 200 again", rw.sawBack.Load)
	waitFor(t, "200 more acknowledged writes after the restart", func() bool { return load.ackedWrites() >= before+200 })
	load.finish()

	select {
	case err := <-s.done:
		s.cancel = nil
		t.Fatalf("the service exited during the restart: %v\n%s", err, s.logs.String())
	default:
	}
	t.Logf("statuses: %v", load.statuses)
	if len(load.failures) > 0 {
		t.Errorf("requests that failed other than with 503 and Retry-After:\n%s", strings.Join(load.failures, "\n"))
	}
	lost := missingEmails(t, c.URL, load.acked)
	t.Logf("acked_writes_lost=%d of %d", len(lost), len(load.acked))
	if len(lost) > 0 {
		t.Fatalf("acknowledged writes missing from the database: %v", lost)
	}
}

// missingEmails returns the emails among want that no row of users has.
func missingEmails(t *testing.T, dbURL string, want []string) []string {
	t.Helper()
	var raw []byte
	if err := connect(t, dbURL).QueryRow(context.Background(),
		"SELECT coalesce(json_agg(email), '[]') FROM users").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var have []string
	if err := json.Unmarshal(raw, &have); err != nil {
		t.Fatal(err)
	}
	stored := make(map[string]bool, len(have))
	for _, e := range have {
		stored[e] = true
	}
	var missing []string
	for _, e := range want {
		if !stored[e] {
			missing = append(missing, e)
		}
	}
	return missing
}
