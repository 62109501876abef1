package http

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
)

// requestIDHeader is honoured on requests and echoed on responses.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds an incoming X-Request-ID that is reused.
const maxRequestIDLen = 128

// recorder captures the status code and body size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

// WriteHeader records the status before passing it on.
func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

// Write records the body size, defaulting the status to 200.
func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

var recorders = sync.Pool{New: func() any { return new(recorder) }}

// instrument assigns the request id, then after the handler runs writes
// one access-log line and records metrics by route and status code.
func instrument(next http.Handler, log *accessLog, m *Metrics) http.Handler {
	ids := newIDGenerator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			id = ids.next()
		}
		w.Header()[requestIDHeader] = []string{id}
		rec := recorders.Get().(*recorder)
		rec.ResponseWriter, rec.status, rec.bytes = w, 0, 0
		next.ServeHTTP(rec, r)
		status, size := rec.status, rec.bytes
		if status == 0 {
			status = http.StatusOK
		}
		rec.ResponseWriter = nil
		recorders.Put(rec)
		elapsed := time.Since(start)
		route := routeOf(r.Pattern)
		m.observe(r.Method, route, status, elapsed)
		log.write(entry{start: start, elapsed: elapsed, method: r.Method, route: route,
			status: status, bytes: size, requestID: id})
	})
}

// routeOf turns a ServeMux pattern like "GET /api/v1/users/{id}" into the
// route label "/api/v1/users/{id}"; unmatched requests share one label.
func routeOf(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// validRequestID accepts short ids of visible ASCII characters, so that a
// client cannot inject anything into logs or headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' || id[i] == '"' || id[i] == '\\' {
			return false
		}
	}
	return true
}

// idGenerator makes unique request ids: a random per-process prefix and a
// counter, which is far cheaper than random bytes per request.
type idGenerator struct {
	prefix string
	n      atomic.Uint64
}

// newIDGenerator seeds a generator with 6 random bytes.
func newIDGenerator() *idGenerator {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &idGenerator{prefix: hex.EncodeToString(b[:]) + "-"}
}

// next returns a new id.
func (g *idGenerator) next() string {
	buf := make([]byte, 0, len(g.prefix)+20)
	buf = append(buf, g.prefix...)
	return string(strconv.AppendUint(buf, g.n.Add(1), 10))
}

// requireAuth rejects requests without a valid bearer token with 401 and
// a WWW-Authenticate challenge.
func requireAuth(v *auth.Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if err := Authorize(v, header); err != nil {
			challenge := `Bearer realm="user-service"`
			if token, _ := auth.BearerToken(header); token != "" {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeErrorBody(w, err.Status, err.Msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Authorize checks the value of an Authorization header (gRPC's
// authorization metadata), and returns a 401 *Error saying what is wrong
// when it does not carry a valid bearer token.
func Authorize(v *auth.Verifier, header string) *Error {
	token, err := auth.BearerToken(header)
	if err == nil {
		err = v.Verify(token)
	}
	if err != nil {
		return errorf(http.StatusUnauthorized, "a valid bearer token is required: %s", err)
	}
	return nil
}
