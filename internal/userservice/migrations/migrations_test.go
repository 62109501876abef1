package migrations

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

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
	pool := newPool(t)
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

// TestNFKCIndexReportsLookAlikes applies the NFKC email index to a table
// that already holds two look-alike emails: the migration must fail and
// leave no applied version, and once one of the rows is fixed, running it
// again must succeed (dropping the invalid index the failed build left).
func TestNFKCIndexReportsLookAlikes(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	p, err := newProvider(db, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO users (name, email) VALUES ('a', 'ada@example.com'), ('b', 'ＡＤＡ@example.com')"); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Up(ctx, pool, &out); err == nil || !strings.Contains(err.Error(), "23505") {
		t.Fatalf("migrating a table with look-alike emails: %v, want a unique violation", err)
	}
	if v, err := Version(ctx, pool); err != nil || v != 1 {
		t.Fatalf("after the failed migration: version %d, %v; want 1", v, err)
	}
	if _, err := pool.Exec(ctx, "UPDATE users SET email = 'ada2@example.com' WHERE name = 'b'"); err != nil {
		t.Fatal(err)
	}
	if err := Up(ctx, pool, &out); err != nil {
		t.Fatalf("migrating again after the fix: %v\n%s", err, out.String())
	}
	if _, err := pool.Exec(ctx, "INSERT INTO users (name, email) VALUES ('c', 'Ada@ＥＸＡＭＰＬＥ.com')"); err == nil {
		t.Fatal("a look-alike was inserted after the migration")
	}
}

// newPool returns a pool over a fresh, empty database, closed when the
// test ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
