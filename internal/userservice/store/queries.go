// Package store reads and writes users in PostgreSQL. Queries holds one
// method per SQL statement over a DBTX; Store adds opportunistic batching
// of concurrent lookups and inserts on top.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// DBTX is what both *pgxpool.Pool and pgx.Tx provide.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Queries runs the service's SQL statements. pgx prepares and caches each
// statement per connection, so every call after the first on a connection
// is a bind and execute.
type Queries struct {
	db DBTX
	// outbox makes every create, update and delete also insert its event
	// into the outbox table, in the same statement.
	outbox bool
}

// New returns Queries over db that write no events.
func New(db DBTX) *Queries {
	return &Queries{db: db}
}

// NewWithOutbox returns Queries over db whose creates, updates and
// deletes each insert their event (user.created, user.updated,
// user.deleted) into the outbox table in the same statement as the user
// row, so that the event commits exactly when the change does. Batched
// inserts stay one statement: their events go in with them.
func NewWithOutbox(db DBTX) *Queries {
	return &Queries{db: db, outbox: true}
}

// pick returns the outbox variant of a statement when events are on.
func (q *Queries) pick(plain, withOutbox string) string {
	if q.outbox {
		return withOutbox
	}
	return plain
}

// SQL text of every statement.
const (
	getUserSQL   = `SELECT id, name, email FROM users WHERE id = $1`
	getUsersSQL  = `SELECT id, name, email FROM users WHERE id = ANY($1::bigint[])`
	listUsersSQL = `SELECT id, name, email FROM users ORDER BY id LIMIT $1 OFFSET $2`
	// The primary key's index finds the first id after $1 directly, so a
	// page costs the same at any depth.
	listUsersAfterSQL = `SELECT id, name, email FROM users WHERE id > $1 ORDER BY id LIMIT $2`
	createUserSQL     = `INSERT INTO users (name, email) VALUES ($1, $2) RETURNING id, name, email`
	// Rows are inserted in lower(email) order so that concurrent batches
	// take their unique-index locks in one global order and cannot
	// deadlock on each other's emails.
	createUsersSQL = `INSERT INTO users (name, email)
SELECT n, e FROM unnest($1::text[], $2::text[]) AS t(n, e) ORDER BY lower(e)
ON CONFLICT DO NOTHING RETURNING id, name, email`
	updateUserSQL = `UPDATE users SET name = $2, email = $3 WHERE id = $1 RETURNING id, name, email`
	deleteUserSQL = `DELETE FROM users WHERE id = $1`
)

// The same writes with their events. Each is one statement, hence one
// transaction: the outbox row is inserted from the rows the change
// returned, so it exists if and only if the change committed. The user
// row is written (and, for an update or delete, locked) before the outbox
// row takes its id, so two changes of one user get outbox ids in commit
// order, which is the order the relay publishes them in.
const (
	outboxInsert         = `INSERT INTO outbox (type, user_id, name, email) SELECT `
	createUserOutboxSQL  = `WITH u AS (` + createUserSQL + `), e AS (` + outboxInsert + `'user.created', id, name, email FROM u) SELECT id, name, email FROM u`
	createUsersOutboxSQL = `WITH u AS (` + createUsersSQL + `), e AS (` + outboxInsert + `'user.created', id, name, email FROM u ORDER BY id) SELECT id, name, email FROM u`
	updateUserOutboxSQL  = `WITH u AS (` + updateUserSQL + `), e AS (` + outboxInsert + `'user.updated', id, name, email FROM u) SELECT id, name, email FROM u`
	deleteUserOutboxSQL  = `WITH u AS (DELETE FROM users WHERE id = $1 RETURNING id, name, email), e AS (` + outboxInsert + `'user.deleted', id, name, email FROM u) SELECT count(*) FROM u`
)

// uniqueViolation is PostgreSQL's SQLSTATE for a unique-constraint failure.
const uniqueViolation = "23505"

// GetUser returns the user with id, or users.ErrNotFound.
func (q *Queries) GetUser(ctx context.Context, id int64) (users.User, error) {
	var u users.User
	err := q.db.QueryRow(ctx, getUserSQL, id).Scan(&u.ID, &u.Name, &u.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return users.User{}, fmt.Errorf("user %d: %w", id, users.ErrNotFound)
	}
	if err != nil {
		return users.User{}, fmt.Errorf("selecting user %d: %w", id, err)
	}
	return u, nil
}

