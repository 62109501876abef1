package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	"github.com/userservice-dev/userservice-operator/internal/userservice/config"
	api "github.com/userservice-dev/userservice-operator/internal/userservice/http"
	"github.com/userservice-dev/userservice-operator/internal/userservice/migrations"
	"github.com/userservice-dev/userservice-operator/internal/userservice/rpc"
	"github.com/userservice-dev/userservice-operator/internal/userservice/store"
	"github.com/userservice-dev/userservice-operator/internal/userservice/telemetry"
)

// version is the service version reported in traces.
const version = "0.1.0"

// logFlushInterval is how often buffered log lines are written out.
const logFlushInterval = 100 * time.Millisecond

// idleMemoryInterval is how long the service must be quiet before it
// returns freed memory to the operating system.
const idleMemoryInterval = 5 * time.Second

// exitStepTimeout bounds each step that may wait at exit once the HTTP
// server has stopped: closing the readiness connection, closing the pool
// and flushing spans. The steps run one after another, so with the log
// flush they fit in the 1 s that the process may take beyond
// SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT.
const exitStepTimeout = 250 * time.Millisecond

// Server timeouts.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
)

// usage returns the text of user-service --help.
func usage() string {
	return config.Usage()
}

// serve runs the HTTP server, and the gRPC server unless GRPC_PORT is 0,
// until ctx ends, then shuts down gracefully: readiness turns 503, the
// servers keep serving for SHUTDOWN_DRAIN, then stop within
// SHUTDOWN_TIMEOUT, and the pool is closed.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	logs := telemetry.NewBufferedWriter(stdout, logFlushInterval)
	defer func() { _ = logs.Close() }()
	logger := telemetry.NewLogger(logs, cfg.LogLevel)
	var tracer pgx.QueryTracer
	var wrap func(http.Handler) http.Handler
	if cfg.OTLPEndpoint != "" {
		shutdown, err := telemetry.SetupTracing(ctx, cfg.OTLPEndpoint, version)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exitStepTimeout)
			defer cancel()
			_ = shutdown(sctx)
		}()
		tracer = telemetry.NewQueryTracer()
		wrap = traceHandler
	}
	pool, err := store.NewPool(ctx, cfg.DatabaseURL, store.PoolOptions{MaxConns: cfg.MaxConns, MinConns: cfg.MinConns,
		Tracer: tracer, StatementTimeout: cfg.StatementTimeout})
	if err != nil {
		return err
	}
	defer closeWithin(exitStepTimeout, pool.Close, logger)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return fmt.Errorf("listening on SERVER_PORT %d: %w", cfg.Port, err)
	}
	grpcLn, err := listenGRPC(cfg.GRPCPort)
	if err != nil {
		_ = ln.Close()
		return err
	}
	ev := startEvents(ctx, cfg, pool, logger)
	st := store.Open(pool, store.DefaultWorkers(int(pool.Config().MaxConns)), ev.storeOptions...)
	defer st.Close()
	defer closeWithin(exitStepTimeout, ev.stop, logger)
	rpcMetrics := rpc.NewMetrics()
	metrics := api.NewMetrics(append([]prometheus.Collector{telemetry.NewPoolCollector(pool), st.Collector(), rpcMetrics},
		ev.collectors...)...)
	go telemetry.ReleaseMemoryWhenIdle(ctx,
		func() uint64 { return metrics.Handled() + rpcMetrics.Handled() }, idleMemoryInterval)
	probe := store.NewProbe(pool)
	defer closeWithin(exitStepTimeout, probe.Close, logger)
	ready := api.NewReadiness(probe.Ping, schemaVersion(probe), requiredSchema(cfg), logger)
	verifier := auth.NewVerifier(cfg.JWTSecret)
	handler := api.NewHandler(api.Options{
		Store: st, Verifier: verifier, Readiness: ready,
		Metrics: metrics, Logger: logger,
		AuthRequiredForReads: cfg.AuthRequiredForReads, Wrap: wrap, AccessLog: accessLogWriter(cfg.LogLevel, logs),
	})
	draining := new(atomic.Bool)
	servers := []server{{name: "HTTP", ln: ln, srv: newHTTPServer(closeWhileDraining(handler, draining), logger)}}
	if grpcLn != nil {
		g, err := grpcServer(grpcLn, rpc.Options{Store: st, Verifier: verifier, Readiness: ready, Metrics: rpcMetrics,
			Logger: logger, AuthRequiredForReads: cfg.AuthRequiredForReads, Tracing: wrap != nil}, logger)
		if err != nil {
			_ = ln.Close()
			_ = grpcLn.Close()
			return err
		}
		servers = append(servers, g)
	}
	go startupChecks(ctx, pool, ready, logger)
	return serveUntilDone(ctx, servers, ready, draining, cfg, logger)
}

