package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Relay settings.
const (
	// batchSize bounds how many events one transaction publishes.
	batchSize = 256
	// batchTimeout bounds one batch: reading it, publishing it, waiting
	// for its confirms and deleting its rows. A batch that overruns it
	// closes the broker connection, rolls back, and is published again.
	batchTimeout = 15 * time.Second
	// pollInterval is how often the relay looks at the outbox when nothing
	// wakes it (rows written by another replica, or while it was away).
	pollInterval = time.Second
	// lockRetry is how soon a relay that found another one publishing
	// tries again, so that rows committed after the other's last read
	// do not wait for the next poll.
	lockRetry = 100 * time.Millisecond
	// Reconnection backoff, doubling from initialBackoff to maxBackoff.
	initialBackoff = 100 * time.Millisecond
	maxBackoff     = 5 * time.Second
	dialTimeout    = 5 * time.Second
	heartbeat      = 10 * time.Second
	// idleInTxTimeout makes PostgreSQL end a relay transaction (and free
	// its lock) whose relay stopped talking to it, say behind a network
	// partition. It exceeds batchTimeout, so it never cuts a live batch.
	idleInTxTimeout = 30 * time.Second
	// lockKey is the transaction-level advisory lock that lets one relay
	// at a time publish, whatever the number of replicas ("useroutb").
	lockKey int64 = 0x757365726f757462
)

// SQL of the relay.
const (
	tryLockSQL   = `SELECT pg_try_advisory_xact_lock($1)`
	readBatchSQL = `SELECT id, event_id::text, type, occurred_at, user_id, name, email FROM outbox ORDER BY id LIMIT $1`
	deleteSQL    = `DELETE FROM outbox WHERE id = ANY($1::bigint[])`
)

// Relay publishes the outbox to RabbitMQ.
//
// Each batch is one PostgreSQL transaction on the relay's own connection:
// it takes a transaction-level advisory lock (so that one relay publishes
// at a time across all replicas, and rows are published in id order, which
// is commit order for each user), reads up to batchSize rows in id order,
// publishes them on a channel in confirm mode, waits for the confirms and
// deletes the rows the broker acknowledged, then commits, which releases
// the lock. A relay that dies mid-batch leaves its rows in place, locked
// by nobody: the next batch, on any replica, publishes them again (at
// least once).
type Relay struct {
	url      string
	redacted string
	secrets  []string
	db       *pgx.ConnConfig
	logger   *slog.Logger
	wake     chan struct{}

	published atomic.Uint64
	connected atomic.Bool
}

// NewRelay returns a Relay that publishes to the broker at amqpURL (an
// amqp:// or amqps:// URL, already validated) from the outbox of the
// database db connects to. db is copied; the relay sets its
// application_name to user-service-relay.
func NewRelay(amqpURL string, db *pgx.ConnConfig, logger *slog.Logger) *Relay {
	cfg := db.Copy()
	cfg.Tracer = nil
	cfg.RuntimeParams["application_name"] = "user-service-relay"
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(idleInTxTimeout.Milliseconds())
	redacted, secrets := redact(amqpURL)
	return &Relay{url: amqpURL, redacted: redacted, secrets: secrets, db: cfg, logger: logger, wake: make(chan struct{}, 1)}
}

// Notify wakes the relay to publish at once; it never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Published returns how many events this relay has published and seen
// confirmed.
func (r *Relay) Published() uint64 {
	return r.published.Load()
}

// Connected reports whether the relay is connected to the broker.
func (r *Relay) Connected() bool {
	return r.connected.Load()
}

// Run relays until ctx ends. It connects to the broker and the database,
// retrying with exponential backoff and logging each failure, and never
// gives up: rows wait in the outbox meanwhile. A batch in progress when
// ctx ends is finished (within batchTimeout), so that what it published is
// also deleted.
func (r *Relay) Run(ctx context.Context) {
	delay := initialBackoff
	for {
		start := time.Now()
		connected, err := r.session(ctx)
		if ctx.Err() != nil {
			return
		}
		// A session that lasted restarts the backoff; one that failed at
		// once (say every publish is refused) does not, so that it is
		// retried slowly.
		if connected && time.Since(start) > maxBackoff {
			delay = initialBackoff
		}
		r.logger.Warn("Event relay cannot publish; retrying, events wait in the outbox",
			"amqp_url", r.redacted, "retry_in", delay.String(), "error", r.scrub(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxBackoff)
	}
}

// session connects to the broker and the database and relays batches
// until ctx ends or either connection fails. connected reports whether
// both connections were made.
func (r *Relay) session(ctx context.Context) (connected bool, err error) {
	conn, ch, err := r.dial()
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close() }()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	db, err := pgx.ConnectConfig(ctx, r.db)
	if err != nil {
		return false, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = db.Close(cctx)
	}()
	r.connected.Store(true)
	defer r.connected.Store(false)
	r.logger.Info("Event relay connected to RabbitMQ", "amqp_url", r.redacted, "exchange", Exchange)
	for {
		n, locked, err := r.relayBatch(ctx, db, conn, ch)
		if err != nil {
			return true, err
		}
		if n == batchSize {
			continue
		}
		wait := pollInterval
		if !locked {
			wait = lockRetry
		}
		select {
		case <-ctx.Done():
			return true, nil
		case <-r.wake:
		case <-time.After(wait):
		case e := <-closed:
			return true, fmt.Errorf("RabbitMQ closed the connection: %w", closeError(e))
		}
	}
}

