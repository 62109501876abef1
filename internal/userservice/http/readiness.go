package http

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// PingTimeout bounds each check behind /ready: the ping, and reading the
// schema version. The checks run on a connection of their own (see
// store.Probe), so a pool busy with slow requests does not delay them.
const PingTimeout = time.Second

// SchemaRecheckInterval is how long a schema version found good is trusted
// before /ready reads it again (a cheap query). A failed ping also forgets
// it, since the database may come back restored to an older schema.
const SchemaRecheckInterval = 10 * time.Second

// Readiness answers /ready: 503 while shutting down, while the database
// does not answer a ping, and while its schema is older than the binary
// needs (checked again every SchemaRecheckInterval and after a failed
// ping).
type Readiness struct {
	ping     func(context.Context) error
	version  func(context.Context) (int64, error)
	required int64
	logger   *slog.Logger

	now      func() time.Time
	shutting atomic.Bool
	// schemaOKAt is when the schema version was last found good, in Unix
	// nanoseconds; 0 means it must be read on the next check.
	schemaOKAt atomic.Int64
}

// NewReadiness returns a Readiness that pings with ping and reads the
// schema version with version until it reaches required.
func NewReadiness(ping func(context.Context) error, version func(context.Context) (int64, error), required int64, logger *slog.Logger) *Readiness {
	return &Readiness{ping: ping, version: version, required: required, logger: logger, now: time.Now}
}

// ShuttingDown makes /ready answer 503 from now on.
func (rd *Readiness) ShuttingDown() {
	rd.shutting.Store(true)
}

// Check returns nil when the service is ready, or the reason it is not.
func (rd *Readiness) Check(ctx context.Context) *Error {
	if rd.shutting.Load() {
		return errorf(http.StatusServiceUnavailable, "shutting down")
	}
	ctx, cancel := context.WithTimeout(ctx, PingTimeout)
	defer cancel()
	if err := rd.ping(ctx); err != nil {
		rd.schemaOKAt.Store(0)
		rd.logger.LogAttrs(ctx, slog.LevelWarn, "Database ping failed; reporting not ready", slog.String("error", err.Error()))
		return errorf(http.StatusServiceUnavailable, "database unavailable")
	}
	now := rd.now()
	if at := rd.schemaOKAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) < SchemaRecheckInterval {
		return nil
	}
	v, err := rd.version(ctx)
	if err != nil {
		rd.logger.LogAttrs(ctx, slog.LevelWarn, "Reading the schema version failed; reporting not ready", slog.String("error", err.Error()))
		return errorf(http.StatusServiceUnavailable, "database schema version unknown")
	}
	if v < rd.required {
		rd.logger.LogAttrs(ctx, slog.LevelWarn, "Database schema is older than this binary needs; reporting not ready until `user-service migrate up` runs",
			slog.Int64("schema_version", v), slog.Int64("required_version", rd.required))
		return errorf(http.StatusServiceUnavailable, "database schema is older than required; run migrations")
	}
	rd.schemaOKAt.Store(now.UnixNano())
	return nil
}

// ServeHTTP answers /ready.
func (rd *Readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := rd.Check(r.Context()); err != nil {
		writeErrorBody(w, err.Status, err.Msg)
		return
	}
	writeBody(w, http.StatusOK, []byte(`{"status":"ready"}`))
}
