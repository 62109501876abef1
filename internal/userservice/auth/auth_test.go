package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// sign makes a token with claims, method and key.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerify covers valid and invalid tokens.
func TestVerify(t *testing.T) {
	v := NewVerifier(secret)
	good, err := Sign(secret, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(good); err != nil {
		t.Fatalf("valid token rejected: %v", err)
	}
	future := time.Now().Add(time.Hour).Unix()
	bad := map[string]string{
		"expired":      sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()}),
		"just expired": sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": time.Now().Add(-10 * time.Second).Unix()}),
		"no exp":       sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x"}),
		"wrong secret": sign(t, jwt.SigningMethodHS256, []byte("ffffffffffffffffffffffffffffffff"), jwt.MapClaims{"exp": future}),
		"HS384":        sign(t, jwt.SigningMethodHS384, secret, jwt.MapClaims{"exp": future}),
		"none":         sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"exp": future}),
		"not before":   sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": future, "nbf": future}),
		"garbage":      "a.b.c",
		"tampered":     good[:len(good)-2] + "xx",
	}
	for name, tok := range bad {
		if err := v.Verify(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestVerifyCacheHonoursExpiry checks that a cached token stops being
// accepted when it expires.
func TestVerifyCacheHonoursExpiry(t *testing.T) {
	v := NewVerifier(secret)
	now := time.Now()
	v.now = func() time.Time { return now }
	tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": now.Add(time.Minute).Unix()})
	if err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(tok); err != nil {
		t.Fatalf("cached token rejected: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if err := v.Verify(tok); err == nil {
		t.Fatal("expired token accepted from the cache")
	}
}

// TestVerifyHasNoLeeway checks that a token is rejected from its expiry
// on, with no clock-skew grace period.
func TestVerifyHasNoLeeway(t *testing.T) {
	v := NewVerifier(secret)
	now := time.Now().Truncate(time.Second)
	v.now = func() time.Time { return now }
	for _, age := range []time.Duration{10 * time.Second, time.Second, 0} {
		tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": now.Add(-age).Unix()})
		if err := v.Verify(tok); err == nil {
			t.Errorf("a token that expired %s ago was accepted", age)
		}
	}
	tok := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": now.Add(time.Second).Unix()})
	if err := v.Verify(tok); err != nil {
		t.Errorf("a token that expires in a second was rejected: %v", err)
	}
}

// TestBearerToken checks header parsing.
func TestBearerToken(t *testing.T) {
	if _, err := BearerToken(""); !errors.Is(err, ErrMissingToken) {
		t.Fatalf("empty header: %v", err)
	}
	for _, h := range []string{"Basic abc", "Bearer", "Bearer   ", "Token abc"} {
		if _, err := BearerToken(h); err == nil {
			t.Errorf("%q accepted", h)
		}
	}
	for _, h := range []string{"Bearer abc", "bearer abc", "BEARER  abc "} {
		tok, err := BearerToken(h)
		if err != nil || tok != "abc" {
			t.Errorf("%q: %q %v", h, tok, err)
		}
	}
	if _, err := BearerToken("Bearer " + strings.Repeat("x", 10)); err != nil {
		t.Fatal(err)
	}
}

// FuzzVerify checks that arbitrary tokens never panic and that only
// correctly signed ones pass.
func FuzzVerify(f *testing.F) {
	good, _ := Sign(secret, "seed", time.Hour)
	for _, s := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(s)
	}
	v := NewVerifier(secret)
	f.Fuzz(func(t *testing.T, tok string) {
		if err := v.Verify(tok); err == nil && tok != good {
			// Another valid token is only possible with the secret.
			if _, perr := jwt.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()); perr != nil {
				t.Fatalf("accepted a token that jwt rejects: %q (%v)", tok, perr)
			}
		}
	})
}

// rawToken signs header and payload, given as JSON text, with HS256 and
// secret, encoding each part as canonical unpadded base64url.
func rawToken(header, payload string) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

// TestVerifyIsStrict checks that every token is read one way only: a
// canonical encoding, no duplicate members, numeric times, no issue time
// in the future and no critical header extension.
func TestVerifyIsStrict(t *testing.T) {
	v := NewVerifier(secret)
	now := time.Now().Truncate(time.Second)
	v.now = func() time.Time { return now }
	exp := now.Add(time.Hour).Unix()
	past := now.Add(-time.Hour).Unix()
	hdr := `{"alg":"HS256","typ":"JWT"}`
	good := rawToken(hdr, fmt.Sprintf(`{"sub":"a","exp":%d,"iat":%d,"nbf":%d}`, exp, now.Unix(), now.Unix()))
	if err := v.Verify(good); err != nil {
		t.Fatalf("a strict token was rejected: %v", err)
	}
	// The last character of a 32-byte signature carries 2 unused bits:
	// setting one gives another spelling of the same signature.
	sig := good[strings.LastIndexByte(good, '.')+1:]
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
	respelled := good[:len(good)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
	cases := []struct{ name, token string }{
		{"signature spelled with unused bits set", respelled},
		{"padded header", strings.Replace(rawToken(`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d}`, exp)), ".", "=.", 1)},
		{"line break inside the signature", good[:len(good)-5] + "\n" + good[len(good)-5:]},
		{"exp as a string", rawToken(hdr, fmt.Sprintf(`{"exp":"%d"}`, exp))},
		{"iat as a string", rawToken(hdr, fmt.Sprintf(`{"exp":%d,"iat":"%d"}`, exp, now.Unix()))},
		{"nbf as a string", rawToken(hdr, fmt.Sprintf(`{"exp":%d,"nbf":"%d"}`, exp, now.Unix()))},
		{"exp as null", rawToken(hdr, `{"exp":null}`)},
		{"iat in the future", rawToken(hdr, fmt.Sprintf(`{"exp":%d,"iat":%d}`, exp, now.Add(time.Minute).Unix()))},
		{"crit header", rawToken(`{"alg":"HS256","crit":["exp"]}`, fmt.Sprintf(`{"exp":%d}`, exp))},
		{"empty crit header", rawToken(`{"alg":"HS256","crit":[]}`, fmt.Sprintf(`{"exp":%d}`, exp))},
		{"duplicate exp, expired one first", rawToken(hdr, fmt.Sprintf(`{"exp":%d,"exp":%d}`, past, exp))},
		{"duplicate alg", rawToken(`{"alg":"none","alg":"HS256"}`, fmt.Sprintf(`{"exp":%d}`, exp))},
		{"payload not an object", rawToken(hdr, fmt.Sprintf(`[{"exp":%d}]`, exp))},
		{"trailing data after the payload", rawToken(hdr, fmt.Sprintf(`{"exp":%d} {}`, exp))},
	}
	for _, c := range cases {
		err := v.Verify(c.token)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		t.Logf("%s: %v", c.name, err)
	}
}
