package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// newStore returns a Store with one batch worker per operation over a
// fresh, migrated database, so that concurrent calls must share batches.
func newStore(t *testing.T, opts ...Option) (*Store, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	pool, err := NewPool(ctx, pgtest.NewDatabase(t), PoolOptions{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := migrations.Up(ctx, pool, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	s := Open(pool, Workers{Get: 1, Create: 1}, opts...)
	t.Cleanup(s.Close)
	return s, pool
}

// TestBatchedCreatesReportConflictsPerRow fires many concurrent inserts,
// several per email and in different letter cases: exactly one per email
// must win and every other must get ErrConflict.
func TestBatchedCreatesReportConflictsPerRow(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, users.Input{Name: "existing", Email: "taken@example.com"}); err != nil {
		t.Fatal(err)
	}
	const emails, copies = 40, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	conflicts := 0
	for i := range emails * copies {
		wg.Go(func() {
			e := fmt.Sprintf("user%d@example.com", i%emails)
			if i%emails == 0 {
				e = "TAKEN@example.com"
			}
			if i%2 == 1 {
				e = strings.ToUpper(e[:1]) + e[1:]
			}
			u, err := s.CreateUser(ctx, users.Input{Name: fmt.Sprintf("n%d", i), Email: e})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				if u.ID <= 0 || u.Email != e || u.Name != fmt.Sprintf("n%d", i) {
					t.Errorf("call %d got row %+v, which is not its own", i, u)
				}
				wins[strings.ToLower(e)]++
			case errors.Is(err, users.ErrConflict):
				conflicts++
			default:
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if len(wins) != emails-1 || conflicts != emails*copies-(emails-1) {
		t.Fatalf("%d emails won and %d conflicts; want %d and %d", len(wins), conflicts, emails-1, emails*copies-(emails-1))
	}
	for e, n := range wins {
		if n != 1 {
			t.Fatalf("%s inserted %d times", e, n)
		}
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&rows); err != nil || rows != emails {
		t.Fatalf("%d rows (%v), want %d", rows, err, emails)
	}
}

// TestBatchedGets looks up existing and missing ids concurrently.
func TestBatchedGets(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	ids := make([]int64, 0, 50)
	for i := range 50 {
		u, err := s.CreateUser(ctx, users.Input{Name: fmt.Sprint("g", i), Email: fmt.Sprintf("g%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Go(func() {
			id := ids[i%len(ids)]
			if i%5 == 0 {
				id = -int64(i) // never exists
			}
			u, err := s.GetUser(ctx, id)
			switch {
			case id < 0 && !errors.Is(err, users.ErrNotFound):
				t.Errorf("missing id %d: %v", id, err)
			case id > 0 && (err != nil || u.ID != id || u.Name != fmt.Sprint("g", id-ids[0])):
				t.Errorf("id %d: %+v %v", id, u, err)
			}
		})
	}
	wg.Wait()
}

// TestGetHonoursCancellation checks that a cancelled caller returns.
func TestGetHonoursCancellation(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetUser(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled lookup: %v", err)
	}
}

// TestUpdateAndDelete covers the unbatched statements.
func TestUpdateAndDelete(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a, _ := s.CreateUser(ctx, users.Input{Name: "a", Email: "a@example.com"})
	b, _ := s.CreateUser(ctx, users.Input{Name: "b", Email: "b@example.com"})
	if _, err := s.UpdateUser(ctx, b.ID, users.Input{Name: "b", Email: "A@EXAMPLE.COM"}); !errors.Is(err, users.ErrConflict) {
		t.Fatalf("update to a taken email: %v", err)
	}
	if _, err := s.UpdateUser(ctx, 999999, users.Input{Name: "x", Email: "x@example.com"}); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("update of a missing user: %v", err)
	}
	if err := s.DeleteUser(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, a.ID); !errors.Is(err, users.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	list, err := s.ListUsers(ctx, 10, 0)
	if err != nil || len(list) != 1 || list[0] != b {
		t.Fatalf("list: %+v %v", list, err)
	}
}

// TestConcurrentBatchesShareEmails runs several insert batches at once
// whose emails overlap; every email must be inserted exactly once and
// every other call must see ErrConflict.
func TestConcurrentBatchesShareEmails(t *testing.T) {
	_, pool := newStore(t)
	s := Open(pool, Workers{Get: 1, Create: 4})
	defer s.Close()
	ctx := context.Background()
	const emails, copies = 30, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	for i := range emails * copies {
		wg.Go(func() {
			n := i % emails
			if (i/emails)%2 == 1 {
				n = emails - 1 - n // the other half asks in reverse order
			}
			e := fmt.Sprintf("shared%d@example.com", n)
			_, err := s.CreateUser(ctx, users.Input{Name: "x", Email: e})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins[e]++
			case !errors.Is(err, users.ErrConflict):
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if len(wins) != emails {
		t.Fatalf("%d distinct emails inserted, want %d", len(wins), emails)
	}
	for e, n := range wins {
		if n != 1 {
			t.Fatalf("%s inserted %d times", e, n)
		}
	}
}