// schemaVersion returns a function that reads the schema version through
// probe, like its pings, so that readiness never waits for the pool.
func schemaVersion(probe *store.Probe) func(context.Context) (int64, error) {
	return func(ctx context.Context) (v int64, err error) {
		err = probe.Do(ctx, func(c *pgx.Conn) error {
			v, err = migrations.Version(ctx, c)
			return err
		})
		return v, err
	}
}

// accessLogWriter returns w when access lines (level info) are wanted at
// level, and nil otherwise.
func accessLogWriter(level string, w io.Writer) io.Writer {
	if level == "debug" || level == "info" {
		return w
	}
	return nil
}

// traceHandler wraps h with OpenTelemetry server spans named by method
// and route (otelhttp renames the span once the mux has matched a route).
func traceHandler(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "http.server", otelhttp.WithSpanNameFormatter(
		func(_ string, r *http.Request) string {
			if r.Pattern != "" {
				return r.Pattern
			}
			return r.Method
		}))
}

// startupChecks waits for the database with backoff, then logs whether
// the schema is recent enough.
func startupChecks(ctx context.Context, pool *pgxpool.Pool, ready *api.Readiness, logger *slog.Logger) {
	if err := store.WaitForDatabase(ctx, pool, store.DefaultBackoff, logger); err != nil {
		return
	}
	if err := ready.Check(ctx); err == nil {
		logger.Info("Service is ready", "schema_required", migrations.RequiredVersion)
	}
}

// server is one of the service's servers and the socket it serves.
type server struct {
	name string // "HTTP" or "gRPC", in logs and errors
	ln   net.Listener
	srv  *http.Server
}

// newHTTPServer returns a server for h with the service's timeouts.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveUntilDone runs every server until ctx ends, then drains and shuts
// them down together: readiness (and so the gRPC health service) turns
// not ready and draining is set, they keep serving for SHUTDOWN_DRAIN, and
// then finish their requests within SHUTDOWN_TIMEOUT. (gRPC clients need no
// Connection: close: Shutdown's HTTP/2 GOAWAY makes them retry the calls
// it refuses on a new connection.)
func serveUntilDone(ctx context.Context, servers []server, ready *api.Readiness, draining *atomic.Bool,
	cfg config.Config, logger *slog.Logger) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serving %s: %w", s.name, err)
				return
			}
			errc <- nil
		}()
		logger.Info("Started "+s.name+" server", "addr", s.ln.Addr().String())
	}
	select {
	case err := <-errc:
		for _, s := range servers {
			_ = s.srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	ready.ShuttingDown()
	draining.Store(true)
	logger.Info("Received shutdown signal; draining", "drain", cfg.ShutdownDrain.String())
	time.Sleep(cfg.ShutdownDrain)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := shutdownAll(sctx, servers, cfg, logger); err != nil {
		return err
	}
	for range servers {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// shutdownAll shuts the servers down at the same time, each finishing its
// requests until ctx ends. A server with requests still running then is
// closed forcibly: closing the connections cancels the requests' contexts,
// which cancels their statements and gives their connections back.
func shutdownAll(ctx context.Context, servers []server, cfg config.Config, logger *slog.Logger) error {
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() { errs[i] = s.srv.Shutdown(ctx) })
	}
	wg.Wait()
	var cut error
	for i, s := range servers {
		if errs[i] == nil {
			logger.Info("Stopped " + s.name + " server")
			continue
		}
		_ = s.srv.Close()
		logger.Warn("Closed "+s.name+" server forcibly: requests were still running after SHUTDOWN_TIMEOUT",
			"shutdown_timeout", cfg.ShutdownTimeout.String())
		if cut == nil {
			cut = fmt.Errorf("requests still running after SHUTDOWN_TIMEOUT %s were cut off: %w", cfg.ShutdownTimeout, errs[i])
		}
	}
	return cut
}

// closeWithin runs closeFn, waiting for it at most d: a connection still
// held by a request that was cut off must not keep the process alive, and
// it closes with the process anyway.
func closeWithin(d time.Duration, closeFn func(), logger *slog.Logger) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		closeFn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		logger.Warn("Gave up waiting for database connections still in use; exiting anyway", "waited", d.String())
	}
}

// closeWhileDraining answers every request with Connection: close once
// draining is set. A client's keep-alive connection stays pinned to this
// instance (a Service's connection tracking keeps it there) even after the
// instance has left the endpoints; closing it after a complete response
// makes the client reconnect to a ready instance, instead of finding the
// connection closed under it by Shutdown. Idle connections are not closed
// early: a client may be sending on one at that moment.
func closeWhileDraining(h http.Handler, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}
