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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
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
	inFlight          atomic.Int64
	quit, done        chan struct{}

	mu  sync.Mutex
	res loadResult
}

// newLoadGen returns a client of the user service at base that
// authenticates writes with token; name goes into the emails it creates.
func newLoadGen(name, base, token string) *loadGen {
	return &loadGen{
		name: name, base: base, token: token,
		client: &http.Client{Timeout: loadTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: loadMaxInFlight}},
		quit:   make(chan struct{}), done: make(chan struct{}),
	}
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			g.one(i)
		}()
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
		g.inFlight.Add(1)
		resp, err := g.client.Do(req)
		g.inFlight.Add(-1)
		if err != nil {
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
