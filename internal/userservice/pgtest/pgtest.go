// Package pgtest gives tests real PostgreSQL databases: a private database
// on the shared server named by DATABASE_URL (see hack/with-postgres.sh),
// or a private cluster that a test may stop and start.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
)

// unavailable skips the test, or fails it under CI=true, because a
// required server is missing.
func unavailable(t testing.TB, why string) {
	t.Helper()
	testenv.Unavailable(t, why+"; run the tests through hack/with-postgres.sh (make test) to include them")
}

// SharedURL returns DATABASE_URL, or skips (fails under CI) when unset.
func SharedURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		unavailable(t, "DATABASE_URL is not set")
	}
	return u
}

// NewDatabase creates a fresh, empty database on the shared server and
// returns its URL. It is dropped when the test ends, so tests and packages
// running in parallel never see each other's tables.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := SharedURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to DATABASE_URL: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, base, name) })
	return WithDatabase(t, base, name)
}

// dropDatabase removes a test database, disconnecting leftover sessions.
func dropDatabase(t testing.TB, base, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Logf("dropping test database %s: connecting: %v", name, err)
		return
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Logf("dropping test database %s: %v", name, err)
	}
}

// WithDatabase returns base with its database name replaced by name.
func WithDatabase(t testing.TB, base, name string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("DATABASE_URL must be a postgres:// URL for the tests, got an unparsable value")
	}
	u.Path = "/" + name
	return u.String()
}

// Cluster is a private PostgreSQL cluster that a test may stop and start.
type Cluster = testenv.Server

// StartCluster starts a private cluster with hack/pg-cluster.sh and
// destroys it when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/initdb"); err != nil && os.Getenv("PG_BIN") == "" {
		unavailable(t, "PostgreSQL 15 binaries are not installed in /usr/lib/postgresql/15/bin")
	}
	if os.Geteuid() != 0 {
		unavailable(t, "a private PostgreSQL cluster needs root (to run it as the postgres user)")
	}
	return testenv.StartServer(t, "hack/pg-cluster.sh", "private PostgreSQL cluster")
}
