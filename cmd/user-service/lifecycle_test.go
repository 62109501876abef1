package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// TestConfigErrors checks that a missing or invalid variable stops the
// service with an error naming the variable and hiding secrets. (How fast
// it exits is not asserted here: speed targets belong in hack/bench.)
func TestConfigErrors(t *testing.T) {
	good := map[string]string{"DATABASE_URL": "postgres://u:hunter2hunter2@127.0.0.1:1/db", "JWT_SECRET": testSecret}
	cases := []struct {
		name, key, value, want string
	}{
		{"no database", "DATABASE_URL", "", "DATABASE_URL is required"},
		{"bad database", "DATABASE_URL", "postgres://u:hunter2hunter2@[::1", "DATABASE_URL is not a valid"},
		{"no secret", "JWT_SECRET", "", "JWT_SECRET must be at least 32 bytes"},
		{"short secret", "JWT_SECRET", "short-secret-hunter2", "JWT_SECRET must be at least 32 bytes"},
		{"bad port", "SERVER_PORT", "70000", "SERVER_PORT must be an integer"},
		{"bad grpc port", "GRPC_PORT", "grpc", "GRPC_PORT must be an integer from 0 to 65535"},
		{"grpc port clash", "GRPC_PORT", "3000", "GRPC_PORT and SERVER_PORT are both 3000"},
		{"bad level", "LOG_LEVEL", "loud", "LOG_LEVEL must be one of"},
		{"bad drain", "SHUTDOWN_DRAIN", "soon", "SHUTDOWN_DRAIN must be"},
		{"bad pool", "DB_MAX_CONNS", "0", "DB_MAX_CONNS must be"},
		{"bad statement timeout", "DB_STATEMENT_TIMEOUT", "5", "DB_STATEMENT_TIMEOUT must be"},
		{"min above default max", "DB_MIN_CONNS", "1000", "DB_MIN_CONNS (1000) must not exceed"},
		{"bad otlp", "OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT must be"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			maps.Copy(env, good)
			env[c.key] = c.value
			var out bytes.Buffer
			err := run(context.Background(), nil, envFunc(env), &out)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run: %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error()+out.String(), "hunter2") {
				t.Fatalf("a secret value leaked: %v %s", err, out.String())
			}
		})
	}
}

// TestHelpAndCommands checks --help and argument errors.
func TestHelpAndCommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, envFunc(nil), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"serve", "migrate up", "migrate status", "SERVER_PORT", "default: 3000", "default: 5s",
		"default: 20s", "default: info", "AUTH_REQUIRED_FOR_READS", "DB_STATEMENT_TIMEOUT", "GRPC_PORT", "default: 50051"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("--help lacks %q:\n%s", want, out.String())
		}
	}
	for _, args := range [][]string{{"bogus"}, {"migrate"}, {"migrate", "down"}, {"serve", "extra"}} {
		if err := run(context.Background(), args, envFunc(nil), io.Discard); err == nil {
			t.Fatalf("run %q succeeded, want an error", args)
		}
	}
}

// TestConcurrentMigrateAndSchemaGate runs two `migrate up` at once on a
// fresh database; both must succeed. Before that, serve must report
// not-ready and log why.
func TestConcurrentMigrateAndSchemaGate(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := startService(t, db, nil)
	s.waitReady(t, http.StatusServiceUnavailable, 5*time.Second)
	r := s.do(t, "GET", "/ready", "")
	if !strings.Contains(r.errorMessage(t), "schema") {
		t.Fatalf("/ready says %s, want a schema message", r.body)
	}
	s.waitLog(t, "Database schema is older than this binary needs")

	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([]syncBuffer, 2)
	for i := range 2 {
		wg.Go(func() {
			errs[i] = run(context.Background(), []string{"migrate", "up"},
				envFunc(map[string]string{"DATABASE_URL": db}), &outs[i])
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate up #%d: %v\n%s", i, err, outs[i].String())
		}
	}
	for i := range outs {
		var v int64
		_, after, _ := strings.Cut(outs[i].String(), "schema is at version ")
		if _, err := fmt.Sscan(after, &v); err != nil || v < migrations.RequiredVersion {
			t.Fatalf("migrate output #%d says version %d (%v), want at least %d:\n%s", i, v, err,
				migrations.RequiredVersion, outs[i].String())
		}
	}
	if strings.Count(outs[0].String()+outs[1].String(), "applied 00001_create_users.sql") != 1 {
		t.Fatalf("the first migration was not applied exactly once: %s | %s", outs[0].String(), outs[1].String())
	}
	s.waitReady(t, http.StatusOK, 5*time.Second)

	var status syncBuffer
	if err := run(context.Background(), []string{"migrate", "status"},
		envFunc(map[string]string{"DATABASE_URL": db}), &status); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status.String(), "00001_create_users.sql") || strings.Contains(status.String(), "pending") {
		t.Fatalf("migrate status:\n%s", status.String())
	}
}

