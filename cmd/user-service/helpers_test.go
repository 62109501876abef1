package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// testSecret is the JWT_SECRET of services started by tests.
const testSecret = "0123456789abcdef0123456789abcdef-test"

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// service is a user-service started in-process through run.
type service struct {
	base   string
	token  string
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	// grpcAddr is the gRPC port's host:port ("" when GRPC_PORT=0).
	grpcAddr string
}

// envFunc turns a map into a getenv function.
func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		defer func() { _ = ln.Close() }()
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// migrateUp runs `migrate up` against dbURL.
func migrateUp(t *testing.T, dbURL string) {
	t.Helper()
	var out syncBuffer
	if err := run(context.Background(), []string{"migrate", "up"},
		envFunc(map[string]string{"DATABASE_URL": dbURL}), &out); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out.String())
	}
}

// startService runs serve with env (DATABASE_URL and JWT_SECRET filled in
// when absent) and waits until /health answers.
func startService(t *testing.T, dbURL string, env map[string]string) *service {
	t.Helper()
	full := map[string]string{"DATABASE_URL": dbURL, "JWT_SECRET": testSecret, "SHUTDOWN_DRAIN": "0s"}
	maps.Copy(full, env)
	ports := freePorts(t, 2)
	port := ports[0]
	full["SERVER_PORT"] = strconv.Itoa(port)
	if _, ok := full["GRPC_PORT"]; !ok {
		full["GRPC_PORT"] = strconv.Itoa(ports[1])
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{base: "http://127.0.0.1:" + strconv.Itoa(port), logs: &syncBuffer{}, cancel: cancel,
		done: make(chan error, 1)}
	if full["GRPC_PORT"] != "0" {
		s.grpcAddr = "127.0.0.1:" + full["GRPC_PORT"]
	}
	go func() { s.done <- run(ctx, []string{"serve"}, envFunc(full), s.logs) }()
	t.Cleanup(func() { s.stop(t) })
	token, err := auth.Sign([]byte(full["JWT_SECRET"]), "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.token = token
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("service exited before becoming healthy: %v\n%s", err, s.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("service did not answer /health within 10s\n%s", s.logs.String())
	return nil
}

// stop cancels the service (like SIGTERM) and checks that run returned nil.
func (s *service) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v after shutdown\n%s", err, s.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("service did not stop within 30s")
	}
}

// waitReady polls /ready until it answers want or the timeout passes.
func (s *service) waitReady(t *testing.T, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := 0
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/ready")
		if err == nil {
			last = resp.StatusCode
			_ = resp.Body.Close()
			if last == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/ready answered %d, want %d within %s\n%s", last, want, timeout, s.logs.String())
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// errorMessage returns the body's "error" field.
func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	r.json(t, &e)
	if e.Error == "" {
		t.Fatalf("status %d body %q has no error message", r.status, r.body)
	}
	return e.Error
}

// do sends a request; headers alternate name, value.
func (s *service) do(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// write sends an authorised JSON request.
func (s *service) write(t *testing.T, method, path, body string) response {
	t.Helper()
	return s.do(t, method, path, body, "Content-Type", "application/json", "Authorization", "Bearer "+s.token)
}

// newMigratedDB returns a fresh, migrated database on the shared server.
func newMigratedDB(t *testing.T) string {
	t.Helper()
	u := pgtest.NewDatabase(t)
	migrateUp(t, u)
	return u
}

// waitLog waits until the service's log contains want (log lines are
// flushed every logFlushInterval) and returns the whole log.
func (s *service) waitLog(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := s.logs.String()
		if strings.Contains(logs, want) {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %s after 5s:\n%s", want, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connect opens a connection to dbURL that is closed when the test ends.
func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("connecting to the test database: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// listPage is the body of GET /api/v1/users.
type listPage struct {
	Users     []user `json:"users"`
	Page      int    `json:"page"`
	Limit     int    `json:"limit"`
	NextAfter *int64 `json:"next_after"`
}

// list sends GET /api/v1/users with query q, which must answer 200.
func (s *service) list(t *testing.T, q string) listPage {
	t.Helper()
	r := s.do(t, "GET", "/api/v1/users"+q, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", q, r.status, r.body)
	}
	var p listPage
	r.json(t, &p)
	return p
}

// seed creates n users named "user <i>" with emails u<i>@example.com.
func (s *service) seed(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		body := fmt.Sprintf(`{"name":"user %d","email":"u%d@example.com"}`, i, i)
		if r := s.write(t, "POST", "/api/v1/users", body); r.status != http.StatusCreated {
			t.Fatalf("seeding: %d %s", r.status, r.body)
		}
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// minute (a hang guard, not a speed check).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
