package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/amqptest"
	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
)

// TestEventsSurviveBrokerOutage stops the broker, creates 50 users (the
// API and /ready keep working while the outbox fills, as /metrics shows),
// starts the broker again and checks that all 50 events arrive.
func TestEventsSurviveBrokerOutage(t *testing.T) {
	broker := amqptest.StartBroker(t)
	consumer := amqptest.Consume(t, broker.URL, true)
	db := newMigratedDB(t)
	s := startService(t, db, map[string]string{"AMQP_URL": broker.URL})
	s.waitReady(t, http.StatusOK, 10*time.Second)
	s.waitMetric(t, "outbox_relay_connected", func(v float64) bool { return v == 1 }, eventWait)
	broker.Stop()
	s.waitMetric(t, "outbox_relay_connected", func(v float64) bool { return v == 0 }, eventWait)

	tag := testTag()
	ids := createUsers(t, s, tag, 0, 50)
	if len(ids) != 50 {
		t.Fatalf("%d of 50 creates succeeded with the broker down", len(ids))
	}
	s.waitReady(t, http.StatusOK, time.Second)
	s.waitMetric(t, "outbox_pending", func(v float64) bool { return v == 50 }, 5*time.Second)
	s.waitMetric(t, "outbox_oldest_age_seconds", func(v float64) bool { return v > 0 }, 5*time.Second)

	broker.Start()
	consumer.Reconnect()
	msgs := consumer.WaitDistinct(50, taggedCreates(tag), eventWait)
	for _, m := range msgs {
		if !ids[m.Event.User.ID] {
			t.Fatalf("event %+v is for no user this test created", m.Event)
		}
	}
	s.waitMetric(t, "outbox_pending", func(v float64) bool { return v == 0 }, eventWait)
	assertNoPassword(t, broker.URL, s.waitLog(t, "Event relay cannot publish"))
}

// TestTwoReplicasPublishEachEventOnce runs two services on one database
// and broker, spreads 500 creates over both, and checks that every event
// arrives exactly once: the relays take turns, and a row is deleted in
// the transaction that held the turn.
func TestTwoReplicasPublishEachEventOnce(t *testing.T) {
	amqpURL := amqptest.SharedURL(t)
	consumer := amqptest.Consume(t, amqpURL, false)
	db := newMigratedDB(t)
	a := startService(t, db, map[string]string{"AMQP_URL": amqpURL})
	b := startService(t, db, map[string]string{"AMQP_URL": amqpURL})
	a.waitReady(t, http.StatusOK, 10*time.Second)
	b.waitReady(t, http.StatusOK, 10*time.Second)
	tag := testTag()
	var wg sync.WaitGroup
	var idsA, idsB map[int64]bool
	wg.Add(2)
	go func() { defer wg.Done(); idsA = createUsers(t, a, tag, 0, 250) }()
	go func() { defer wg.Done(); idsB = createUsers(t, b, tag, 250, 250) }()
	wg.Wait()
	consumer.WaitDistinct(500, taggedCreates(tag), eventWait)
	msgs := settled(t, a, consumer, taggedCreates(tag))
	if len(idsA)+len(idsB) != 500 || len(msgs) != 500 || amqptest.Distinct(msgs) != 500 {
		t.Fatalf("%d users created, %d messages with %d distinct event ids; want 500 of each (no event published twice)",
			len(idsA)+len(idsB), len(msgs), amqptest.Distinct(msgs))
	}
	t.Logf("published by replica a: %v, by replica b: %v", a.metric(t, "outbox_published_total"),
		b.metric(t, "outbox_published_total"))
}

