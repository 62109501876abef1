//go:build e2e_migration_v2 || e2e_migration_fail

package migrations

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// registerTestMigration adds a Go migration at version that runs the SQL
// statement up in a transaction. Only the test-only builds of make
// test-e2e-real call it; see e2e_migration_v2.go and e2e_migration_fail.go.
func registerTestMigration(version int64, up string) {
	run := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, up)
		return err
	}
	testMigrations = append(testMigrations, goose.NewGoMigration(version, &goose.GoFunc{RunTx: run}, nil))
}
