package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userservice-dev/userservice-operator/internal/userservice/config"
	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/store"
	"github.com/userservice-dev/userservice-operator/internal/userservice/telemetry"
)

// migrateBackoff bounds how long `migrate` waits for the database.
var migrateBackoff = store.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Total: 60 * time.Second}

// migrate runs `migrate up` or `migrate status`, with PostgreSQL's
// lock_timeout and statement_timeout set from MIGRATE_LOCK_TIMEOUT and
// MIGRATE_STATEMENT_TIMEOUT.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "status") {
		return fmt.Errorf("migrate needs exactly one of up or status, got %q; see user-service --help", args)
	}
	cfg, err := config.LoadMigrate(getenv)
	if err != nil {
		return err
	}
	logger := telemetry.NewLogger(stdout, cfg.LogLevel)
	pool, err := store.NewPool(ctx, cfg.DatabaseURL, store.PoolOptions{MaxConns: 2,
		LockTimeout: cfg.LockTimeout, StatementTimeout: cfg.StatementTimeout})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.WaitForDatabase(ctx, pool, migrateBackoff, logger); err != nil {
		return err
	}
	if args[0] == "up" {
		err = migrations.Up(ctx, pool, stdout)
	} else {
		err = migrations.Status(ctx, pool, stdout)
	}
	return explain(err, cfg)
}

// explain adds to err what to do when PostgreSQL cut a migration
// statement off at MIGRATE_LOCK_TIMEOUT or MIGRATE_STATEMENT_TIMEOUT, or
// when existing rows break a unique index that a migration builds.
func explain(err error, cfg config.Migrate) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "55P03": // lock_not_available
		return fmt.Errorf("%w: another session held a lock that the migration needs for longer than "+
			"MIGRATE_LOCK_TIMEOUT (%s); the migration is not recorded as applied: run migrate up again once the lock "+
			"is released (pg_locks shows who holds it), or raise MIGRATE_LOCK_TIMEOUT", err, cfg.LockTimeout)
	case "57014": // query_canceled
		return fmt.Errorf("%w: a migration statement ran longer than MIGRATE_STATEMENT_TIMEOUT (%s); "+
			"raise MIGRATE_STATEMENT_TIMEOUT and run it again", err, cfg.StatementTimeout)
	case "23505": // unique_violation
		return fmt.Errorf("%w: existing rows break the uniqueness rule of index %q; docs/user-service.md shows "+
			"how to find and fix them, then run migrate up again", err, pgErr.ConstraintName)
	}
	return err
}
