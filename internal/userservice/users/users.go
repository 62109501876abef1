// Package users holds the user service's domain: the User type, input
// validation and the errors every layer shares.
package users

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Domain errors. The HTTP layer maps them to status codes in one place.
var (
	// ErrNotFound means the addressed user does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change would break a uniqueness rule.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the input failed validation.
	ErrInvalid = errors.New("invalid input")
	// ErrUnavailable means the database could not serve the request for
	// now: it is unreachable or restarting, or the statement was cut off
	// by its time limit. The same request may succeed later.
	ErrUnavailable = errors.New("database unavailable")
)

// FieldError is a validation error about one field of the input. It
// wraps ErrInvalid, so that every layer maps it like any invalid input,
// and names the field, for APIs that report it apart (gRPC's
// google.rpc.BadRequest).
type FieldError struct {
	// Field is the input field: "name" or "email".
	Field string
	// Msg says what is wrong and what is expected, naming the field.
	Msg string
}

// Error returns "invalid input: " and the message.
func (e *FieldError) Error() string { return ErrInvalid.Error() + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// invalid returns a FieldError about field.
func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Limits on the fields of a user.
const (
	MaxNameRunes  = 100
	MaxEmailRunes = 254
)

// User is a stored user.
type User struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Input is the body of a create or replace request.
type Input struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Normalize trims the input's fields, brings the email to Unicode NFKC
// (so that fullwidth letters, ligatures and other compatibility forms of
// an address are the address itself) and validates both. The returned
// error wraps ErrInvalid and names the offending field.
func (in Input) Normalize() (Input, error) {
	out := Input{Name: strings.TrimSpace(in.Name), Email: strings.TrimSpace(in.Email)}
	if err := validateName(out.Name); err != nil {
		return Input{}, err
	}
	if hasFormatChar(out.Email) {
		return Input{}, invalid("email", "email must not contain invisible formatting characters (Unicode category Cf, such as zero-width spaces or bidi controls)")
	}
	out.Email = norm.NFKC.String(out.Email)
	if err := validateEmail(out.Email); err != nil {
		return Input{}, err
	}
	return out, nil
}

// hasFormatChar reports whether s holds a Unicode format character
// (category Cf: soft hyphen, zero-width space and joiners, bidi controls,
// byte order mark, tags), which is invisible and makes look-alikes.
func hasFormatChar(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf && unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}

// validateName checks a trimmed name.
func validateName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return invalid("name", "name is required and must not be blank")
	}
	if n > MaxNameRunes {
		return invalid("name", "name must be at most %d characters, got %d", MaxNameRunes, n)
	}
	if !utf8.ValidString(name) {
		return invalid("name", "name must be valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return invalid("name", "name must not contain control characters")
		}
	}
	if hasFormatChar(name) {
		return invalid("name", "name must not contain invisible formatting characters (Unicode category Cf, such as zero-width spaces or bidi controls)")
	}
	return nil
}

// validateEmail checks a trimmed email: a bare address (no display name)
// with a local part and a domain.
func validateEmail(email string) error {
	if email == "" {
		return invalid("email", "email is required")
	}
	if n := utf8.RuneCountInString(email); n > MaxEmailRunes {
		return invalid("email", "email must be at most %d characters, got %d", MaxEmailRunes, n)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email || !validEmailChars(email) {
		return invalid("email", "email must be a valid address such as ada@example.com")
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return invalid("email", "email must be a valid address such as ada@example.com")
	}
	return nil
}

// validEmailChars rejects spaces, control characters and invalid UTF-8,
// which net/mail tolerates in quoted local parts.
func validEmailChars(email string) bool {
	if !utf8.ValidString(email) {
		return false
	}
	for _, r := range email {
		if r <= ' ' || r == 0x7f || unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
