// Package migrations embeds the user service's SQL schema migrations and
// applies them with goose, serialised by a PostgreSQL advisory lock.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql
var embedded embed.FS

// RequiredVersion is the schema version this binary needs. serve reports
// not-ready while the database is older; a newer database is fine because
// migrations are expand/contract.
const RequiredVersion int64 = 1

// testMigrations holds Go migrations registered only by test-only builds
// (the files with the e2e_migration_* build tags, for make test-e2e-real's
// v2 and failing images). Release builds have none.
var testMigrations []*goose.Migration

// RequiredVersionEvents is the schema version this binary needs when
// events are on (AMQP_URL set): 00003 creates the outbox table.
const RequiredVersionEvents int64 = 3

// files returns the embedded migrations rooted at their directory.
func files() fs.FS {
	sub, err := fs.Sub(embedded, "sql")
	if err != nil {
		panic(fmt.Sprintf("embedded migrations: %v", err)) // impossible: the path is a constant
	}
	return sub
}

// newProvider builds a goose provider over db. With locking set it takes a
// session-level advisory lock so that concurrent `migrate up` runs queue up
// instead of racing.
func newProvider(db *sql.DB, locking bool) (*goose.Provider, error) {
	var opts []goose.ProviderOption
	if locking {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("creating advisory-lock session locker: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	if len(testMigrations) > 0 {
		opts = append(opts, goose.WithGoMigrations(testMigrations...))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files(), opts...)
	if err != nil {
		return nil, fmt.Errorf("creating migration provider: %w", err)
	}
	return p, nil
}

// Up applies every pending migration under the advisory lock and writes
// one line per applied migration to out. Those lines only report: a failed
// write does not fail a migration that succeeded.
func Up(ctx context.Context, pool *pgxpool.Pool, out io.Writer) error {
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	p, err := newProvider(db, true)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	for _, r := range results {
		name := r.Source.Path
		if name == "" { // a Go migration (test-only builds)
			name = fmt.Sprintf("%05d (Go)", r.Source.Version)
		}
		_, _ = fmt.Fprintf(out, "applied %s in %s\n", name, r.Duration.Round(1e6))
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading schema version after migrating: %w", err)
	}
	_, _ = fmt.Fprintf(out, "schema is at version %d (%d migration(s) applied now)\n", v, len(results))
	return nil
}

// Status writes the state of every embedded migration to out.
func Status(ctx context.Context, pool *pgxpool.Pool, out io.Writer) error {
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	p, err := newProvider(db, false)
	if err != nil {
		return err
	}
	statuses, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("reading migration status: %w", err)
	}
	for _, s := range statuses {
		applied := "pending"
		if s.State == goose.StateApplied {
			applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		if _, err := fmt.Fprintf(out, "%05d %-40s %s\n", s.Source.Version, s.Source.Path, applied); err != nil {
			return fmt.Errorf("writing the migration status: %w", err)
		}
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if _, err := fmt.Fprintf(out, "schema is at version %d; this binary needs %d (%d with AMQP_URL set)\n",
		v, RequiredVersion, RequiredVersionEvents); err != nil {
		return fmt.Errorf("writing the migration status: %w", err)
	}
	return nil
}

// Querier runs a query that returns one row: *pgxpool.Pool, *pgx.Conn and
// pgx.Tx all are.
type Querier interface {
	QueryRow(ctx context.Context, query string, args ...any) pgx.Row
}

// Version returns the database's current schema version, 0 when no
// migration has run yet.
func Version(ctx context.Context, db Querier) (int64, error) {
	var exists bool
	err := db.QueryRow(ctx, "SELECT to_regclass('goose_db_version') IS NOT NULL").Scan(&exists)
	if err != nil {
		return 0, fmt.Errorf("checking for the goose_db_version table: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int64
	err = db.QueryRow(ctx,
		"SELECT COALESCE(max(version_id), 0) FROM goose_db_version WHERE is_applied").Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("reading schema version from goose_db_version: %w", err)
	}
	return v, nil
}
