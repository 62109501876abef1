//go:build e2e_migration_v2 || e2e_migration_fail

package migrations

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// TestE2EMigration runs the test-only migration of the build's tag on a
// fresh database: the v2 build reaches version 2, the failing build stops
// with PostgreSQL's error at version 1.
// Run it alone in a tagged build:
//
//	hack/with-postgres.sh go test -tags e2e_migration_fail -run TestE2EMigration ./internal/userservice/migrations/
func TestE2EMigration(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var out strings.Builder
	err = Up(ctx, pool, &out)
	v, verr := Version(ctx, pool)
	if verr != nil {
		t.Fatal(verr)
	}
	switch testMigrations[0].Version {
	case 2:
		if err != nil || v != 2 || !strings.Contains(out.String(), "applied 00002 (Go) in") {
			t.Fatalf("v2 build: migrate up: %v, version %d; want version 2\n%s", err, v, out.String())
		}
	case 3:
		if err == nil || !strings.Contains(err.Error(), `relation "user_profiles" does not exist`) || v != 1 {
			t.Fatalf("failing build: migrate up: %v, version %d; want PostgreSQL's error at version 1", err, v)
		}
	}
}
