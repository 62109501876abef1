// Package auth verifies the HS256 bearer tokens that guard the user
// service's write endpoints.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrMissingToken means the request carried no bearer token.
var ErrMissingToken = errors.New("missing bearer token")

// maxCached bounds the number of verified tokens remembered by a Verifier.
const maxCached = 4096

// Verifier checks bearer tokens signed with HS256 and a shared secret.
// Tokens must carry an exp claim, and there is no clock-skew leeway: a
// token is rejected from its exp second on, and before its nbf and iat
// seconds (issuers with drifting clocks should give tokens a longer
// lifetime and no iat in the future). Tokens are read strictly (see
// checkStrict). It remembers tokens it has already verified until they
// expire, so a client reusing one token pays for the checks only once.
type Verifier struct {
	secret []byte
	parser *jwt.Parser
	now    func() time.Time

	mu    sync.RWMutex
	cache map[string]time.Time // token -> expiry
}

// NewVerifier returns a Verifier for secret.
func NewVerifier(secret []byte) *Verifier {
	v := &Verifier{secret: secret, now: time.Now, cache: make(map[string]time.Time)}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v
}

// BearerToken extracts the token from an Authorization header value.
func BearerToken(header string) (string, error) {
	if header == "" {
		return "", ErrMissingToken
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errors.New("authorization header must have the form \"Bearer <token>\"")
	}
	return strings.TrimSpace(token), nil
}

// Verify checks the token's encoding, signature, algorithm and times.
func (v *Verifier) Verify(token string) error {
	now := v.now()
	v.mu.RLock()
	exp, ok := v.cache[token]
	v.mu.RUnlock()
	if ok && now.Before(exp) {
		return nil
	}
	if err := checkStrict(token); err != nil {
		return fmt.Errorf("invalid bearer token: %w", err)
	}
	claims := jwt.RegisteredClaims{}
	if _, err := v.parser.ParseWithClaims(token, &claims, v.key); err != nil {
		return fmt.Errorf("invalid bearer token: %w", err)
	}
	v.remember(token, claims.ExpiresAt.Time)
	return nil
}

// key returns the HMAC key for jwt's parser.
func (v *Verifier) key(*jwt.Token) (any, error) {
	return v.secret, nil
}

// remember caches a verified token until exp, evicting everything when the
// cache is full (the cache only saves work; it is never needed for
// correctness).
func (v *Verifier) remember(token string, exp time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= maxCached {
		clear(v.cache)
	}
	v.cache[token] = exp
}

// Sign returns an HS256 token with the given subject that expires after
// ttl. It exists for tests, tooling and the benchmark.
func Sign(secret []byte, subject string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}
