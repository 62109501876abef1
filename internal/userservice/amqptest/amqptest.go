// Package amqptest gives tests a real RabbitMQ: the shared broker named by
// AMQP_TEST_URL (see hack/with-rabbitmq.sh), or a private broker that a
// test may stop and start (hack/rabbitmq.sh), and a consumer of the user
// events.
package amqptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/userservice-dev/userservice-operator/internal/testenv"
	"github.com/userservice-dev/userservice-operator/internal/userservice/events"
)

// unavailable skips the test, or fails it under CI=true, because the
// broker is missing.
func unavailable(t testing.TB, why string) {
	t.Helper()
	testenv.Unavailable(t, why+"; install rabbitmq-server (apt-get install -y rabbitmq-server) and run the tests through hack/with-rabbitmq.sh (make test) to include them")
}

// SharedURL returns AMQP_TEST_URL, or skips (fails under CI) when unset.
func SharedURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("AMQP_TEST_URL")
	if u == "" {
		unavailable(t, "AMQP_TEST_URL is not set")
	}
	return u
}

// Broker is a private broker that a test may stop (keeping its durable
// queues and persistent messages) and start.
type Broker = testenv.Server

// StartBroker starts a private broker with hack/rabbitmq.sh and destroys
// it when the test ends.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	if _, err := os.Stat("/usr/lib/rabbitmq/bin/rabbitmq-server"); err != nil {
		unavailable(t, "rabbitmq-server is not installed")
	}
	if os.Geteuid() != 0 {
		unavailable(t, "a private RabbitMQ broker needs root (to run it as the rabbitmq user)")
	}
	return testenv.StartServer(t, "hack/rabbitmq.sh", "private RabbitMQ broker")
}

// Message is one delivered event with the properties the tests check.
type Message struct {
	Exchange, RoutingKey   string
	MessageID, ContentType string
	DeliveryMode           uint8
	Body                   []byte
	Event                  events.Event
	DecodeError            error
}

// Consumer collects the user events routed to one queue.
type Consumer struct {
	t       testing.TB
	url     string
	queue   string
	durable bool
	conn    *amqp.Connection

	mu   sync.Mutex
	msgs []Message
}

// Consume declares the events exchange and a queue bound to every user
// event, and collects what arrives. A durable queue survives a broker
// restart (call Reconnect after it); otherwise the queue is exclusive to
// this consumer. The consumer stops when the test ends.
func Consume(t testing.TB, url string, durable bool) *Consumer {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	c := &Consumer{t: t, url: url, queue: "test-" + hex.EncodeToString(b[:]), durable: durable}
	c.connect()
	t.Cleanup(func() {
		if c.conn != nil {
			_ = c.conn.Close()
		}
	})
	return c
}

// Reconnect connects again, after a broker restart, and resumes consuming
// the same durable queue.
func (c *Consumer) Reconnect() {
	c.t.Helper()
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.connect()
}

// connect opens a connection and a channel, declares and binds the queue,
// and starts collecting deliveries.
func (c *Consumer) connect() {
	c.t.Helper()
	conn, err := amqp.Dial(c.url)
	if err != nil {
		c.t.Fatalf("consumer: connecting to RabbitMQ: %v", err)
	}
	c.conn = conn
	ch, err := conn.Channel()
	if err != nil {
		c.t.Fatalf("consumer: opening a channel: %v", err)
	}
	if err := ch.ExchangeDeclare(events.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		c.t.Fatalf("consumer: declaring the exchange: %v", err)
	}
	if _, err := ch.QueueDeclare(c.queue, c.durable, false, !c.durable, false, nil); err != nil {
		c.t.Fatalf("consumer: declaring queue %s: %v", c.queue, err)
	}
	if err := ch.QueueBind(c.queue, "user.*", events.Exchange, false, nil); err != nil {
		c.t.Fatalf("consumer: binding queue %s: %v", c.queue, err)
	}
	deliveries, err := ch.Consume(c.queue, "", true, !c.durable, false, false, nil)
	if err != nil {
		c.t.Fatalf("consumer: consuming queue %s: %v", c.queue, err)
	}
	go func() {
		for d := range deliveries {
			m := Message{Exchange: d.Exchange, RoutingKey: d.RoutingKey, MessageID: d.MessageId,
				ContentType: d.ContentType, DeliveryMode: d.DeliveryMode, Body: d.Body}
			m.DecodeError = json.Unmarshal(d.Body, &m.Event)
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
}

// Messages returns the messages received so far whose event matches keep
// (every message when keep is nil), in arrival order.
func (c *Consumer) Messages(keep func(events.Event) bool) []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Message
	for _, m := range c.msgs {
		if keep == nil || keep(m.Event) {
			out = append(out, m)
		}
	}
	return out
}

// WaitDistinct waits until n distinct event ids matching keep have
// arrived, failing the test after timeout, and returns the matching
// messages.
func (c *Consumer) WaitDistinct(n int, keep func(events.Event) bool, timeout time.Duration) []Message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		msgs := c.Messages(keep)
		if Distinct(msgs) >= n {
			return msgs
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%d distinct events arrived within %s, want %d", Distinct(msgs), timeout, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Distinct counts the distinct event ids among msgs.
func Distinct(msgs []Message) int {
	seen := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		seen[m.Event.ID] = true
	}
	return len(seen)
}