// dial connects to the broker, opens a channel in confirm mode and
// declares the exchange.
func (r *Relay) dial() (*amqp.Connection, *amqp.Channel, error) {
	conn, err := amqp.DialConfig(r.url, amqp.Config{
		Heartbeat:  heartbeat,
		Dial:       amqp.DefaultDial(dialTimeout),
		Properties: amqp.Table{"connection_name": "user-service outbox relay"},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to RabbitMQ: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err == nil {
		err = ch.ExchangeDeclare(Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
		if err != nil {
			err = fmt.Errorf("declaring the durable topic exchange %q (an exchange of that name with other settings must be deleted first): %w", Exchange, err)
		}
	}
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return conn, ch, nil
}

// relayBatch publishes one batch (see Relay) and returns how many rows it
// read, and whether it got the lock. A batch runs to its end even when ctx
// ends, within batchTimeout; past that, the broker connection is closed,
// which unblocks a publish stuck on a blocked connection.
func (r *Relay) relayBatch(ctx context.Context, db *pgx.Conn, conn *amqp.Connection, ch *amqp.Channel) (n int, locked bool, err error) {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	stop := context.AfterFunc(bctx, func() { _ = conn.Close() })
	defer stop()
	tx, err := db.Begin(bctx)
	if err != nil {
		return 0, false, fmt.Errorf("starting a relay transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(bctx) }()
	if err := tx.QueryRow(bctx, tryLockSQL, lockKey).Scan(&locked); err != nil || !locked {
		return 0, false, err
	}
	ids, evs, err := readBatch(bctx, tx)
	if err != nil || len(evs) == 0 {
		return 0, true, err
	}
	acked, perr := publish(bctx, ch, ids, evs)
	if len(acked) > 0 {
		if _, err := tx.Exec(bctx, deleteSQL, acked); err != nil {
			return 0, true, fmt.Errorf("deleting %d published events from the outbox: %w", len(acked), err)
		}
		if err := tx.Commit(bctx); err != nil {
			return 0, true, fmt.Errorf("committing the deletion of %d published events: %w", len(acked), err)
		}
		r.published.Add(uint64(len(acked)))
	}
	return len(evs), true, perr
}

// readBatch reads up to batchSize outbox rows in id order.
func readBatch(ctx context.Context, tx pgx.Tx) ([]int64, []Event, error) {
	rows, err := tx.Query(ctx, readBatchSQL, batchSize)
	if err != nil {
		return nil, nil, outboxError(err)
	}
	defer rows.Close()
	ids := make([]int64, 0, batchSize)
	evs := make([]Event, 0, batchSize)
	for rows.Next() {
		var id int64
		var e Event
		if err := rows.Scan(&id, &e.ID, &e.Type, &e.OccurredAt, &e.User.ID, &e.User.Name, &e.User.Email); err != nil {
			return nil, nil, fmt.Errorf("scanning an outbox row: %w", err)
		}
		e.OccurredAt = e.OccurredAt.UTC()
		ids = append(ids, id)
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, outboxError(err)
	}
	return ids, evs, nil
}

// publish publishes evs in order without waiting in between, then waits
// for every confirm, and returns the outbox ids of the events the broker
// acknowledged. The error reports the first publish that failed or was
// not acknowledged; the events after a failed publish are not sent.
func publish(ctx context.Context, ch *amqp.Channel, ids []int64, evs []Event) ([]int64, error) {
	confirms := make([]*amqp.DeferredConfirmation, 0, len(evs))
	var perr error
	for _, e := range evs {
		msg, err := e.Message()
		var dc *amqp.DeferredConfirmation
		if err == nil {
			dc, err = ch.PublishWithDeferredConfirmWithContext(ctx, Exchange, e.Type, false, false, msg)
		}
		if err != nil {
			perr = fmt.Errorf("publishing event %s: %w", e.ID, err)
			break
		}
		confirms = append(confirms, dc)
	}
	acked := make([]int64, 0, len(confirms))
	for i, dc := range confirms {
		ok, err := dc.WaitContext(ctx)
		if err != nil {
			return acked, fmt.Errorf("waiting for the broker to confirm event %s: %w", evs[i].ID, err)
		}
		if !ok {
			if perr == nil {
				perr = fmt.Errorf("the broker did not confirm event %s (nack, or the channel closed)", evs[i].ID)
			}
			continue
		}
		acked = append(acked, ids[i])
	}
	return acked, perr
}

// undefinedTable is PostgreSQL's SQLSTATE for a missing table.
const undefinedTable = "42P01"

// outboxError explains a missing outbox table.
func outboxError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == undefinedTable {
		return fmt.Errorf("the outbox table does not exist: run `user-service migrate up` (migration 00003): %w", err)
	}
	return fmt.Errorf("reading the outbox: %w", err)
}

// closeError turns the broker's close notice into an error; nil means the
// connection was closed without one.
func closeError(e *amqp.Error) error {
	if e == nil {
		return errors.New("connection closed")
	}
	return e
}

// redact returns amqpURL with its password masked, for logs, and the
// secrets (the password, raw and escaped) to scrub from error texts.
func redact(amqpURL string) (string, []string) {
	u, err := url.Parse(amqpURL)
	if err != nil {
		return "(unparsable AMQP_URL)", nil
	}
	p, ok := u.User.Password()
	if !ok || p == "" {
		return u.Redacted(), nil
	}
	return u.Redacted(), []string{p, url.QueryEscape(p), url.PathEscape(p)}
}

// scrub returns err's text with any secret of the URL masked: the client
// library's errors do not carry the password, and this keeps it so.
func (r *Relay) scrub(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, s := range r.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}
