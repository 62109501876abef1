package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/userservice-dev/userservice-operator/internal/userservice/config"
	"github.com/userservice-dev/userservice-operator/internal/userservice/events"
	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/store"
)

// eventsRuntime is what serve adds when AMQP_URL is set: the store option
// that makes every write insert its event into the outbox, the outbox
// metrics, and the relay that publishes the outbox.
type eventsRuntime struct {
	storeOptions []store.Option
	collectors   []prometheus.Collector
	// stop ends the relay, letting a batch in progress finish.
	stop func()
}

// startEvents starts the outbox relay when AMQP_URL is set; otherwise no
// outbox row is written and nothing is published. The relay runs until
// stop is called (after the HTTP server has stopped, so that it keeps
// publishing what requests write while they drain), whatever happens to
// ctx.
func startEvents(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger) eventsRuntime {
	if cfg.AMQPURL == "" {
		return eventsRuntime{stop: func() {}}
	}
	relay := events.NewRelay(cfg.AMQPURL, pool.Config().ConnConfig, logger)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		relay.Run(rctx)
	}()
	return eventsRuntime{
		storeOptions: []store.Option{store.WithOutbox(relay.Notify)},
		collectors:   []prometheus.Collector{relay.Collector(pool)},
		stop: func() {
			cancel()
			<-done
		},
	}
}

// requiredSchema is the schema version serve needs: the outbox table's
// when events are on.
func requiredSchema(cfg config.Config) int64 {
	if cfg.AMQPURL != "" {
		return migrations.RequiredVersionEvents
	}
	return migrations.RequiredVersion
}
