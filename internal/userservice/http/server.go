// Package http serves the user service's REST API, health, readiness and
// metrics endpoints.
package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// Store is the repository the handlers use.
type Store interface {
	GetUser(ctx context.Context, id int64) (users.User, error)
	ListUsers(ctx context.Context, limit, offset int64) ([]users.User, error)
	ListUsersAfter(ctx context.Context, after, limit int64) ([]users.User, error)
	CreateUser(ctx context.Context, in users.Input) (users.User, error)
	UpdateUser(ctx context.Context, id int64, in users.Input) (users.User, error)
	DeleteUser(ctx context.Context, id int64) error
}

// Options configures NewHandler.
type Options struct {
	Store     Store
	Verifier  *auth.Verifier
	Readiness *Readiness
	Metrics   *Metrics
	Logger    *slog.Logger
	// AccessLog receives one JSON line per request; nil turns access
	// logging off (as LOG_LEVEL=warn or error does).
	AccessLog            io.Writer
	AuthRequiredForReads bool
	// Wrap, when set, wraps the whole handler (used for tracing).
	Wrap func(http.Handler) http.Handler
}

// Pagination bounds.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	// MaxPageDepth bounds page*limit: a numbered page costs PostgreSQL a
	// scan of every row before it, so deeper reads must use the after
	// cursor, which costs the same at any depth.
	MaxPageDepth = 10000
)

// server holds the handlers' dependencies.
type server struct {
	store  Store
	logger *slog.Logger
}

// NewHandler returns the service's HTTP handler: routes, auth, request IDs,
// one access-log line per request and Prometheus metrics.
func NewHandler(o Options) http.Handler {
	s := &server{store: o.Store, logger: o.Logger}
	write := func(h http.HandlerFunc) http.Handler { return requireAuth(o.Verifier, h) }
	read := func(h http.HandlerFunc) http.Handler {
		if o.AuthRequiredForReads {
			return requireAuth(o.Verifier, h)
		}
		return h
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/users", read(s.listUsers))
	mux.Handle("POST /api/v1/users", write(s.createUser))
	mux.Handle("GET /api/v1/users/{id}", read(s.getUser))
	mux.Handle("PUT /api/v1/users/{id}", write(s.updateUser))
	mux.Handle("DELETE /api/v1/users/{id}", write(s.deleteUser))
	mux.HandleFunc("GET /health", health)
	mux.Handle("GET /ready", o.Readiness)
	mux.Handle("GET /metrics", o.Metrics.Handler())
	mux.Handle("/", fallback(mux))
	h := instrument(mux, newAccessLog(o.AccessLog), o.Metrics)
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	return h
}

// health answers liveness probes without touching the database.
func health(w http.ResponseWriter, _ *http.Request) {
	writeBody(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

// listUsers serves GET /api/v1/users?page=&limit= and
// GET /api/v1/users?after=&limit=.
func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := ParsePage(q.Get("page"), q.Get("limit"), q.Get("after"), RESTPageNames)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list, more, err := p.Fetch(r.Context(), s.store)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b := make([]byte, 0, 96+len(list)*64)
	b = append(b, `{"users":[`...)
	for i, u := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendUser(b, u)
	}
	b = append(b, ']')
	if p.Keyset {
		b = append(b, `,"after":`...)
		b = strconv.AppendInt(b, p.After, 10)
	} else {
		b = append(b, `,"page":`...)
		b = strconv.AppendInt(b, p.Number, 10)
	}
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, p.Limit, 10)
	if more {
		b = append(b, `,"next_after":`...)
		b = strconv.AppendInt(b, list[len(list)-1].ID, 10)
	}
	b = append(b, '}')
	writeBody(w, http.StatusOK, b)
}

// Page is a validated list request: a numbered page, or (Keyset) the
// users whose id is greater than After.
type Page struct {
	Number int64
	After  int64
	Keyset bool
	Limit  int64
}

// PageNames are what an API calls the list parameters, for its error
// messages: REST's query parameters, or gRPC's fields.
type PageNames struct {
	// Prefix comes before a parameter's name where it is the subject of
	// a sentence, as in "query parameter page must be ...".
	Prefix string
	// Page, Limit and After name the parameters; Next names the response
	// field that carries the cursor of the next page.
	Page, Limit, After, Next string
}

// RESTPageNames are the query parameters of GET /api/v1/users.
var RESTPageNames = PageNames{Prefix: "query parameter ", Page: "page", Limit: "limit", After: "after", Next: "next_after"}

