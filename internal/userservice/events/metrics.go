package events

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// statsTimeout bounds the query behind a scrape; a scrape that cannot
// read the outbox in time reports the relay's own series only.
const statsTimeout = time.Second

// statsSQL counts the outbox rows and the age of the oldest, by the
// database's clock.
const statsSQL = `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(occurred_at)), 0)::float8 FROM outbox`

// Querier runs a query that returns one row, such as *pgxpool.Pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// collector exports the outbox backlog and the relay's state.
type collector struct {
	relay                *Relay
	db                   Querier
	pending, oldest      *prometheus.Desc
	published, connected *prometheus.Desc
}

// Collector returns a Prometheus collector of the outbox backlog, read
// through db at each scrape (outbox_pending, outbox_oldest_age_seconds),
// and of r's state (outbox_published_total, outbox_relay_connected).
func (r *Relay) Collector(db Querier) prometheus.Collector {
	return &collector{
		relay: r,
		db:    db,
		pending: prometheus.NewDesc("outbox_pending",
			"Events in the outbox waiting to be published, all replicas together.", nil, nil),
		oldest: prometheus.NewDesc("outbox_oldest_age_seconds",
			"Age of the oldest event waiting in the outbox (0 when it is empty).", nil, nil),
		published: prometheus.NewDesc("outbox_published_total",
			"Events this process published and the broker confirmed.", nil, nil),
		connected: prometheus.NewDesc("outbox_relay_connected",
			"1 while this process's relay is connected to RabbitMQ and PostgreSQL, else 0.", nil, nil),
	}
}

// Describe sends the descriptors.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldest
	ch <- c.published
	ch <- c.connected
}

// Collect reads the backlog and sends every series; when the database
// does not answer within statsTimeout, the backlog series are left out
// rather than failing the whole scrape.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	var pending int64
	var age float64
	if err := c.db.QueryRow(ctx, statsSQL).Scan(&pending, &age); err == nil {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	}
	ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(c.relay.Published()))
	connected := 0.0
	if c.relay.Connected() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, connected)
}
