package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// probeCloseTimeout bounds closing the probe's connection politely.
const probeCloseTimeout = time.Second

// Probe is one database connection kept apart from the request pool, for
// readiness checks. Requests may queue for the pool's connections when
// the database is slow or a table is locked; a probe never waits behind
// them, so /ready keeps meaning "this process can reach the database". A
// connection that fails is closed, and the next check opens a new one.
type Probe struct {
	config *pgx.ConnConfig
	slot   chan struct{} // held while a check uses conn
	conn   *pgx.Conn
}

// NewProbe returns a Probe that connects as pool does (same server, user,
// TLS and settings), without the pool's query tracer, under the
// application_name "user-service-probe". It does not connect yet.
func NewProbe(pool *pgxpool.Pool) *Probe {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.Tracer = nil
	cfg.RuntimeParams["application_name"] = "user-service-probe"
	return &Probe{config: cfg, slot: make(chan struct{}, 1)}
}

// Do runs fn on the probe's connection, opening it first when needed; ctx
// bounds the wait for a concurrent check, the connection attempt and fn.
// After any error the connection is closed, so that a broken one is never
// reused.
func (p *Probe) Do(ctx context.Context, fn func(*pgx.Conn) error) error {
	select {
	case p.slot <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.slot }()
	if p.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, p.config)
		if err != nil {
			return err
		}
		p.conn = conn
	}
	err := fn(p.conn)
	if err != nil {
		p.closeConn()
	}
	return err
}

// Ping checks that the database answers on the probe's connection.
func (p *Probe) Ping(ctx context.Context) error {
	return p.Do(ctx, func(c *pgx.Conn) error { return c.Ping(ctx) })
}

// Close closes the probe's connection, waiting at most for a check in
// progress.
func (p *Probe) Close() {
	p.slot <- struct{}{}
	defer func() { <-p.slot }()
	p.closeConn()
}

// closeConn closes and forgets the connection; the caller holds the slot.
func (p *Probe) closeConn() {
	if p.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeCloseTimeout)
	defer cancel()
	_ = p.conn.Close(ctx)
	p.conn = nil
}
