//go:build e2e_migration_v2 || e2e_migration_fail

package migrations

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
)

// registerTestMigration adds a Go migration, offset versions above the
// highest embedded one, that runs the SQL statement up in a transaction.
// Only the test-only builds of make test-e2e-real call it; see
// e2e_migration_v2.go and e2e_migration_fail.go.
func registerTestMigration(offset int64, up string) {
	run := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, up)
		return err
	}
	m := goose.NewGoMigration(highestEmbedded()+offset, &goose.GoFunc{RunTx: run}, nil)
	testMigrations = append(testMigrations, m)
}

// highestEmbedded returns the version of the last embedded SQL migration.
func highestEmbedded() int64 {
	entries, err := fs.ReadDir(files(), ".")
	if err != nil {
		panic(err) // impossible: the directory is embedded
	}
	var highest int64
	for _, e := range entries {
		if v, err := strconv.ParseInt(strings.SplitN(e.Name(), "_", 2)[0], 10, 64); err == nil {
			highest = max(highest, v)
		}
	}
	return highest
}
