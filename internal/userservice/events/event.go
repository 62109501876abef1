// Package events publishes the user service's events to RabbitMQ from the
// transactional outbox that the store writes (see store.WithOutbox). A
// Relay reads the outbox in id order, publishes each event with publisher
// confirms and deletes a row only after the broker has confirmed it.
package events

import (
	"encoding/json"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// Exchange is the durable topic exchange the events are published to.
const Exchange = "user_events"

// Event types; each is also the routing key of its messages.
const (
	TypeCreated = "user.created"
	TypeUpdated = "user.updated"
	TypeDeleted = "user.deleted"
)

// Event is one change of a user: the body of its message.
type Event struct {
	// ID identifies the event (a UUID); it is also the message's
	// message_id. A message delivered twice has the same ID: consumers
	// deduplicate by it.
	ID   string `json:"id"`
	Type string `json:"type"`
	// OccurredAt is when the change was written, in UTC, by the
	// database's clock; for one user it increases in commit order.
	OccurredAt time.Time `json:"occurred_at"`
	// User is the user as the change left it; for user.deleted, as it
	// was before the delete.
	User users.User `json:"user"`
}

// Message returns the AMQP message of e: a persistent JSON message whose
// message_id is the event id, published with routing key e.Type.
func (e Event) Message() (amqp.Publishing, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return amqp.Publishing{}, err
	}
	return amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    e.ID,
		Timestamp:    e.OccurredAt,
		Type:         e.Type,
		AppId:        "user-service",
		Body:         body,
	}, nil
}
