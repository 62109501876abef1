package client

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	api "github.com/userservice-dev/userservice-operator/internal/userservice/http"
	"github.com/userservice-dev/userservice-operator/internal/userservice/rpc"
	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
	userservicev1 "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
)

// These tests run the service's real gRPC handler (package rpc) over
// loopback h2c, on a scripted store: a database that fails on cue cannot
// be had from PostgreSQL. cmd/user-service tests the client's wire
// protocol against the real service and database.

const secret = "0123456789abcdef0123456789abcdef-client"

// scriptedStore answers GetUser and CreateUser with the errors in its
// script, one per call, then with a user; it records the calls' contexts.
type scriptedStore struct {
	mu     sync.Mutex
	script []error
	calls  int
	ctxs   []context.Context
	block  bool // wait for the call's context to end
}

// next records a call and returns its scripted error.
func (s *scriptedStore) next(ctx context.Context) error {
	s.mu.Lock()
	s.calls++
	s.ctxs = append(s.ctxs, ctx)
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0], s.script[1:]
	}
	block := s.block
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

// callCount returns how many calls reached the store.
func (s *scriptedStore) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// GetUser follows the script.
func (s *scriptedStore) GetUser(ctx context.Context, id int64) (users.User, error) {
	if err := s.next(ctx); err != nil {
		return users.User{}, err
	}
	return users.User{ID: id, Name: "Ada", Email: "ada@example.com"}, nil
}

// CreateUser follows the script.
func (s *scriptedStore) CreateUser(ctx context.Context, in users.Input) (users.User, error) {
	if err := s.next(ctx); err != nil {
		return users.User{}, err
	}
	return users.User{ID: 7, Name: in.Name, Email: in.Email}, nil
}

// ListUsers follows the script and returns no users.
func (s *scriptedStore) ListUsers(ctx context.Context, _, _ int64) ([]users.User, error) {
	return nil, s.next(ctx)
}

// ListUsersAfter follows the script and returns no users.
func (s *scriptedStore) ListUsersAfter(ctx context.Context, _, _ int64) ([]users.User, error) {
	return nil, s.next(ctx)
}

// UpdateUser follows the script.
func (s *scriptedStore) UpdateUser(ctx context.Context, id int64, in users.Input) (users.User, error) {
	if err := s.next(ctx); err != nil {
		return users.User{}, err
	}
	return users.User{ID: id, Name: in.Name, Email: in.Email}, nil
}

// DeleteUser follows the script.
func (s *scriptedStore) DeleteUser(ctx context.Context, _ int64) error {
	return s.next(ctx)
}

