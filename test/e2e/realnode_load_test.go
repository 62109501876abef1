//go:build e2e && realnode

/*
Copyright 2026 The userservice-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2" //nolint:revive // Ginkgo's DSL is meant to be dot-imported.
)

// The request loop's bounds: it sends loadRate requests per second, never
// more than loadMaxInFlight at once, and stops by itself after
// loadMaxDuration even if nobody stops it.
const (
	loadRate        = 50
	loadMaxInFlight = 32
	loadMaxDuration = 5 * time.Minute
	loadTimeout     = 15 * time.Second
	// A request is re-sent only when it provably never reached a server:
	// its TCP connection was never established (a dial error such as
	// connection refused, when a Service rule still names a pod whose
	// process is gone). At most dialRetries times, dialRetryDelay apart.
	dialRetries    = 20
	dialRetryDelay = 100 * time.Millisecond
)

// loadResult is what a request loop saw.
type loadResult struct {
	total, failed int64
	// dialRetries counts re-sent requests whose connection was refused.
	dialRetries int64
	// brokenUnderRequest counts the connections that their server broke
	// (EOF or reset) while a request was outstanding on them: the requests
	// in flight on a process that died, including one written to a kept-alive
	// connection an instant before the client could see it was closed. Each
	// HTTP/1.1 connection carries one request at a time, so a crash can fail
	// at most this many requests.
	brokenUnderRequest int64
	// errors holds the first failures, for the report.
	errors []string
	// acked holds the ids of every user whose POST was acknowledged (201).
	acked []int64
}

// loadGen sends GETs and POSTs to a user service at base (a NodePort on
// 127.0.0.1) over kept-alive connections, as a real client would.
type loadGen struct {
	name, base, token string
	client            *http.Client
	quit, done        chan struct{}

	mu  sync.Mutex
	res loadResult
}

// newLoadGen returns a client of the user service at base that
// authenticates writes with token; name goes into the emails it creates.
func newLoadGen(name, base, token string) *loadGen {
	g := &loadGen{
		name: name, base: base, token: token,
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	g.client = &http.Client{Timeout: loadTimeout, Transport: &http.Transport{
		MaxIdleConnsPerHost: loadMaxInFlight,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &trackedConn{Conn: c, g: g}, nil
		},
	}}
	return g
}

// trackedConn is a client connection that knows whether a request is
// outstanding on it, and reports to its loadGen when its server breaks it
// under a request (see loadResult.brokenUnderRequest).
type trackedConn struct {
	net.Conn
	g                           *loadGen
	outstanding, closed, broken atomic.Bool
}

// Read reads from the connection and records a break by the server while a
// request is outstanding.
func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !c.closed.Load() && c.outstanding.Load() && c.broken.CompareAndSwap(false, true) {
		c.g.mu.Lock()
		c.g.res.brokenUnderRequest++
		c.g.mu.Unlock()
	}
	return n, err
}

// Close closes the connection; reads failing after it are the client's doing.
func (c *trackedConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// startLoad starts a bounded request loop (see loadRate) against base.
func startLoad(name, base, token string) *loadGen {
	g := newLoadGen(name, base, token)
	go g.run()
	return g
}

// run sends requests at loadRate until stop is called or loadMaxDuration
// has passed, then waits for those in flight.
func (g *loadGen) run() {
	defer close(g.done)
	defer GinkgoRecover()
	tick := time.NewTicker(time.Second / loadRate)
	defer tick.Stop()
	deadline := time.NewTimer(loadMaxDuration)
	defer deadline.Stop()
	sem := make(chan struct{}, loadMaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-g.quit:
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			g.one(i)
		})
	}
}

// one sends request i: even ones create a user, odd ones read one back (or
// list users while none was created yet).
func (g *loadGen) one(i int) {
	var status int
	var body []byte
	var err error
	want := http.StatusOK
	if i%2 == 0 {
		want = http.StatusCreated
		payload := fmt.Sprintf(`{"name":"load %d","email":"%s-%d-%d@example.com"}`, i, g.name, time.Now().UnixNano(), i)
		status, body, err = g.send("POST", "/api/v1/users", []byte(payload))
	} else {
		status, body, err = g.send("GET", g.readPath(), nil)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.res.total++
	if err == nil && status != want {
		err = fmt.Errorf("status %d, want %d: %s", status, want, bytes.TrimSpace(body))
	}
	if err != nil {
		g.res.failed++
		if len(g.res.errors) < 10 {
			g.res.errors = append(g.res.errors, fmt.Sprintf("%s request %d: %v", time.Now().Format("15:04:05.000"), i, err))
		}
		return
	}
	if want == http.StatusCreated {
		var u struct{ ID int64 }
		if json.Unmarshal(body, &u) == nil && u.ID > 0 {
			g.res.acked = append(g.res.acked, u.ID)
		}
	}
}

// readPath returns the path of a read: a user created earlier, or the list.
func (g *loadGen) readPath() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(g.res.acked); n > 0 {
		return fmt.Sprintf("/api/v1/users/%d", g.res.acked[rand.IntN(n)])
	}
	return "/api/v1/users?limit=5"
}

// send sends one request and returns its status and body. It re-sends the
// request only after a dial error (see dialRetries).
func (g *loadGen) send(method, path string, body []byte) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequest(method, g.base+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+g.token)
		}
		var conn *trackedConn
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) {
				if c, ok := info.Conn.(*trackedConn); ok {
					conn = c
					c.outstanding.Store(true)
				}
			},
		}))
		resp, err := g.client.Do(req)
		if err != nil {
			if conn != nil {
				conn.outstanding.Store(false)
			}
			if neverSent(err) && attempt < dialRetries {
				g.mu.Lock()
				g.res.dialRetries++
				g.mu.Unlock()
				time.Sleep(dialRetryDelay)
				continue
			}
			return 0, nil, err
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if conn != nil {
			conn.outstanding.Store(false)
		}
		return resp.StatusCode, b, err
	}
}

// neverSent reports whether err says the request's connection was never
// established, so that no server can have seen the request.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// stop ends the loop, waits for the requests in flight and returns the result.
func (g *loadGen) stop() loadResult {
	close(g.quit)
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.res
}

// unreadable reads back every acknowledged user through base and returns
// those that are not there.
func unreadable(g *loadGen, r loadResult) []string {
	var out []string
	for _, id := range r.acked {
		status, body, err := g.send("GET", fmt.Sprintf("/api/v1/users/%d", id), nil)
		if err != nil || status != http.StatusOK {
			out = append(out, fmt.Sprintf("user %d: status %d, %v %s", id, status, err, body))
		}
	}
	return out
}
