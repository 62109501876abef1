package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// maxBatch bounds how many calls one batched statement serves.
const maxBatch = 128

// batchTimeout bounds one batched statement. A batch also stops as soon as
// all of its callers' contexts are done (see callersContext).
const batchTimeout = 10 * time.Second

// Store is the service's user repository. Lookups by id and inserts issued
// concurrently are coalesced into single statements (see batcher); other
// operations go straight to the pool.
type Store struct {
	*Queries
	gets    *batcher[int64, users.User]
	creates *batcher[users.Input, users.User]
	cancel  context.CancelFunc
	// changed, when set, is called after every create, update and delete
	// that succeeded (see WithOutbox).
	changed func()

	// Calls that failed with users.ErrUnavailable, by cause (for metrics).
	timeouts, unavailable atomic.Uint64
}

// Workers sets how many batches of each kind may run at once.
type Workers struct {
	Get, Create int
}

// DefaultWorkers sizes the batch workers for a pool of maxConns. Lookups
// are cheap for PostgreSQL, so two workers keep batches large (less CPU per
// lookup on both sides). Inserts wait for their commit to reach disk, so
// throughput grows with the number of commits in flight: they get every
// other connection.
func DefaultWorkers(maxConns int) Workers {
	get := 2
	return Workers{Get: get, Create: max(2, maxConns-get)}
}

// Option configures a Store.
type Option func(*Store)

// WithOutbox makes every create, update and delete write its event to the
// outbox table in the same statement as the user row (see NewWithOutbox),
// whoever calls the Store (REST, gRPC), and call changed after each one
// that succeeded, so that a relay can publish at once. changed must not
// block.
func WithOutbox(changed func()) Option {
	return func(s *Store) {
		s.outbox = true
		s.changed = changed
	}
}

// Open returns a Store over pool with the given number of concurrent
// batches per operation. The caller closes the pool after Close.
func Open(pool *pgxpool.Pool, w Workers, opts ...Option) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{Queries: New(pool), cancel: cancel}
	for _, o := range opts {
		o(s)
	}
	s.gets = newBatcher(ctx, max(1, w.Get), maxBatch, s.runGets)
	s.creates = newBatcher(ctx, max(1, w.Create), maxBatch, s.runCreates)
	return s
}

// Close cancels batches still running; call it after the HTTP server has
// stopped.
func (s *Store) Close() {
	s.cancel()
}

// Every method below returns an error wrapping users.ErrUnavailable when
// the database is away for now (see classify).

// GetUser returns user id, sharing a query with concurrent lookups.
func (s *Store) GetUser(ctx context.Context, id int64) (users.User, error) {
	u, err := s.gets.do(ctx, id)
	return u, s.check(err)
}

// CreateUser inserts a user, sharing a statement with concurrent inserts.
// A duplicate email gives users.ErrConflict, exactly as a lone insert would.
func (s *Store) CreateUser(ctx context.Context, in users.Input) (users.User, error) {
	u, err := s.creates.do(ctx, in)
	s.wrote(err)
	return u, s.check(err)
}

// ListUsers returns up to limit users ordered by id, skipping offset.
func (s *Store) ListUsers(ctx context.Context, limit, offset int64) ([]users.User, error) {
	list, err := s.Queries.ListUsers(ctx, limit, offset)
	return list, s.check(err)
}

// ListUsersAfter returns up to limit users whose id is greater than
// after, ordered by id.
func (s *Store) ListUsersAfter(ctx context.Context, after, limit int64) ([]users.User, error) {
	list, err := s.Queries.ListUsersAfter(ctx, after, limit)
	return list, s.check(err)
}

// UpdateUser replaces the name and email of user id.
func (s *Store) UpdateUser(ctx context.Context, id int64, in users.Input) (users.User, error) {
	u, err := s.Queries.UpdateUser(ctx, id, in)
	s.wrote(err)
	return u, s.check(err)
}

// DeleteUser deletes user id, or returns users.ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	err := s.Queries.DeleteUser(ctx, id)
	s.wrote(err)
	return s.check(err)
}

// wrote calls changed after a write that succeeded.
func (s *Store) wrote(err error) {
	if err == nil && s.changed != nil {
		s.changed()
	}
}

// runGets resolves a batch of lookups with one query.
func (s *Store) runGets(ctx context.Context, batch []*call[int64, users.User]) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	if len(batch) == 1 {
		batch[0].val, batch[0].err = s.Queries.GetUser(ctx, batch[0].key)
		return
	}
	ids := make([]int64, len(batch))
	for i, c := range batch {
		ids[i] = c.key
	}
	found, err := s.GetUsers(ctx, ids)
	if err != nil {
		for _, c := range batch {
			c.err = err
		}
		return
	}
	byID := make(map[int64]users.User, len(found))
	for _, u := range found {
		byID[u.ID] = u
	}
	for _, c := range batch {
		u, ok := byID[c.key]
		if !ok {
			c.err = fmt.Errorf("user %d: %w", c.key, users.ErrNotFound)
			continue
		}
		c.val = u
	}
}

// runCreates inserts a batch of users with one statement. Rows skipped by
// ON CONFLICT DO NOTHING are reported as conflicts to their callers. If
// PostgreSQL rejects the statement for the data of some row (see
// rowError) while its context is live, each row is retried on its own so
// that one bad row cannot fail its neighbours. Any other error fails the
// whole batch without a retry: it may have arrived after the commit, and
// a retry would report rows that were in fact inserted as conflicts with
// themselves.
func (s *Store) runCreates(ctx context.Context, batch []*call[users.Input, users.User]) {
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	if len(batch) == 1 {
		batch[0].val, batch[0].err = s.Queries.CreateUser(ctx, batch[0].key)
		return
	}
	names := make([]string, len(batch))
	emails := make([]string, len(batch))
	for i, c := range batch {
		names[i], emails[i] = c.key.Name, c.key.Email
	}
	inserted, err := s.CreateUsers(ctx, names, emails)
	if err != nil && rowError(err) && ctx.Err() == nil {
		for _, c := range batch {
			c.val, c.err = s.Queries.CreateUser(ctx, c.key)
		}
		return
	}
	if err != nil {
		for _, c := range batch {
			c.err = err
		}
		return
	}
	assignInserted(batch, inserted)
}

// assignInserted hands each inserted row to the first caller that asked
// for exactly that name and email; the remaining callers lost to an
// existing or concurrent row with the same email.
func assignInserted(batch []*call[users.Input, users.User], inserted []users.User) {
	byInput := make(map[users.Input][]users.User, len(inserted))
	for _, u := range inserted {
		k := users.Input{Name: u.Name, Email: u.Email}
		byInput[k] = append(byInput[k], u)
	}
	for _, c := range batch {
		rows := byInput[c.key]
		if len(rows) == 0 {
			c.err = fmt.Errorf("email %q is already taken: %w", c.key.Email, users.ErrConflict)
			continue
		}
		c.val = rows[0]
		byInput[c.key] = rows[1:]
	}
}
