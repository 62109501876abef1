package store

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
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
