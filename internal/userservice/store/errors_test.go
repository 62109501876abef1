package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestClassify checks which errors mean "the database is away for now"
// (503 with Retry-After) and which are bugs or client errors. The
// connection errors are real ones, from a port nobody listens on and a
// closed pool.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	_ = ln.Close()
	_, refused := pgx.Connect(ctx, "postgres://u@"+closedPort+"/db?connect_timeout=5")
	pool, err := NewPool(ctx, "postgres://u@"+closedPort+"/db", PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	_, closedPool := pool.Acquire(ctx)
	pg := func(code string) error { return fmt.Errorf("inserting user: %w", &pgconn.PgError{Code: code}) }
	cases := []struct {
		name string
		err  error
		want failure
	}{
		{"connection refused", refused, unreachable},
		{"closed pool", closedPool, unreachable},
		{"connection lost mid-answer", fmt.Errorf("reading user rows: %w", io.ErrUnexpectedEOF), unreachable},
		{"connection closed by the driver", fmt.Errorf("x: %w", pgconn.ErrConnClosed), unreachable},
		{"admin shutdown", pg("57P01"), unreachable},
		{"crash shutdown", pg("57P02"), unreachable},
		{"starting up", pg("57P03"), unreachable},
		{"connection failure", pg("08006"), unreachable},
		{"too many connections", pg("53300"), unreachable},
		{"deadlock", pg("40P01"), unreachable},
		{"read-only standby", pg("25006"), unreachable},
		{"statement timeout", pg("57014"), timedOut},
		{"lock timeout", pg("55P03"), timedOut},
		{"any other connect error", &pgconn.ConnectError{Config: &pgconn.Config{}}, unreachable},
		{"unique violation", pg("23505"), otherFailure},
		{"check violation", pg("23514"), otherFailure},
		{"undefined table (a missing migration)", pg("42P01"), otherFailure},
		{"bad password", pg("28P01"), otherFailure},
		{"client went away", fmt.Errorf("x: %w", context.Canceled), otherFailure},
		{"client deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), otherFailure},
		{"a bug", errors.New("scanning user row: cannot scan"), otherFailure},
		{"no error", nil, otherFailure},
	}
	if refused == nil || closedPool == nil {
		t.Fatalf("expected real connection errors, got %v and %v", refused, closedPool)
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("%s (%v): classified %d, want %d", c.name, c.err, got, c.want)
		}
	}
}

// TestRowError checks which failed batch inserts may be retried row by
// row: only those PostgreSQL refused for a row's data, which never commit.
func TestRowError(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("inserting 3 users: %w", &pgconn.PgError{Code: code}) }
	for _, c := range []struct {
		err  error
		want bool
	}{
		{pg("23514"), true},  // check_violation
		{pg("22001"), true},  // string_data_right_truncation
		{pg("57P01"), false}, // admin_shutdown: the commit may have happened
		{pg("57014"), false}, // statement_timeout: retrying would only pile up
		{fmt.Errorf("reading user rows: %w", io.ErrUnexpectedEOF), false},
		{context.Canceled, false},
	} {
		if got := rowError(c.err); got != c.want {
			t.Errorf("rowError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
