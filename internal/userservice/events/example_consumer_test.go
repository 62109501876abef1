package events_test

import (
	"context"
	"encoding/json"
	"log"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// userEvent is the body of a user event.
type userEvent struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurred_at"`
	User       struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"user"`
}

// apply is the consumer's own change for an event, made in tx.
func apply(ctx context.Context, tx pgx.Tx, e userEvent) error {
	_, err := tx.Exec(ctx, `INSERT INTO mailing_list (user_id, email) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET email = excluded.email`, e.User.ID, e.User.Email)
	return err
}

// Example_consumer consumes user events exactly once in effect: delivery is
// at least once, so the consumer records each event id in the same
// transaction as its own change, and skips an id it has seen. (The
// consumer's database needs `CREATE TABLE processed_events (event_id uuid
// PRIMARY KEY)`.) It is the example in docs/events.md.
func Example_consumer() {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, "postgres://consumer@db/consumer")
	if err != nil {
		log.Fatal(err)
	}
	conn, err := amqp.Dial("amqp://consumer:secret@rabbitmq:5672/")
	if err != nil {
		log.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		log.Fatal(err)
	}
	// A durable queue of your own, bound to the events you want.
	q, err := ch.QueueDeclare("mailing.user-events", true, false, false, false, nil)
	if err == nil {
		err = ch.QueueBind(q.Name, "user.created", "user_events", false, nil)
	}
	if err == nil {
		err = ch.Qos(50, 0, false)
	}
	deliveries, err2 := ch.Consume(q.Name, "", false, false, false, false, nil)
	if err != nil || err2 != nil {
		log.Fatal(err, err2)
	}
	for d := range deliveries {
		var e userEvent
		if err := json.Unmarshal(d.Body, &e); err != nil {
			_ = d.Nack(false, false) // unreadable: drop it (or dead-letter it)
			continue
		}
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO processed_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, e.ID)
			if err != nil || tag.RowsAffected() == 0 {
				return err // nil for a duplicate: already applied
			}
			return apply(ctx, tx, e)
		})
		if err != nil {
			_ = d.Nack(false, true) // not applied: deliver it again later
			continue
		}
		_ = d.Ack(false)
	}
}
