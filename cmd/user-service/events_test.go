package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/amqptest"
	"github.com/userservice-dev/userservice-operator/internal/userservice/events"
)

// eventWait bounds every wait for events to arrive.
const eventWait = 60 * time.Second

// testTag returns a random tag that a test puts in its users' email
// domains, so that its consumer can tell its events from those of tests
// running beside it on the shared broker.
func testTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

// taggedCreates keeps the user.created events of users with tag.
func taggedCreates(tag string) func(events.Event) bool {
	return func(e events.Event) bool {
		return e.Type == events.TypeCreated && strings.HasSuffix(e.User.Email, "@"+tag+".example.com")
	}
}

// createUsers creates n users with tag through REST, with a few
// concurrent clients so that inserts share batches, and returns their ids.
func createUsers(t *testing.T, s *service, tag string, from, n int) map[int64]bool {
	t.Helper()
	return createConcurrently(t, from, n, func(i int64) (int64, error) {
		r := s.write(t, "POST", "/api/v1/users", fmt.Sprintf(`{"name":"user %d","email":"u%d@%s.example.com"}`, i, i, tag))
		if r.status != http.StatusCreated {
			return 0, fmt.Errorf("create %d: %d %s", i, r.status, r.body)
		}
		var u user
		r.json(t, &u)
		return u.ID, nil
	})
}

// createUsersGRPC creates n users with tag through gRPC, as createUsers
// does through REST.
func createUsersGRPC(t *testing.T, s *service, tag string, from, n int) map[int64]bool {
	t.Helper()
	c := rpcCaller{conn: s.grpcConn(t), token: s.token}
	return createConcurrently(t, from, n, func(i int64) (int64, error) {
		u, err := c.create(fmt.Sprintf("user %d", i), fmt.Sprintf("u%d@%s.example.com", i, tag))
		return u.GetId(), err
	})
}

