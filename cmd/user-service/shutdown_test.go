package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGracefulShutdownUnderLoad keeps clients busy while the service is
// told to stop. A load balancer polls /ready and stops routing new
// requests at its first failure (as an endpoints controller would); no
// request may fail, and a request still in flight when the listener
// closes must complete.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	s := startService(t, newMigratedDB(t), map[string]string{"SHUTDOWN_DRAIN": "4s"})
	s.waitReady(t, http.StatusOK, 10*time.Second)
	routing := startLoadBalancer(s)
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for w := range 16 {
		wg.Go(func() {
			for i := 0; routing.Load(); i++ {
				if err := loadRequest(client, s, w, i); err != nil {
					failed.Add(1)
					t.Errorf("request failed during shutdown: %v", err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	waitFor(t, "100 requests to succeed before the shutdown", func() bool { return ok.Load() >= 100 })
	slow := startSlowCreate(t, s)
	s.cancel() // what SIGTERM does
	waitFor(t, "the load balancer to see /ready fail", func() bool { return !routing.Load() })
	wg.Wait()
	waitFor(t, "the listener to close", func() bool { return !accepting(s) })
	if status := slow.finish(t); status != http.StatusCreated {
		t.Fatalf("a request in flight during shutdown got %d, want 201", status)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("service did not stop")
	}
	s.cancel = nil
	t.Logf("%d requests succeeded, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed and %d succeeded; want 0 failures under load", failed.Load(), ok.Load())
	}
	if !strings.Contains(s.logs.String(), "Stopped HTTP server") {
		t.Fatalf("no clean stop in the log:\n%s", s.logs.String())
	}
}

// TestDrainClosesKeepAliveConnections checks that during the drain every
// response carries Connection: close, so that a client's keep-alive
// connection to a stopping instance ends after a complete response and its
// next request opens a new connection (through a Service: to a ready pod).
func TestDrainClosesKeepAliveConnections(t *testing.T) {
	s := startService(t, newMigratedDB(t), map[string]string{"SHUTDOWN_DRAIN": "3s"})
	s.waitReady(t, http.StatusOK, 10*time.Second)
	client := &http.Client{Transport: &http.Transport{}}
	if r, _ := getTraced(t, client, s.base+"/health"); r.Close {
		t.Fatal("Connection: close before the shutdown")
	}
	if r, reused := getTraced(t, client, s.base+"/health"); r.Close || !reused {
		t.Fatalf("second request before the shutdown: close %t, reused connection %t; want a kept-alive connection",
			r.Close, reused)
	}
	s.cancel() // what SIGTERM does
	waitFor(t, "/ready to report the shutdown", func() bool {
		return s.do(t, "GET", "/ready", "").status == http.StatusServiceUnavailable
	})
	r, reused := getTraced(t, client, s.base+"/api/v1/users?limit=1")
	if r.StatusCode != http.StatusOK || !r.Close || !reused {
		t.Fatalf("request on the kept-alive connection during the drain: status %d, close %t, reused %t; "+
			"want 200 with Connection: close", r.StatusCode, r.Close, reused)
	}
	if r, reused := getTraced(t, client, s.base+"/health"); r.StatusCode != http.StatusOK || reused {
		t.Fatalf("next request during the drain: status %d, reused %t; want 200 on a new connection", r.StatusCode, reused)
	}
	if err := <-s.done; err != nil {
		t.Fatalf("run returned %v", err)
	}
	s.cancel = nil
}

// getTraced sends a GET with client and returns the response (body read
// and closed) and whether it went over a reused connection.
func getTraced(t *testing.T, client *http.Client, url string) (*http.Response, bool) {
	t.Helper()
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp, reused
}

// startLoadBalancer polls /ready like an endpoints controller and returns
// a flag that is true while the service should receive new requests; it
// turns false for good at the first failed probe.
func startLoadBalancer(s *service) *atomic.Bool {
	var routing atomic.Bool
	routing.Store(true)
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer routing.Store(false)
		for {
			resp, err := client.Get(s.base + "/ready")
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return &routing
}

// accepting reports whether the service's port still accepts connections.
func accepting(s *service) bool {
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// slowCreate is a POST whose body is sent in two parts, so that it stays
// in flight for as long as the test wants.
type slowCreate struct {
	body   *io.PipeWriter
	status chan int
}

// startSlowCreate sends the headers and the first half of a create.
func startSlowCreate(t *testing.T, s *service) *slowCreate {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.base+"/api/v1/users", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	sc := &slowCreate{body: pw, status: make(chan int, 1)}
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			t.Errorf("slow request: %v", err)
			sc.status <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		sc.status <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(`{"name":"slow",`)); err != nil {
		t.Fatalf("sending the first half of the slow request: %v", err)
	}
	return sc
}

// finish sends the rest of the body and returns the response status.
func (sc *slowCreate) finish(t *testing.T) int {
	t.Helper()
	if _, err := sc.body.Write([]byte(`"email":"slow@example.com"}`)); err != nil {
		t.Errorf("sending the rest of the slow request: %v", err)
	}
	_ = sc.body.Close()
	return <-sc.status
}

// loadRequest sends one create or read and checks it got a 2xx.
func loadRequest(client *http.Client, s *service, worker, i int) error {
	var req *http.Request
	if i%2 == 0 {
		body := fmt.Sprintf(`{"name":"load","email":"load-%d-%d@example.com"}`, worker, i)
		req, _ = http.NewRequest("POST", s.base+"/api/v1/users", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.token)
	} else {
		req, _ = http.NewRequest("GET", s.base+"/api/v1/users?limit=5", nil)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	return nil
}