// TestNewerSchemaIsReady checks that a schema ahead of the binary (as in a
// rolling update) still counts as ready.
func TestNewerSchemaIsReady(t *testing.T) {
	db := newMigratedDB(t)
	if _, err := connect(t, db).Exec(context.Background(),
		"INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)", migrations.RequiredVersion+1); err != nil {
		t.Fatal(err)
	}
	s := startService(t, db, nil)
	s.waitReady(t, http.StatusOK, 5*time.Second)
}

// TestReadinessFollowsDatabase stops and restarts a private PostgreSQL
// cluster and checks that /ready flips to 503 and back while /health
// stays 200, and that it notices a schema restored to an older version.
func TestReadinessFollowsDatabase(t *testing.T) {
	c := pgtest.StartCluster(t)
	migrateUp(t, c.URL)
	s := startService(t, c.URL, nil)
	s.waitReady(t, http.StatusOK, 10*time.Second)

	c.Stop()
	s.waitReady(t, http.StatusServiceUnavailable, 5*time.Second)
	if r := s.do(t, "GET", "/health", ""); r.status != 200 {
		t.Fatalf("/health must not depend on the database: %d", r.status)
	}
	checkUnavailable(t, s)

	c.Start()
	s.waitReady(t, http.StatusOK, 15*time.Second)
	if r := s.do(t, "GET", "/api/v1/users", ""); r.status != 200 {
		t.Fatalf("reads after the database came back: %d %s", r.status, r.body)
	}

	// The database comes back restored from a backup taken before the
	// migrations: /ready must notice the older schema.
	restoreEmptySchema(t, c.URL)
	c.Stop()
	s.waitReady(t, http.StatusServiceUnavailable, 5*time.Second)
	c.Start()
	waitFor(t, "/ready to report the older schema", func() bool {
		r := s.do(t, "GET", "/ready", "")
		return r.status == http.StatusServiceUnavailable && strings.Contains(string(r.body), "schema")
	})
	migrateUp(t, c.URL)
	s.waitReady(t, http.StatusOK, 15*time.Second)
}

// checkUnavailable checks that every API call answers 503 with
// Retry-After, never 500, while the database is down.
func checkUnavailable(t *testing.T, s *service) {
	t.Helper()
	cases := []struct{ method, path, body string }{
		{"GET", "/api/v1/users", ""},
		{"GET", "/api/v1/users?after=1", ""},
		{"GET", "/api/v1/users/1", ""},
		{"POST", "/api/v1/users", `{"name":"Ada","email":"ada@example.com"}`},
		{"PUT", "/api/v1/users/1", `{"name":"Ada","email":"ada@example.com"}`},
		{"DELETE", "/api/v1/users/1", ""},
	}
	for _, c := range cases {
		r := s.write(t, c.method, c.path, c.body)
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s while the database is down: %d, Retry-After %q, body %s; want 503 with Retry-After",
				c.method, c.path, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if strings.Contains(s.logs.String(), "Failed to handle request") {
		t.Errorf("an unavailable database was logged as a failure of the service:\n%s", s.logs.String())
	}
}

// restoreEmptySchema drops every migrated table, as restoring a backup
// taken before `migrate up` would.
func restoreEmptySchema(t *testing.T, dbURL string) {
	t.Helper()
	if _, err := connect(t, dbURL).Exec(context.Background(), "DROP TABLE users, outbox, goose_db_version"); err != nil {
		t.Fatalf("dropping the schema: %v", err)
	}
}

// TestStartupWaitsForDatabase starts the service before PostgreSQL is up
// and checks that it retries with logged backoff and becomes ready.
func TestStartupWaitsForDatabase(t *testing.T) {
	c := pgtest.StartCluster(t)
	migrateUp(t, c.URL)
	c.Stop()
	s := startService(t, c.URL, nil)
	s.waitLog(t, "Database connection failed; retrying")
	c.Start()
	s.waitReady(t, http.StatusOK, 15*time.Second)
}
