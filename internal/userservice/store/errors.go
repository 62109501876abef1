package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// failure says whether a database error is one that retrying later may
// cure, and why.
type failure int

// Kinds of failure.
const (
	// otherFailure is any error that is not the database being away: a bug,
	// a constraint, a configuration problem, or no error at all.
	otherFailure failure = iota
	// unreachable: the database cannot be reached, is restarting, is out of
	// connections or resources, or gave up on a transient conflict.
	unreachable
	// timedOut: the server cancelled the statement (statement_timeout,
	// lock_timeout).
	timedOut
)

// classify tells whether err means the database is away for now. It is
// the one place that reads driver errors: PostgreSQL's SQLSTATE when the
// server answered, and otherwise whether the connection itself failed.
// Context errors are left to the caller (the client left or its deadline
// passed).
func classify(err error) failure {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return otherFailure
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return classifySQLState(pgErr.Code)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, puddle.ErrClosedPool):
		return unreachable
	}
	return otherFailure
}

// classifySQLState maps a SQLSTATE reported by PostgreSQL to a failure.
// See https://www.postgresql.org/docs/current/errcodes-appendix.html.
func classifySQLState(code string) failure {
	switch code {
	case "57014", // query_canceled: statement_timeout
		"55P03": // lock_not_available: lock_timeout
		return timedOut
	case "57P01", // admin_shutdown: the server is stopping
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now: starting up or shutting down
		"57P05", // idle_session_timeout
		"40001", // serialization_failure
		"40P01", // deadlock_detected
		"25006": // read_only_sql_transaction: a standby during a failover
		return unreachable
	}
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"): // insufficient resources, such as too_many_connections
		return unreachable
	}
	return otherFailure
}

// rowError reports whether err is PostgreSQL refusing a statement for the
// data of one of its rows (SQLSTATE class 22, data exception, or 23,
// integrity constraint violation). Such a statement did not commit, so
// running its rows one by one is safe. Any other failure, a lost
// connection above all, may come after the commit.
func rowError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}

// check wraps err with users.ErrUnavailable when classify says the
// database is away for now, counting it; other errors pass unchanged.
func (s *Store) check(err error) error {
	switch classify(err) {
	case timedOut:
		s.timeouts.Add(1)
	case unreachable:
		s.unavailable.Add(1)
	default:
		return err
	}
	return fmt.Errorf("%w: %w", users.ErrUnavailable, err)
}