// createConcurrently calls create for from..from+n-1 from 8 goroutines and
// returns the ids it answered; a caller stops at its first error.
func createConcurrently(t *testing.T, from, n int, create func(i int64) (int64, error)) map[int64]bool {
	var mu sync.Mutex
	ids := make(map[int64]bool, n)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	next.Store(int64(from))
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(from+n); i = next.Add(1) - 1 {
				id, err := create(i)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ids
}

// waitMetric waits until ok(value of name) holds.
func (s *service) waitMetric(t *testing.T, name string, ok func(float64) bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := s.metric(t, name)
		if v >= 0 && ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (-1: absent) after %s\n%s", name, v, timeout, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startWithEvents starts a consumer on the shared broker and a service
// with events on over a fresh database, and returns them with the
// database's URL and a tag for the test's emails.
func startWithEvents(t *testing.T) (*amqptest.Consumer, *service, string, string) {
	t.Helper()
	amqpURL := amqptest.SharedURL(t)
	consumer := amqptest.Consume(t, amqpURL, false)
	db := newMigratedDB(t)
	s := startService(t, db, map[string]string{"AMQP_URL": amqpURL})
	s.waitReady(t, http.StatusOK, 10*time.Second)
	return consumer, s, db, testTag()
}

// settled waits until s's outbox is empty and any duplicate had time to
// arrive, then returns the messages that match keep.
func settled(t *testing.T, s *service, consumer *amqptest.Consumer, keep func(events.Event) bool) []amqptest.Message {
	t.Helper()
	s.waitMetric(t, "outbox_pending", func(v float64) bool { return v == 0 }, eventWait)
	time.Sleep(time.Second)
	return consumer.Messages(keep)
}

// outboxRows counts the rows in dbURL's outbox.
func outboxRows(t *testing.T, dbURL string) int {
	t.Helper()
	var n int
	if err := connect(t, dbURL).QueryRow(context.Background(), "SELECT count(*) FROM outbox").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertNoPassword fails when logs hold the password of amqpURL.
func assertNoPassword(t *testing.T, amqpURL, logs string) {
	t.Helper()
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := u.User.Password(); ok && p != "" && strings.Contains(logs, p) {
		t.Fatalf("the AMQP_URL password appears in the logs")
	}
}

// TestEventFormat creates, updates and deletes a user and checks the
// three messages: exchange, routing key, properties and body, in commit
// order.
func TestEventFormat(t *testing.T) {
	consumer, s, _, tag := startWithEvents(t)
	before := time.Now().Add(-time.Second)
	r := s.write(t, "POST", "/api/v1/users", `{"name":"Ada","email":"ada@`+tag+`.example.com"}`)
	var u user
	r.json(t, &u)
	s.write(t, "PUT", fmt.Sprintf("/api/v1/users/%d", u.ID), `{"name":"Ada L.","email":"ada.l@`+tag+`.example.com"}`)
	if r := s.write(t, "DELETE", fmt.Sprintf("/api/v1/users/%d", u.ID), ""); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	mine := func(e events.Event) bool { return e.User.ID == u.ID && strings.Contains(e.User.Email, tag) }
	consumer.WaitDistinct(3, mine, eventWait)
	msgs := settled(t, s, consumer, mine)
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3 (no duplicates in the normal path): %+v", len(msgs), msgs)
	}
	want := []struct{ typ, name, email string }{
		{events.TypeCreated, "Ada", "ada@" + tag + ".example.com"},
		{events.TypeUpdated, "Ada L.", "ada.l@" + tag + ".example.com"},
		{events.TypeDeleted, "Ada L.", "ada.l@" + tag + ".example.com"},
	}
	for i, m := range msgs {
		w := want[i]
		e := m.Event
		if m.DecodeError != nil || m.Exchange != events.Exchange || m.RoutingKey != w.typ ||
			m.ContentType != "application/json" ||
			m.DeliveryMode != 2 || m.MessageID != e.ID || e.Type != w.typ {
			t.Fatalf("message %d: %+v (body %s), want %s on %s, persistent JSON, message_id = event id", i, m,
				m.Body, w.typ, events.Exchange)
		}
		if e.User.Name != w.name || e.User.Email != w.email || e.OccurredAt.Before(before) || e.OccurredAt.After(time.Now()) {
			t.Fatalf("message %d carries %+v, want %+v", i, e, w)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(m.Body, &fields); err != nil || len(fields) != 4 ||
			!strings.HasSuffix(string(fields["occurred_at"]), `Z"`) {
			t.Fatalf("body %s: want exactly id, type, occurred_at (UTC) and user", m.Body)
		}
	}
	if amqptest.Distinct(msgs) != 3 {
		t.Fatalf("messages %+v: want 3 distinct event ids", msgs)
	}
}

// TestEventsKeepCommitOrderPerUser updates each of a few users many times
// from two clients at once and checks that, per user, one event arrives
// for every update that succeeded, their occurred_at increases, and the
// last one delivered is the state the database kept: events follow commit
// order for each user.
func TestEventsKeepCommitOrderPerUser(t *testing.T) {
	consumer, s, db, tag := startWithEvents(t)
	ids := createUsers(t, s, tag, 0, 10)
	var wg sync.WaitGroup
	var updates sync.Map // user id -> *atomic.Int64
	for id := range ids {
		updates.Store(id, &atomic.Int64{})
		for c := range 2 {
			wg.Go(func() {
				for i := range 10 {
					body := fmt.Sprintf(`{"name":"v%d-%d","email":"o%d-%d-%d@%s.example.com"}`, c, i, id, c, i, tag)
					if r := s.write(t, "PUT", fmt.Sprintf("/api/v1/users/%d", id), body); r.status == http.StatusOK {
						n, _ := updates.Load(id)
						n.(*atomic.Int64).Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	isUpdate := func(e events.Event) bool {
		return e.Type == events.TypeUpdated && ids[e.User.ID] && strings.Contains(e.User.Email, tag)
	}
	consumer.WaitDistinct(len(ids)*20, isUpdate, eventWait)
	last := map[int64]events.Event{}
	count := map[int64]int64{}
	for _, m := range consumer.Messages(isUpdate) {
		prev, seen := last[m.Event.User.ID]
		if seen && !m.Event.OccurredAt.After(prev.OccurredAt) {
			t.Fatalf("user %d: event %s at %s delivered after event %s at %s", m.Event.User.ID,
				m.Event.ID, m.Event.OccurredAt.Format(time.RFC3339Nano), prev.ID, prev.OccurredAt.Format(time.RFC3339Nano))
		}
		last[m.Event.User.ID] = m.Event
		count[m.Event.User.ID]++
	}
	conn := connect(t, db)
	for id := range ids {
		var name, email string
		if err := conn.QueryRow(context.Background(),
			"SELECT name, email FROM users WHERE id = $1", id).Scan(&name, &email); err != nil {
			t.Fatal(err)
		}
		n, _ := updates.Load(id)
		if count[id] != n.(*atomic.Int64).Load() || last[id].User.Name != name || last[id].User.Email != email {
			t.Fatalf("user %d: %d update events, last %+v; want %d, ending with the stored %s %s",
				id, count[id], last[id].User, n.(*atomic.Int64).Load(), name, email)
		}
	}
}

// TestNoEventsWithoutAMQPURL checks that with AMQP_URL unset writes leave
// no outbox rows and /metrics has no outbox series.
func TestNoEventsWithoutAMQPURL(t *testing.T) {
	db := newMigratedDB(t)
	s := startService(t, db, nil)
	s.seed(t, 3)
	if n := outboxRows(t, db); n != 0 {
		t.Fatalf("%d outbox rows with AMQP_URL unset, want 0", n)
	}
	if s.metric(t, "outbox_pending") != -1 {
		t.Fatalf("/metrics has outbox_pending with events off")
	}
}

// TestEveryRESTAndGRPCCreatePublishesOneEvent creates 200 users, 100
// through REST and 100 through gRPC at the same time (concurrently, so
// inserts share batches), and checks that exactly 200 distinct
// user.created events arrive, one per user and none twice.
func TestEveryRESTAndGRPCCreatePublishesOneEvent(t *testing.T) {
	consumer, s, _, tag := startWithEvents(t)
	var viaGRPC map[int64]bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		viaGRPC = createUsersGRPC(t, s, tag, 100, 100)
	}()
	ids := createUsers(t, s, tag, 0, 100)
	<-done
	maps.Copy(ids, viaGRPC)
	consumer.WaitDistinct(200, taggedCreates(tag), eventWait)
	msgs := settled(t, s, consumer, taggedCreates(tag))
	if len(ids) != 200 || len(msgs) != 200 || amqptest.Distinct(msgs) != 200 {
		t.Fatalf("%d users created, %d messages with %d distinct event ids; want 200 of each", len(ids), len(msgs),
			amqptest.Distinct(msgs))
	}
	for _, m := range msgs {
		if !ids[m.Event.User.ID] {
			t.Fatalf("event %+v is for no user this test created", m.Event)
		}
	}
}