// TestServeSubprocess is not a test: TestEventSurvivesKill runs the test
// binary again with USER_SERVICE_SUBPROCESS=1 to get a service it can
// kill -9, and this function serves in that process.
func TestServeSubprocess(t *testing.T) {
	if os.Getenv("USER_SERVICE_SUBPROCESS") != "1" {
		t.Skip("runs only as the subprocess of TestEventSurvivesKill")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, []string{"serve"}, os.Getenv, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

// startSubprocess starts the service in a process of its own and waits
// for /health.
func startSubprocess(t *testing.T, dbURL, amqpURL string, logs *syncBuffer) (*exec.Cmd, *service) {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeSubprocess$", "-test.v")
	cmd.Env = append(os.Environ(), "USER_SERVICE_SUBPROCESS=1", "DATABASE_URL="+dbURL, "AMQP_URL="+amqpURL,
		"JWT_SECRET="+testSecret, "SERVER_PORT="+strconv.Itoa(port), "GRPC_PORT=0", "SHUTDOWN_DRAIN=0s")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	s := &service{base: "http://127.0.0.1:" + strconv.Itoa(port), logs: logs}
	token, err := auth.Sign([]byte(testSecret), "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.token = token
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.base + "/health"); err == nil {
			_ = resp.Body.Close()
			return cmd, s
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the service subprocess did not answer /health within 30s")
	return nil, nil
}

// TestEventSurvivesKill kills the service with SIGKILL between the commit
// of a write and the broker's confirm of its event, and checks that the
// event arrives after a restart. A proxy between the service and the
// broker holds back traffic to make the window last: first the confirm
// (the broker has the message, the outbox still has the row), then the
// publish itself (the broker never saw it).
func TestEventSurvivesKill(t *testing.T) {
	amqpURL := amqptest.SharedURL(t)
	consumer := amqptest.Consume(t, amqpURL, false)
	db := newMigratedDB(t)
	for _, lostConfirm := range []bool{true, false} {
		proxy := startHoldingProxy(t, amqpURL)
		logs := &syncBuffer{}
		cmd, s := startSubprocess(t, db, proxy.url(t, amqpURL), logs)
		s.waitMetric(t, "outbox_relay_connected", func(v float64) bool { return v == 1 }, eventWait)
		proxy.hold(lostConfirm)
		tag := testTag()
		r := s.write(t, "POST", "/api/v1/users", `{"name":"Kill","email":"kill@`+tag+`.example.com"}`)
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		if lostConfirm {
			// Published and routed, but the confirm is held back: the row
			// stays in the outbox.
			consumer.WaitDistinct(1, taggedCreates(tag), eventWait)
		} else {
			time.Sleep(300 * time.Millisecond) // the relay tries to publish
		}
		if n := outboxRows(t, db); n != 1 {
			t.Fatalf("before the kill the outbox has %d rows, want the 1 unconfirmed event", n)
		}
		before := len(consumer.Messages(taggedCreates(tag)))
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		proxy.close()

		restarted := startService(t, db, map[string]string{"AMQP_URL": amqpURL})
		msgs := consumer.WaitDistinct(1, taggedCreates(tag), eventWait)
		restarted.waitMetric(t, "outbox_pending", func(v float64) bool { return v == 0 }, eventWait)
		deadline := time.Now().Add(eventWait)
		for len(msgs) <= before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			msgs = consumer.Messages(taggedCreates(tag))
		}
		if len(msgs) != before+1 || amqptest.Distinct(msgs) != 1 {
			t.Fatalf("lost confirm %v: %d messages (%d before the kill), %d distinct; "+
				"want the event delivered once more after the restart", lostConfirm, len(msgs), before, amqptest.Distinct(msgs))
		}
		restarted.stop(t)
		assertNoPassword(t, amqpURL, logs.String()+restarted.logs.String())
	}
}

// holdingProxy forwards TCP connections to a broker and can hold back
// traffic: from the broker only (confirms), or both ways.
type holdingProxy struct {
	ln       net.Listener
	target   string
	holdDown atomic.Bool // broker to client
	holdUp   atomic.Bool // client to broker
	closed   atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

// startHoldingProxy listens on a loopback port and forwards to the host
// and port of amqpURL.
func startHoldingProxy(t *testing.T, amqpURL string) *holdingProxy {
	t.Helper()
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProxy{ln: ln, target: u.Host}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// url returns amqpURL pointed at the proxy.
func (p *holdingProxy) url(t *testing.T, amqpURL string) string {
	u, err := url.Parse(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// hold holds back traffic from the broker, and with downOnly false also
// traffic to it.
func (p *holdingProxy) hold(downOnly bool) {
	p.holdDown.Store(true)
	p.holdUp.Store(!downOnly)
}

// accept forwards each connection until the listener closes.
func (p *holdingProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, b)
		p.mu.Unlock()
		go p.pipe(b, c, &p.holdDown)
		go p.pipe(c, b, &p.holdUp)
	}
}

// pipe copies from src to dst, keeping each chunk while held is set.
func (p *holdingProxy) pipe(src, dst net.Conn, held *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && held.Load() && !p.closed.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			_ = dst.Close()
			return
		}
	}
}

// close stops the proxy and its connections.
func (p *holdingProxy) close() {
	p.closed.Store(true)
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
