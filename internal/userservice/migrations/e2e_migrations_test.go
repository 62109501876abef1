//go:build e2e_migration_v2 || e2e_migration_fail

package migrations

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// TestE2EMigration runs the test-only migration of the build's tag on a
// fresh database: the v2 build reaches one version above the embedded
// migrations, the failing build stops with PostgreSQL's error at the last
// embedded one.
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
	base := highestEmbedded()
	switch testMigrations[0].Version - base {
	case 1:
		want := fmt.Sprintf("applied %05d (Go) in", base+1)
		if err != nil || v != base+1 || !strings.Contains(out.String(), want) {
			t.Fatalf("v2 build: migrate up: %v, version %d; want version %d and %q\n%s", err, v, base+1, want, out.String())
		}
	case 2:
		if err == nil || !strings.Contains(err.Error(), `relation "user_profiles" does not exist`) || v != base {
			t.Fatalf("failing build: migrate up: %v, version %d; want PostgreSQL's error at version %d", err, v, base)
		}
	default:
		t.Fatalf("test migration at version %d, %d above the embedded ones", testMigrations[0].Version, testMigrations[0].Version-base)
	}
}