// GetUsers returns the users among ids that exist, in no particular order.
func (q *Queries) GetUsers(ctx context.Context, ids []int64) ([]users.User, error) {
	rows, err := q.db.Query(ctx, getUsersSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("selecting %d users by id: %w", len(ids), err)
	}
	return scanUsers(rows, len(ids))
}

// ListUsers returns up to limit users ordered by id, skipping offset.
func (q *Queries) ListUsers(ctx context.Context, limit, offset int64) ([]users.User, error) {
	rows, err := q.db.Query(ctx, listUsersSQL, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("listing users (limit %d, offset %d): %w", limit, offset, err)
	}
	return scanUsers(rows, int(limit))
}

// ListUsersAfter returns up to limit users whose id is greater than
// after, ordered by id.
func (q *Queries) ListUsersAfter(ctx context.Context, after, limit int64) ([]users.User, error) {
	rows, err := q.db.Query(ctx, listUsersAfterSQL, after, limit)
	if err != nil {
		return nil, fmt.Errorf("listing users (after id %d, limit %d): %w", after, limit, err)
	}
	return scanUsers(rows, int(limit))
}

// CreateUser inserts one user; a duplicate email gives users.ErrConflict.
func (q *Queries) CreateUser(ctx context.Context, in users.Input) (users.User, error) {
	var u users.User
	err := q.db.QueryRow(ctx, q.pick(createUserSQL, createUserOutboxSQL), in.Name, in.Email).Scan(&u.ID, &u.Name, &u.Email)
	if isUniqueViolation(err) {
		return users.User{}, fmt.Errorf("email %q is already taken: %w", in.Email, users.ErrConflict)
	}
	if err != nil {
		return users.User{}, fmt.Errorf("inserting user: %w", err)
	}
	return u, nil
}

// CreateUsers inserts several users in one statement. Rows whose email is
// already taken (by an existing row or an earlier row of the same call) are
// skipped; the result holds only the inserted rows.
func (q *Queries) CreateUsers(ctx context.Context, names, emails []string) ([]users.User, error) {
	rows, err := q.db.Query(ctx, q.pick(createUsersSQL, createUsersOutboxSQL), names, emails)
	if err != nil {
		return nil, fmt.Errorf("inserting %d users: %w", len(names), err)
	}
	return scanUsers(rows, len(names))
}

// UpdateUser replaces the name and email of user id.
func (q *Queries) UpdateUser(ctx context.Context, id int64, in users.Input) (users.User, error) {
	var u users.User
	err := q.db.QueryRow(ctx, q.pick(updateUserSQL, updateUserOutboxSQL), id, in.Name, in.Email).Scan(&u.ID, &u.Name, &u.Email)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return users.User{}, fmt.Errorf("user %d: %w", id, users.ErrNotFound)
	case isUniqueViolation(err):
		return users.User{}, fmt.Errorf("email %q is already taken: %w", in.Email, users.ErrConflict)
	case err != nil:
		return users.User{}, fmt.Errorf("updating user %d: %w", id, err)
	}
	return u, nil
}

// DeleteUser deletes user id, or returns users.ErrNotFound.
func (q *Queries) DeleteUser(ctx context.Context, id int64) error {
	var deleted int64
	var err error
	if q.outbox {
		err = q.db.QueryRow(ctx, deleteUserOutboxSQL, id).Scan(&deleted)
	} else {
		var tag pgconn.CommandTag
		tag, err = q.db.Exec(ctx, deleteUserSQL, id)
		deleted = tag.RowsAffected()
	}
	if err != nil {
		return fmt.Errorf("deleting user %d: %w", id, err)
	}
	if deleted == 0 {
		return fmt.Errorf("user %d: %w", id, users.ErrNotFound)
	}
	return nil
}

// scanUsers reads id, name, email rows without reflection.
func scanUsers(rows pgx.Rows, capHint int) ([]users.User, error) {
	defer rows.Close()
	out := make([]users.User, 0, min(capHint, 100))
	for rows.Next() {
		var u users.User
		if err := rows.Scan(&u.ID, &u.Name, &u.Email); err != nil {
			return nil, fmt.Errorf("scanning user row: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading user rows: %w", err)
	}
	return out, nil
}

// isUniqueViolation reports whether err is a PostgreSQL unique violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation
}
