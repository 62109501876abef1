package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// outboxRow is one row of the outbox table.
type outboxRow struct {
	typ         string
	userID      int64
	name, email string
}

// newOutboxStore returns a Store with events on (one batch worker per
// operation, so that concurrent inserts share statements) and a counter
// of its change notifications.
func newOutboxStore(t *testing.T) (*Store, *pgxpool.Pool, *atomic.Int64) {
	t.Helper()
	var changes atomic.Int64
	s, pool := newStore(t, WithOutbox(func() { changes.Add(1) }))
	return s, pool, &changes
}

// readOutbox returns every outbox row in id order.
func readOutbox(t *testing.T, pool *pgxpool.Pool) []outboxRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT type, user_id, name, email FROM outbox ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.typ, &r.userID, &r.name, &r.email); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryWriteHasItsOutboxRow drives every write path of the Store
// (single insert, batched inserts with conflicts, update, delete, and the
// failures of each) and checks that exactly the writes that succeeded
// left one event each, carrying the user as the write left it.
func TestEveryWriteHasItsOutboxRow(t *testing.T) {
	s, pool, changes := newOutboxStore(t)
	ctx := context.Background()
	first, err := s.CreateUser(ctx, users.Input{Name: "first", Email: "first@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent inserts share batches; every fourth one duplicates an
	// email, so the batches skip rows with ON CONFLICT.
	const n = 120
	var wg sync.WaitGroup
	var created sync.Map
	var conflicts atomic.Int64
	for i := range n {
		wg.Go(func() {
			email := fmt.Sprintf("u%d@example.com", i)
			if i%4 == 0 {
				email = "FIRST@example.com"
			}
			u, err := s.CreateUser(ctx, users.Input{Name: fmt.Sprintf("n%d", i), Email: email})
			switch {
			case err == nil:
				created.Store(u.ID, u)
			case errors.Is(err, users.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("create %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if conflicts.Load() != n/4 {
		t.Fatalf("%d conflicts, want %d", conflicts.Load(), n/4)
	}
	if _, err := s.UpdateUser(ctx, first.ID, users.Input{Name: "renamed", Email: "renamed@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, first.ID, users.Input{Name: "x", Email: "u1@example.com"}); !errors.Is(err, users.ErrConflict) {
		t.Fatalf("update to a taken email: %v, want ErrConflict", err)
	}
	if _, err := s.UpdateUser(ctx, 999999, users.Input{Name: "x", Email: "nobody@example.com"}); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("update of a missing user: %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, first.ID); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}

	rows := readOutbox(t, pool)
	wantRows := 1 + (n - n/4) + 2
	if len(rows) != wantRows {
		t.Fatalf("%d outbox rows, want %d (one per successful write)", len(rows), wantRows)
	}
	if got := changes.Load(); got != int64(wantRows) {
		t.Fatalf("%d change notifications, want %d", got, wantRows)
	}
	if rows[0] != (outboxRow{"user.created", first.ID, "first", "first@example.com"}) {
		t.Fatalf("first event %+v", rows[0])
	}
	seen := map[int64]bool{}
	for _, r := range rows[1 : len(rows)-2] {
		v, ok := created.Load(r.userID)
		if !ok || r.typ != "user.created" || seen[r.userID] {
			t.Fatalf("event %+v is not the one creation of a user created in the batch", r)
		}
		u := v.(users.User)
		if r.name != u.Name || r.email != u.Email {
			t.Fatalf("event %+v does not carry user %+v", r, u)
		}
		seen[r.userID] = true
	}
	tail := rows[len(rows)-2:]
	if tail[0] != (outboxRow{"user.updated", first.ID, "renamed", "renamed@example.com"}) ||
		tail[1] != (outboxRow{"user.deleted", first.ID, "renamed", "renamed@example.com"}) {
		t.Fatalf("update and delete events %+v", tail)
	}
}

// TestOutboxRowCommitsWithTheUserRow makes the outbox insert fail and
// checks that the user row is not written either, alone or in a batch:
// both go in one statement, hence one transaction.
func TestOutboxRowCommitsWithTheUserRow(t *testing.T) {
	s, pool, _ := newOutboxStore(t)
	ctx := context.Background()
	kept, err := s.CreateUser(ctx, users.Input{Name: "kept", Email: "kept@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ALTER TABLE outbox ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := s.CreateUser(ctx, users.Input{Name: "n", Email: fmt.Sprintf("r%d@example.com", i)}); err == nil {
				t.Errorf("create %d succeeded although its event could not be written", i)
			}
		})
	}
	wg.Wait()
	if _, err := s.UpdateUser(ctx, kept.ID, users.Input{Name: "changed", Email: "kept@example.com"}); err == nil {
		t.Fatal("update succeeded although its event could not be written")
	}
	if err := s.DeleteUser(ctx, kept.ID); err == nil {
		t.Fatal("delete succeeded although its event could not be written")
	}
	var count int64
	var name string
	if err := pool.QueryRow(ctx, "SELECT count(*), max(name) FROM users").Scan(&count, &name); err != nil {
		t.Fatal(err)
	}
	if count != 1 || name != "kept" {
		t.Fatalf("users table holds %d rows (name %q), want only the unchanged first user", count, name)
	}
	if rows := readOutbox(t, pool); len(rows) != 1 {
		t.Fatalf("%d outbox rows, want 1", len(rows))
	}
}

// TestNoOutboxRowsWithoutEvents checks that a Store opened without
// WithOutbox writes nothing to the outbox (AMQP_URL unset).
func TestNoOutboxRowsWithoutEvents(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, users.Input{Name: "a", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, u.ID, users.Input{Name: "b", Email: "b@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if rows := readOutbox(t, pool); len(rows) != 0 {
		t.Fatalf("%d outbox rows without events, want 0", len(rows))
	}
}