// ParsePage validates the page, limit and after parameters, given as
// the decimal strings a client sent ("" when absent), and names them in
// errors as names says. page defaults to 1; limit defaults to
// DefaultLimit and is capped at MaxLimit; page*limit may not exceed
// MaxPageDepth; after excludes page. It holds the list rules for every
// API: gRPC passes its numbers in the same form.
func ParsePage(pageRaw, limitRaw, afterRaw string, names PageNames) (Page, error) {
	p := Page{Number: 1, Limit: DefaultLimit}
	var err error
	if limitRaw != "" {
		p.Limit, err = strconv.ParseInt(limitRaw, 10, 64)
		if err != nil || p.Limit < 1 {
			return Page{}, fieldErrorf(names.Limit, "%s%s must be a positive integer (at most %d is used), got %q", names.Prefix, names.Limit, MaxLimit, limitRaw)
		}
		p.Limit = min(p.Limit, MaxLimit)
	}
	if afterRaw != "" {
		if pageRaw != "" {
			return Page{}, fieldErrorf(names.After, "use either %s or %s, not both", names.Page, names.After)
		}
		p.After, err = strconv.ParseInt(afterRaw, 10, 64)
		if err != nil || p.After < 0 {
			return Page{}, fieldErrorf(names.After, "%s%s must be a user id (an integer, 0 or more), got %q", names.Prefix, names.After, afterRaw)
		}
		p.Number, p.Keyset = 0, true
		return p, nil
	}
	if pageRaw != "" {
		p.Number, err = strconv.ParseInt(pageRaw, 10, 64)
		if err != nil || p.Number < 1 {
			return Page{}, fieldErrorf(names.Page, "%s%s must be a positive integer, got %q", names.Prefix, names.Page, pageRaw)
		}
	}
	if p.Number > MaxPageDepth/p.Limit {
		return Page{}, fieldErrorf(names.Page,
			"%s*%s must be at most %d (got %s %d, %s %d): to read further, pass %s=<the last id you have> instead of %s, and follow %s",
			names.Page, names.Limit, MaxPageDepth, names.Page, p.Number, names.Limit, p.Limit, names.After, names.Page, names.Next)
	}
	return p, nil
}

// Fetch reads the page from st. It reads one row more than the page
// holds, to tell whether more users follow (more): then the id of the
// last user returned is the cursor of the next page.
func (p Page) Fetch(ctx context.Context, st Store) (list []users.User, more bool, err error) {
	if p.Keyset {
		list, err = st.ListUsersAfter(ctx, p.After, p.Limit+1)
	} else {
		list, err = st.ListUsers(ctx, p.Limit+1, (p.Number-1)*p.Limit)
	}
	if err != nil {
		return nil, false, err
	}
	if int64(len(list)) > p.Limit {
		return list[:p.Limit], true, nil
	}
	return list, false, nil
}

// getUser serves GET /api/v1/users/{id}.
func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.store.GetUser(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBody(w, http.StatusOK, appendUser(make([]byte, 0, 96), u))
}

// createUser serves POST /api/v1/users.
func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	in, err := DecodeInput(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.store.CreateUser(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header()["Location"] = []string{"/api/v1/users/" + strconv.FormatInt(u.ID, 10)}
	writeBody(w, http.StatusCreated, appendUser(make([]byte, 0, 96), u))
}

// updateUser serves PUT /api/v1/users/{id}: it replaces name and email.
func (s *server) updateUser(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	in, err := DecodeInput(r.Header.Get("Content-Type"), http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.store.UpdateUser(r.Context(), id, in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeBody(w, http.StatusOK, appendUser(make([]byte, 0, 96), u))
}

// deleteUser serves DELETE /api/v1/users/{id}.
func (s *server) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.DeleteUser(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// parseID parses a user id path segment.
func parseID(raw string) (int64, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, fieldErrorf("id", "user id must be an integer, got %q", raw)
	}
	return id, nil
}

// retryAfter is the Retry-After value, in seconds, of every 503 that an
// error produces.
var retryAfter = []string{"1"}

// fail maps err to a status code and writes {"error": ...}. A 503 carries
// Retry-After. Only errors that are not the client's fault and not the
// database being away (those are counted in metrics) are logged, with the
// request id.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := StatusFor(err)
	switch status {
	case http.StatusInternalServerError:
		s.logger.LogAttrs(r.Context(), slog.LevelError, "Failed to handle request",
			slog.String("route", r.Pattern), slog.String("request_id", w.Header().Get(requestIDHeader)),
			slog.String("error", err.Error()))
	case http.StatusServiceUnavailable:
		w.Header()["Retry-After"] = retryAfter
	}
	writeErrorBody(w, status, msg)
}

// FieldOf returns the request field that err is about ("name", "email",
// "limit", ...), or "" when it is about none.
func FieldOf(err error) string {
	if fe, ok := errors.AsType[*users.FieldError](err); ok {
		return fe.Field
	}
	if he, ok := errors.AsType[*Error](err); ok {
		return he.Field
	}
	return ""
}

// StatusFor maps an error to its HTTP status and client-facing message.
// It is the only place that does: the store turns driver errors into the
// domain errors of package users (a database that is away becomes
// users.ErrUnavailable, hence 503), and anything unknown is a bug (500).
func StatusFor(err error) (int, string) {
	var he *Error
	switch {
	case errors.As(err, &he):
		return he.Status, he.Msg
	case errors.Is(err, users.ErrInvalid):
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), users.ErrInvalid.Error()+": ")
	case errors.Is(err, users.ErrNotFound):
		return http.StatusNotFound, "user not found"
	case errors.Is(err, users.ErrConflict):
		return http.StatusConflict, "a user with this email already exists"
	case errors.Is(err, users.ErrUnavailable):
		return http.StatusServiceUnavailable, "the database is unavailable or too slow right now; retry later"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "request cancelled or timed out; retry later"
	}
	return http.StatusInternalServerError, "internal server error"
}