// serve starts the gRPC handler on st over plaintext HTTP/2 on loopback
// and returns its base URL.
func serve(t *testing.T, st api.Store) string {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ready := api.NewReadiness(func(context.Context) error { return nil },
		func(context.Context) (int64, error) { return 1, nil }, 1, logger)
	h, err := rpc.NewHandler(rpc.Options{Store: st, Verifier: auth.NewVerifier([]byte(secret)), Readiness: ready,
		Metrics: rpc.NewMetrics(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// token returns a valid bearer token for the test server.
func token(t *testing.T) string {
	t.Helper()
	tok, err := auth.Sign([]byte(secret), "client-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fast are Options that keep the tests' retries short.
func fast(tok string) Options {
	return Options{Token: tok, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// TestRetriesUnavailable checks that a call answered Unavailable is
// retried until it succeeds, and that one that keeps failing gives up after
// MaxAttempts with Unavailable.
func TestRetriesUnavailable(t *testing.T) {
	st := &scriptedStore{script: []error{users.ErrUnavailable, users.ErrUnavailable}}
	c := New(serve(t, st), fast(""))
	u, err := c.GetUser(context.Background(), 42)
	if err != nil || u.GetId() != 42 || st.callCount() != 3 {
		t.Fatalf("GetUser: %v %v after %d calls, want user 42 on the third", u, err, st.callCount())
	}

	st = &scriptedStore{script: []error{users.ErrUnavailable, users.ErrUnavailable,
		users.ErrUnavailable, users.ErrUnavailable}}
	o := fast(token(t))
	o.MaxAttempts = 3
	c = New(serve(t, st), o)
	_, err = c.CreateUser(context.Background(), "Ada", "ada@example.com")
	if connect.CodeOf(err) != connect.CodeUnavailable || st.callCount() != 3 {
		t.Fatalf("CreateUser: %v after %d calls, want Unavailable after 3", err, st.callCount())
	}
}

// TestDoesNotRetryOtherCodes checks that every other code is returned at
// once, after one call, with REST's message and, for invalid input, the
// field.
func TestDoesNotRetryOtherCodes(t *testing.T) {
	cases := []struct {
		err  error
		code connect.Code
	}{
		{users.ErrNotFound, connect.CodeNotFound},
		{users.ErrConflict, connect.CodeAlreadyExists},
		{errors.New("a bug"), connect.CodeInternal},
	}
	for _, tc := range cases {
		st := &scriptedStore{script: []error{tc.err, nil}}
		_, err := New(serve(t, st), fast(token(t))).UpdateUser(context.Background(), 1, "Ada", "ada@example.com")
		if connect.CodeOf(err) != tc.code || st.callCount() != 1 {
			t.Errorf("store error %v: %v after %d calls, want %v after 1", tc.err, err, st.callCount(), tc.code)
		}
	}

	st := &scriptedStore{}
	c := New(serve(t, st), fast(token(t)))
	_, err := c.CreateUser(context.Background(), "Ada", "not an address")
	if connect.CodeOf(err) != connect.CodeInvalidArgument || FieldOf(err) != "email" || st.callCount() != 0 {
		t.Fatalf("an invalid email: %v, field %q, %d store calls", err, FieldOf(err), st.callCount())
	}
	_, err = c.ListUsers(context.Background(), &userservicev1.ListUsersRequest{Limit: -1})
	if FieldOf(err) != "limit" {
		t.Fatalf("limit -1: %v, field %q", err, FieldOf(err))
	}
	err = New(serve(t, st), fast("")).DeleteUser(context.Background(), 1)
	if connect.CodeOf(err) != connect.CodeUnauthenticated || st.callCount() != 0 {
		t.Fatalf("DeleteUser without a token: %v, %d store calls", err, st.callCount())
	}
	if err := c.DeleteUser(context.Background(), 1); err != nil || st.callCount() != 1 {
		t.Fatalf("DeleteUser with the token: %v", err)
	}
}

// TestDeadline checks that a call without a deadline of its own gets
// Options.Timeout, that the server sees it, and that it ends the call
// with DeadlineExceeded.
func TestDeadline(t *testing.T) {
	st := &scriptedStore{block: true}
	o := fast("")
	o.Timeout = 300 * time.Millisecond
	_, err := New(serve(t, st), o).GetUser(context.Background(), 1)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded {
		t.Fatalf("GetUser on a stuck store: %v, want DeadlineExceeded", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.ctxs) != 1 {
		t.Fatalf("%d store calls, want 1", len(st.ctxs))
	}
	if _, ok := st.ctxs[0].Deadline(); !ok {
		t.Fatal("the server did not receive the call's deadline")
	}
}

// TestUnreachableServer checks that a server that refuses connections is
// Unavailable, retried MaxAttempts times, and that a deadline passing
// while waiting to retry ends the call with DeadlineExceeded and the last
// attempt's error.
func TestUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	o := fast("")
	o.MaxAttempts = 2
	if _, err := New(target, o).GetUser(context.Background(), 1); connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("GetUser on a closed port: %v, want Unavailable", err)
	}
	o = Options{InitialBackoff: time.Hour, MaxBackoff: time.Hour, Timeout: 200 * time.Millisecond}
	_, err = New(target, o).GetUser(context.Background(), 1)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetUser with the deadline passing between attempts: %v, want DeadlineExceeded", err)
	}
}
