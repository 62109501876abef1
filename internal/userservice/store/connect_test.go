package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// TestNewPoolRejectsMinAboveDefaultMax checks that DB_MIN_CONNS above the
// default maximum (DB_MAX_CONNS unset) is a configuration error naming the
// variable, not silently clamped. No database is needed: NewPool does not
// connect.
func TestNewPoolRejectsMinAboveDefaultMax(t *testing.T) {
	const url = "postgres://user@127.0.0.1:1/db"
	defaultMax := max(8, 4*runtime.GOMAXPROCS(0))
	_, err := NewPool(context.Background(), url, PoolOptions{MinConns: int32(defaultMax + 1)})
	want := fmt.Sprintf("DB_MIN_CONNS (%d) must not exceed the pool's maximum of %d connections", defaultMax+1, defaultMax)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("NewPool: %v, want an error containing %q", err, want)
	}
	pool, err := NewPool(context.Background(), url, PoolOptions{MinConns: 1})
	if err != nil {
		t.Fatalf("DB_MIN_CONNS within the default maximum: %v", err)
	}
	pool.Close()
}

// TestPoolSetsTimeouts checks that the statement and lock timeouts reach
// PostgreSQL as settings of every connection.
func TestPoolSetsTimeouts(t *testing.T) {
	ctx := context.Background()
	pool, err := NewPool(ctx, pgtest.NewDatabase(t), PoolOptions{StatementTimeout: 1500 * time.Millisecond, LockTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var statement, lock string
	if err := pool.QueryRow(ctx, "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')").Scan(&statement, &lock); err != nil {
		t.Fatal(err)
	}
	if statement != "1500ms" || lock != "2s" {
		t.Fatalf("statement_timeout %s and lock_timeout %s, want 1500ms and 2s", statement, lock)
	}
}
