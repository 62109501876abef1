package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/config"
	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/store"
	"github.com/userservice-dev/userservice-operator/internal/userservice/telemetry"
)

// migrateBackoff bounds how long `migrate` waits for the database.
var migrateBackoff = store.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Total: 60 * time.Second}

// migrate runs `migrate up` or `migrate status`.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "status") {
		return fmt.Errorf("migrate needs exactly one of up or status, got %q; see user-service --help", args)
	}
	url, err := config.LoadDatabaseURL(getenv)
	if err != nil {
		return err
	}
	level, err := config.LogLevelOf(getenv)
	if err != nil {
		return err
	}
	logger := telemetry.NewLogger(stdout, level)
	pool, err := store.NewPool(ctx, url, store.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := store.WaitForDatabase(ctx, pool, migrateBackoff, logger); err != nil {
		return err
	}
	if args[0] == "up" {
		return migrations.Up(ctx, pool, stdout)
	}
	return migrations.Status(ctx, pool, stdout)
}
