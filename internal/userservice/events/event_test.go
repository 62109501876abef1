package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// TestMessage checks the AMQP properties and the exact body of an event.
func TestMessage(t *testing.T) {
	e := Event{ID: "0b6c5b7e-5d0e-4f4b-9a63-0d3a4f1c2e77", Type: TypeUpdated,
		OccurredAt: time.Date(2026, 12, 2, 5, 8, 34, 123456000, time.UTC),
		User:       users.User{ID: 42, Name: "Ada <Lovelace>", Email: "ada@example.com"}}
	m, err := e.Message()
	if err != nil {
		t.Fatal(err)
	}
	if m.ContentType != "application/json" || m.DeliveryMode != 2 || m.MessageId != e.ID || m.Type != TypeUpdated || !m.Timestamp.Equal(e.OccurredAt) {
		t.Fatalf("properties %+v", m)
	}
	want := `{"id":"0b6c5b7e-5d0e-4f4b-9a63-0d3a4f1c2e77","type":"user.updated","occurred_at":"2026-12-02T05:08:34.123456Z","user":{"id":42,"name":"Ada \u003cLovelace\u003e","email":"ada@example.com"}}`
	if string(m.Body) != want {
		t.Fatalf("body\n%s\nwant\n%s", m.Body, want)
	}
	var back Event
	if err := json.Unmarshal(m.Body, &back); err != nil || back != e {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

// TestRedact checks that the URL logged and the error texts never carry
// the password, raw or escaped.
func TestRedact(t *testing.T) {
	r := NewRelay("amqp://svc:p%40ss%2Fw0rd-hunter2@mq:5672/prod", mustConnConfig(t), nil)
	if strings.Contains(r.redacted, "hunter2") || !strings.Contains(r.redacted, "svc:xxxxx@mq:5672/prod") {
		t.Fatalf("redacted URL %q", r.redacted)
	}
	for _, leak := range []string{"p@ss/w0rd-hunter2", "p%40ss%2Fw0rd-hunter2"} {
		if got := r.scrub(errors.New("dial amqp://svc:" + leak + "@mq: refused")); strings.Contains(got, "hunter2") {
			t.Fatalf("scrubbed error %q still holds the password", got)
		}
	}
	if r := NewRelay("amqp://mq/", mustConnConfig(t), nil); r.redacted != "amqp://mq/" || r.scrub(errors.New("x")) != "x" {
		t.Fatalf("URL without a password: %q", r.redacted)
	}
}

// mustConnConfig returns a PostgreSQL connection configuration that is
// never used to connect.
func mustConnConfig(t *testing.T) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig("postgres://u@127.0.0.1:1/db")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
