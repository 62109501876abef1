package store

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolOptions sizes and instruments a pool.
type PoolOptions struct {
	MaxConns, MinConns int32
	Tracer             pgx.QueryTracer
	// StatementTimeout and LockTimeout become PostgreSQL's
	// statement_timeout and lock_timeout on every connection, sent once
	// when it opens (so they cost nothing per query); 0 keeps the server's
	// settings.
	StatementTimeout, LockTimeout time.Duration
}

// NewPool parses databaseURL and builds a pool without connecting yet.
// MinConns above the pool's maximum (DB_MAX_CONNS or its default) is an
// error. Errors never include the URL, which may hold a password.
func NewPool(ctx context.Context, databaseURL string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL or keyword/value string: expected e.g. postgres://user:pass@host:5432/db")
	}
	cfg.MaxConns = max(8, int32(4*runtime.GOMAXPROCS(0)))
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.MinConns > cfg.MaxConns {
		return nil, fmt.Errorf("DB_MIN_CONNS (%d) must not exceed the pool's maximum of %d connections (DB_MAX_CONNS, default max(8, 4*GOMAXPROCS)): lower DB_MIN_CONNS or raise DB_MAX_CONNS", o.MinConns, cfg.MaxConns)
	}
	cfg.MinConns = o.MinConns
	cfg.ConnConfig.Tracer = o.Tracer
	cfg.ConnConfig.RuntimeParams["application_name"] = "user-service"
	setTimeout(cfg.ConnConfig, "statement_timeout", o.StatementTimeout)
	setTimeout(cfg.ConnConfig, "lock_timeout", o.LockTimeout)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating connection pool: %w", err)
	}
	return pool, nil
}

// setTimeout sets a PostgreSQL timeout parameter, in milliseconds, for the
// connections of cfg; 0 leaves it unset.
func setTimeout(cfg *pgx.ConnConfig, param string, d time.Duration) {
	if d > 0 {
		cfg.RuntimeParams[param] = strconv.FormatInt(d.Milliseconds(), 10)
	}
}

// Backoff bounds the retries of WaitForDatabase.
type Backoff struct {
	Initial, Max time.Duration
	// Give up after this long; 0 retries until ctx ends.
	Total time.Duration
}

// DefaultBackoff starts at 100ms and doubles up to 5s.
var DefaultBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second}

// WaitForDatabase pings pool until it answers, sleeping with bounded
// exponential backoff between attempts and logging every retry.
func WaitForDatabase(ctx context.Context, pool *pgxpool.Pool, b Backoff, logger *slog.Logger) error {
	delay := b.Initial
	start := time.Now()
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := pool.Ping(pctx)
		cancel()
		if err == nil {
			logger.Info("Connected to database", "attempts", attempt)
			return nil
		}
		if b.Total > 0 && time.Since(start)+delay > b.Total {
			return fmt.Errorf("database did not answer within %s (%d attempts; check DATABASE_URL and that PostgreSQL is up): %w", b.Total, attempt, err)
		}
		logger.Warn("Database connection failed; retrying", "attempt", attempt, "retry_in", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the database: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, b.Max)
	}
}
