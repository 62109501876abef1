package auth

import (
	"errors"
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
