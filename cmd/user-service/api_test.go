package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
)

// user mirrors the API's user object.
type user struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// TestCRUD walks a user through create, read, replace and delete.
func TestCRUD(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	s.waitReady(t, http.StatusOK, 10*time.Second)

	r := s.write(t, "POST", "/api/v1/users", `{"name":"  Ada Lovelace ","email":"ada@example.com"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST status %d body %s", r.status, r.body)
	}
	var created user
	r.json(t, &created)
	if created.ID <= 0 || created.Name != "Ada Lovelace" || created.Email != "ada@example.com" {
		t.Fatalf("created %+v, want trimmed name and the email", created)
	}
	if loc := r.header.Get("Location"); loc != fmt.Sprintf("/api/v1/users/%d", created.ID) {
		t.Fatalf("Location %q", loc)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}

	path := fmt.Sprintf("/api/v1/users/%d", created.ID)
	r = s.do(t, "GET", path, "")
	var got user
	r.json(t, &got)
	if r.status != http.StatusOK || got != created {
		t.Fatalf("GET %d %+v, want 200 %+v", r.status, got, created)
	}

	r = s.write(t, "PUT", path, `{"name":"Ada King","email":"ada.king@example.com"}`)
	r.json(t, &got)
	if r.status != http.StatusOK || got != (user{created.ID, "Ada King", "ada.king@example.com"}) {
		t.Fatalf("PUT %d %+v", r.status, got)
	}
	if r = s.do(t, "GET", path, ""); !strings.Contains(string(r.body), "ada.king@example.com") {
		t.Fatalf("GET after PUT: %s", r.body)
	}

	if r = s.write(t, "DELETE", path, ""); r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("DELETE %d %q, want 204 and no body", r.status, r.body)
	}
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		body := ""
		if method == "PUT" {
			body = `{"name":"x","email":"x@example.com"}`
		}
		if r = s.write(t, method, path, body); r.status != http.StatusNotFound {
			t.Fatalf("%s after delete: %d %s, want 404", method, r.status, r.body)
		}
		r.errorMessage(t)
	}
}

// TestBadRequests covers every 400, 413, 405 and unrouted 404 path: all
// answer JSON errors.
func TestBadRequests(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	bearer := "Bearer " + s.token
	big := `{"name":"` + strings.Repeat("a", 1<<20) + `","email":"a@example.com"}`
	cases := []struct {
		name, method, path, body, ctype string
		want                            int
		msg                             string
	}{
		{"non-numeric id", "GET", "/api/v1/users/abc", "", "", 400, "user id must be an integer"},
		{"overflowing id", "GET", "/api/v1/users/99999999999999999999", "", "", 400, "user id"},
		{"bad page", "GET", "/api/v1/users?page=x", "", "", 400, "page"},
		{"zero page", "GET", "/api/v1/users?page=0", "", "", 400, "page"},
		{"negative limit", "GET", "/api/v1/users?limit=-1", "", "", 400, "limit"},
		{"zero limit", "GET", "/api/v1/users?limit=0", "", "", 400, "limit"},
		{"malformed JSON", "POST", "/api/v1/users", `{"name":`, "application/json", 400, "JSON"},
		{"not an object", "POST", "/api/v1/users", `[1,2]`, "application/json", 400, "JSON object"},
		{"trailing data", "POST", "/api/v1/users", `{"name":"a","email":"a@example.com"} {}`, "application/json", 400, "single JSON object"},
		{"unknown field", "POST", "/api/v1/users", `{"name":"a","email":"a@example.com","admin":true}`, "application/json", 400, `unknown field "admin"`},
		{"wrong type", "POST", "/api/v1/users", `{"name":1,"email":"a@example.com"}`, "application/json", 400, `"name"`},
		{"empty body", "POST", "/api/v1/users", ``, "application/json", 400, "empty"},
		{"wrong content type", "POST", "/api/v1/users", `{"name":"a","email":"a@example.com"}`, "text/plain", 400, "Content-Type"},
		{"missing content type", "POST", "/api/v1/users", `{"name":"a","email":"a@example.com"}`, "", 400, "Content-Type"},
		{"blank name", "POST", "/api/v1/users", `{"name":"   ","email":"a@example.com"}`, "application/json", 400, "name"},
		{"long name", "POST", "/api/v1/users", `{"name":"` + strings.Repeat("é", 101) + `","email":"a@example.com"}`, "application/json", 400, "name must be at most 100"},
		{"bad email", "POST", "/api/v1/users", `{"name":"a","email":"not-an-email"}`, "application/json", 400, "email"},
		{"display-name email", "POST", "/api/v1/users", `{"name":"a","email":"Ada <a@example.com>"}`, "application/json", 400, "email"},
		{"missing email", "POST", "/api/v1/users", `{"name":"a"}`, "application/json", 400, "email"},
		{"PUT bad id", "PUT", "/api/v1/users/x", `{"name":"a","email":"a@example.com"}`, "application/json", 400, "user id"},
		{"PUT bad body", "PUT", "/api/v1/users/1", `{"nam":"a"}`, "application/json", 400, "unknown field"},
		{"DELETE bad id", "DELETE", "/api/v1/users/1.5", "", "", 400, "user id"},
		{"too large", "POST", "/api/v1/users", big, "application/json", 413, "must not exceed"},
		{"method not allowed", "PATCH", "/api/v1/users/1", `{}`, "application/json", 405, "method PATCH is not allowed"},
		{"method not allowed on a probe", "POST", "/health", `{}`, "application/json", 405, "not allowed"},
		{"unknown path", "GET", "/api/v2/users", "", "", 404, "no route for path /api/v2/users"},
		{"trailing slash", "GET", "/api/v1/users/", "", "", 404, "no route"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := []string{"Authorization", bearer}
			if c.ctype != "" {
				h = append(h, "Content-Type", c.ctype)
			}
			r := s.do(t, c.method, c.path, c.body, h...)
			if r.status != c.want {
				t.Fatalf("status %d body %.200s, want %d", r.status, r.body, c.want)
			}
			if !strings.Contains(r.errorMessage(t), c.msg) {
				t.Fatalf("error %q does not mention %q", r.errorMessage(t), c.msg)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q, want application/json", ct)
			}
		})
	}
	if r := s.do(t, "PATCH", "/api/v1/users/1", ""); r.header.Get("Allow") != "DELETE, GET, HEAD, PUT" {
		t.Fatalf("405 Allow header %q, want the methods routed for the path", r.header.Get("Allow"))
	}
	m := s.do(t, "GET", "/metrics", "")
	if want := `http_requests_total{code="404",method="GET",route="unmatched"} 2`; !strings.Contains(string(m.body), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

// TestDuplicateEmail checks case-insensitive uniqueness on create and replace.
func TestDuplicateEmail(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	if r := s.write(t, "POST", "/api/v1/users", `{"name":"A","email":"dup@example.com"}`); r.status != 201 {
		t.Fatalf("first POST %d %s", r.status, r.body)
	}
	r := s.write(t, "POST", "/api/v1/users", `{"name":"B","email":"DUP@Example.com"}`)
	if r.status != http.StatusConflict {
		t.Fatalf("duplicate POST %d %s, want 409", r.status, r.body)
	}
	r.errorMessage(t)
	r = s.write(t, "POST", "/api/v1/users", `{"name":"C","email":"other@example.com"}`)
	var other user
	r.json(t, &other)
	r = s.write(t, "PUT", fmt.Sprintf("/api/v1/users/%d", other.ID), `{"name":"C","email":"Dup@example.com"}`)
	if r.status != http.StatusConflict {
		t.Fatalf("duplicate PUT %d %s, want 409", r.status, r.body)
	}
	// Replacing a user with its own email (any case) is not a conflict.
	r = s.write(t, "PUT", fmt.Sprintf("/api/v1/users/%d", other.ID), `{"name":"C2","email":"OTHER@example.com"}`)
	if r.status != http.StatusOK {
		t.Fatalf("PUT own email %d %s, want 200", r.status, r.body)
	}
}

// TestPagination checks ordering, the default and maximum limit and pages
// past the end.
func TestPagination(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	s.seed(t, 105)
	get := func(q string) listPage { return s.list(t, q) }
	if p := get(""); len(p.Users) != 20 || p.Limit != 20 || p.Page != 1 {
		t.Fatalf("default page: %d users, limit %d, page %d", len(p.Users), p.Limit, p.Page)
	}
	all := get("?limit=1000")
	if len(all.Users) != 100 || all.Limit != 100 {
		t.Fatalf("limit=1000 gave %d users and limit %d, want the cap of 100", len(all.Users), all.Limit)
	}
	for i := 1; i < len(all.Users); i++ {
		if all.Users[i-1].ID >= all.Users[i].ID {
			t.Fatalf("users not ordered by id at %d: %d then %d", i, all.Users[i-1].ID, all.Users[i].ID)
		}
	}
	p2 := get("?page=2&limit=10")
	if len(p2.Users) != 10 || p2.Users[0] != all.Users[10] {
		t.Fatalf("page 2 of 10 starts with %+v, want %+v", p2.Users[0], all.Users[10])
	}
	if last := get("?page=11&limit=10"); len(last.Users) != 5 {
		t.Fatalf("last page has %d users, want 5", len(last.Users))
	}
	if past := get("?page=500"); past.Users == nil || len(past.Users) != 0 {
		t.Fatalf("a page past the end must be an empty list, got %+v", past.Users)
	}
}

// TestAuth covers the bearer-token rules on writes and, optionally, reads.
func TestAuth(t *testing.T) {
	db := newMigratedDB(t)
	s := startService(t, db, nil)
	secret := []byte(testSecret)
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	future := time.Now().Add(time.Hour).Unix()
	cases := []struct{ name, header string }{
		{"missing", ""},
		{"wrong scheme", "Basic dXNlcjpwYXNz"},
		{"empty bearer", "Bearer "},
		{"garbage", "Bearer not.a.jwt"},
		{"wrong secret", "Bearer " + sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), jwt.MapClaims{"exp": future})},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})},
		{"expired 10s ago", "Bearer " + sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": time.Now().Add(-10 * time.Second).Unix()})},
		{"no exp", "Bearer " + sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x"})},
		{"HS512", "Bearer " + sign(jwt.SigningMethodHS512, secret, jwt.MapClaims{"exp": future})},
		{"alg none", "Bearer " + sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"exp": future})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, method := range []string{"POST", "PUT", "DELETE"} {
				path := "/api/v1/users"
				if method != "POST" {
					path += "/1"
				}
				h := []string{"Content-Type", "application/json"}
				if c.header != "" {
					h = append(h, "Authorization", c.header)
				}
				r := s.do(t, method, path, `{"name":"a","email":"a@example.com"}`, h...)
				if r.status != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%s: %d, WWW-Authenticate %q, want 401 with a Bearer challenge", method, r.status, r.header.Get("WWW-Authenticate"))
				}
				r.errorMessage(t)
			}
		})
	}
	if r := s.do(t, "GET", "/api/v1/users", ""); r.status != 200 {
		t.Fatalf("reads must be open by default, got %d", r.status)
	}

	closed := startService(t, db, map[string]string{"AUTH_REQUIRED_FOR_READS": "true"})
	for _, path := range []string{"/api/v1/users", "/api/v1/users/1"} {
		if r := closed.do(t, "GET", path, ""); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("GET %s with AUTH_REQUIRED_FOR_READS: %d, want 401", path, r.status)
		}
	}
	if r := closed.do(t, "GET", "/api/v1/users", "", "Authorization", "Bearer "+closed.token); r.status != 200 {
		t.Fatalf("GET with token and AUTH_REQUIRED_FOR_READS: %d", r.status)
	}
	tok, _ := auth.Sign(secret, "x", time.Hour)
	if r := closed.do(t, "GET", "/health", "", "Authorization", "Bearer "+tok); r.status != 200 {
		t.Fatalf("/health must stay open: %d", r.status)
	}
}

// TestRequestIDAndMetrics checks X-Request-ID handling, the access log and
// the metrics endpoint.
func TestRequestIDAndMetrics(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	r := s.do(t, "GET", "/api/v1/users/42", "", "X-Request-ID", "trace-me-123")
	if r.status != 404 || r.header.Get("X-Request-ID") != "trace-me-123" {
		t.Fatalf("status %d, X-Request-ID %q", r.status, r.header.Get("X-Request-ID"))
	}
	r = s.do(t, "GET", "/health", "", "X-Request-ID", "bad\"id"+strings.Repeat("x", 200))
	if id := r.header.Get("X-Request-ID"); id == "" || strings.Contains(id, "bad") {
		t.Fatalf("an invalid X-Request-ID must be replaced, got %q", id)
	}
	logs := s.waitLog(t, `"request_id":"trace-me-123"`)
	for _, want := range []string{`"msg":"Handled request"`, `"route":"/api/v1/users/{id}"`, `"status":404`, `"request_id":"trace-me-123"`, `"method":"GET"`, `"duration_ms":`} {
		if !strings.Contains(logs, want) {
			t.Fatalf("access log lacks %s:\n%s", want, logs)
		}
	}
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil || v["time"] == nil || v["level"] == nil || v["msg"] == nil {
			t.Fatalf("log line is not a JSON record with time, level and msg: %s (%v)", line, err)
		}
	}
	if strings.Contains(logs, testSecret) {
		t.Fatal("the JWT secret appeared in the logs")
	}
	m := s.do(t, "GET", "/metrics", "")
	for _, want := range []string{
		`http_requests_total{code="404",method="GET",route="/api/v1/users/{id}"} 1`,
		`http_request_duration_seconds_bucket{code="404",method="GET",route="/api/v1/users/{id}"`,
		`db_pool_max_connections`, `db_pool_acquires_total`, `store_batches_total{op="get"} 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
}

// TestLookAlikeNamesAndEmails checks that invisible format characters are
// refused in names and emails, and that an email differing from a stored
// one only by Unicode compatibility forms (fullwidth letters, say) is a
// duplicate, whoever writes it.
func TestLookAlikeNamesAndEmails(t *testing.T) {
	db := newMigratedDB(t)
	s := startService(t, db, nil)
	if r := s.write(t, "POST", "/api/v1/users", `{"name":"Ada","email":"ada@example.com"}`); r.status != http.StatusCreated {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	refused := []struct{ name, body, field string }{
		{"zero-width space in email", `{"name":"Ada","email":"ada\u200b@example.com"}`, "email"},
		{"soft hyphen in email", `{"name":"Ada","email":"a\u00adda@example.com"}`, "email"},
		{"bidi override in name", `{"name":"Ada \u202eevil","email":"ada3@example.com"}`, "name"},
		{"zero-width joiner in name", `{"name":"A\u200dda","email":"ada4@example.com"}`, "name"},
		{"byte order mark in name", `{"name":"\ufeffAda","email":"ada5@example.com"}`, "name"},
	}
	for _, c := range refused {
		r := s.write(t, "POST", "/api/v1/users", c.body)
		if r.status != http.StatusBadRequest || !strings.Contains(r.errorMessage(t), c.field) {
			t.Errorf("%s: %d %s, want 400 naming %s", c.name, r.status, r.body, c.field)
		}
	}
	r := s.write(t, "POST", "/api/v1/users", `{"name":"Ada","email":"ａｄａ@example.com"}`)
	if r.status != http.StatusConflict {
		t.Fatalf("a fullwidth look-alike of ada@example.com: %d %s, want 409", r.status, r.body)
	}
	r = s.write(t, "POST", "/api/v1/users", `{"name":"Bob","email":"ｂｏｂ@example.com"}`)
	var bob user
	r.json(t, &bob)
	if r.status != http.StatusCreated || bob.Email != "bob@example.com" {
		t.Fatalf("a fullwidth email is stored as %d %s, want 201 with bob@example.com", r.status, r.body)
	}
	if r = s.write(t, "PUT", fmt.Sprintf("/api/v1/users/%d", bob.ID), `{"name":"Bob","email":"ＡＤＡ@example.com"}`); r.status != http.StatusConflict {
		t.Fatalf("PUT to a look-alike: %d %s, want 409", r.status, r.body)
	}
	// Another writer (an older binary during a rollout, or psql) meets the
	// same rule in the database.
	if _, err := connect(t, db).Exec(context.Background(), "INSERT INTO users (name, email) VALUES ('Ada', 'ＡＤＡ@EXAMPLE.com')"); err == nil {
		t.Fatal("the database accepted a look-alike of ada@example.com written by another client")
	}
}
