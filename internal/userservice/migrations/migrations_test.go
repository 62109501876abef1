package migrations

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// TestRequiredVersionIsEmbedded checks that the version serve waits for is
// one that `migrate up` from this binary can reach.
func TestRequiredVersionIsEmbedded(t *testing.T) {
	entries, err := fs.ReadDir(files(), ".")
	if err != nil {
		t.Fatal(err)
	}
	var highest int64
	for _, e := range entries {
		v, err := strconv.ParseInt(strings.SplitN(e.Name(), "_", 2)[0], 10, 64)
		if err != nil {
			t.Fatalf("migration %s does not start with a version number", e.Name())
		}
		highest = max(highest, v)
	}
	if RequiredVersion < 1 || RequiredVersion > highest {
		t.Fatalf("RequiredVersion %d, but the embedded migrations reach %d", RequiredVersion, highest)
	}
}

// TestUpIsIdempotentAndVersioned migrates a fresh database twice and reads
// the version before and after.
func TestUpIsIdempotentAndVersioned(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if v, err := Version(ctx, pool); err != nil || v != 0 {
		t.Fatalf("fresh database: version %d, %v; want 0", v, err)
	}
	var out strings.Builder
	for range 2 {
		if err := Up(ctx, pool, &out); err != nil {
			t.Fatalf("migrate up: %v\n%s", err, out.String())
		}
	}
	if !strings.Contains(out.String(), "(0 migration(s) applied now)") {
		t.Fatalf("second run applied something:\n%s", out.String())
	}
	if v, err := Version(ctx, pool); err != nil || v < RequiredVersion {
		t.Fatalf("after migrating: version %d, %v; want at least %d", v, err, RequiredVersion)
	}
}
