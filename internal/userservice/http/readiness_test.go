package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// fakeDatabase stands in for the ping and schema-version queries, so that
// the test controls the clock and what the database answers.
type fakeDatabase struct {
	down     bool
	version  int64
	versions int // how often the version was read
}

// ping fails while the database is down.
func (db *fakeDatabase) ping(context.Context) error {
	if db.down {
		return errors.New("connection refused")
	}
	return nil
}

// readVersion returns the schema version.
func (db *fakeDatabase) readVersion(context.Context) (int64, error) {
	db.versions++
	return db.version, nil
}

// TestReadinessRechecksSchema checks that a good schema version is trusted
// only for SchemaRecheckInterval and is forgotten when a ping fails, so
// that a database restored to an older schema reports not ready.
func TestReadinessRechecksSchema(t *testing.T) {
	db := &fakeDatabase{version: 3}
	rd := NewReadiness(db.ping, db.readVersion, 3, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Unix(1_700_000_000, 0)
	rd.now = func() time.Time { return now }
	ctx := context.Background()
	check := func(wantReady bool, why string) {
		t.Helper()
		if err := rd.Check(ctx); (err == nil) != wantReady {
			t.Fatalf("%s: Check() = %v, want ready=%v", why, err, wantReady)
		}
	}
	check(true, "current schema")
	check(true, "current schema, cached")
	if db.versions != 1 {
		t.Fatalf("the version was read %d times within the interval, want once", db.versions)
	}

	db.version = 2 // restored from an older backup without the service noticing
	now = now.Add(SchemaRecheckInterval - time.Second)
	check(true, "older schema, before the recheck")
	now = now.Add(time.Second)
	check(false, "older schema after SchemaRecheckInterval")
	db.version = 3
	check(true, "migrated again")

	db.down = true
	check(false, "database down")
	db.down, db.version = false, 2 // it comes back restored to an older schema
	check(false, "back with an older schema, right after the failed ping")
}
