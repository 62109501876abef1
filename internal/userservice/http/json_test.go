package http

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// FuzzDecodeInput feeds arbitrary bodies and content types to the request
// decoder. Whatever it accepts must satisfy the validation rules and
// survive an encode/decode round trip; whatever it rejects must map to 400
// or 413.
func FuzzDecodeInput(f *testing.F) {
	seeds := []struct{ ct, body string }{
		{"application/json", `{"name":"Ada","email":"ada@example.com"}`},
		{"application/json; charset=utf-8", `{"name":"  Ada  ","email":" ada@example.com "}`},
		{"application/json", `{"name":"","email":"ada@example.com"}`},
		{"application/json", `{"name":"Ada","email":"Ada <ada@example.com>"}`},
		{"application/json", `{"name":"Ada","email":"ada@example.com","x":1}`},
		{"application/json", `{"name":"Ada\u0000","email":"ada@example.com"}`},
		{"application/json", `{"name":"\u2028","email":"\"q\"@example.com"}`},
		{"application/json", `{"name":"Ada","email":"ada@example.com"}{}`},
		{"application/json", `[]`},
		{"application/json", `null`},
		{"application/json", `{"name":"Åsa","email":"åsa@exämple.com"}`},
		{"text/plain", `{"name":"Ada","email":"ada@example.com"}`},
		{"", ``},
		{"application/json", "{\"name\":\"\xff\",\"email\":\"a@b.c\"}"},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		in, err := DecodeInput(ct, strings.NewReader(string(body)))
		if err != nil {
			status, msg := StatusFor(err)
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("rejection mapped to %d (%q), want 400 or 413", status, msg)
			}
			if msg == "" {
				t.Fatal("rejection without a message")
			}
			return
		}
		checkValid(t, in)
		roundTrip(t, users.User{ID: 7, Name: in.Name, Email: in.Email})
	})
}

// checkValid asserts the validation rules on accepted input.
func checkValid(t *testing.T, in users.Input) {
	t.Helper()
	if in.Name != strings.TrimSpace(in.Name) || in.Email != strings.TrimSpace(in.Email) {
		t.Fatalf("not trimmed: %q %q", in.Name, in.Email)
	}
	if n := utf8.RuneCountInString(in.Name); n < 1 || n > users.MaxNameRunes || !utf8.ValidString(in.Name) {
		t.Fatalf("accepted name %q (%d runes)", in.Name, n)
	}
	if strings.IndexFunc(in.Name, unicode.IsControl) >= 0 || strings.ContainsRune(in.Email, 0) {
		t.Fatalf("accepted control characters: %q %q", in.Name, in.Email)
	}
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
		t.Fatalf("accepted email %q: %v", in.Email, err)
	}
}

// roundTrip checks that appendUser emits JSON that decodes to u.
func roundTrip(t *testing.T, u users.User) {
	t.Helper()
	var back users.User
	b := appendUser(nil, u)
	if err := json.Unmarshal(b, &back); err != nil || back != u {
		t.Fatalf("round trip of %+v gave %+v (%v) via %s", u, back, err, b)
	}
}

// FuzzAppendString checks the hand-written JSON string encoder against
// encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\`, "tab\tnl\n\r", "\x00\x1f\x7f", "é漢字🙂", "\u2028\u2029", "bad\xffutf8", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("appendString(%q) = %s is not valid JSON: %v", s, b, err)
		}
		std, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json gives %q", s, back, want)
		}
	})
}

// FuzzParsePage checks that pagination parameters are either rejected
// with 400 or produce bounds the database can use cheaply.
func FuzzParsePage(f *testing.F) {
	for _, s := range [][3]string{{"", "", ""}, {"1", "20", ""}, {"0", "1", ""}, {"2", "1000", ""}, {"-1", "x", ""},
		{"9223372036854775807", "100", ""}, {"2147483648", "100", ""}, {"100", "100", ""}, {"", "10", "42"}, {"2", "", "1"}, {"", "", "-1"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, page, limit, after string) {
		p, err := ParsePage(page, limit, after, RESTPageNames)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
				t.Fatalf("ParsePage(%q, %q, %q) error %v, want a 400", page, limit, after, err)
			}
			return
		}
		if p.Limit < 1 || p.Limit > MaxLimit {
			t.Fatalf("ParsePage(%q, %q, %q): limit %d", page, limit, after, p.Limit)
		}
		if p.Keyset {
			if p.After < 0 || page != "" {
				t.Fatalf("ParsePage(%q, %q, %q) = %+v", page, limit, after, p)
			}
			return
		}
		if p.Number < 1 || p.Number*p.Limit > MaxPageDepth {
			t.Fatalf("ParsePage(%q, %q, %q) = %+v: beyond page*limit = %d", page, limit, after, p, MaxPageDepth)
		}
	})
}
