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
		return Input{}, fmt.Errorf("%w: email must not contain invisible formatting characters (Unicode category Cf, such as zero-width spaces or bidi controls)", ErrInvalid)
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
		return fmt.Errorf("%w: name is required and must not be blank", ErrInvalid)
	}
	if n > MaxNameRunes {
		return fmt.Errorf("%w: name must be at most %d characters, got %d", ErrInvalid, MaxNameRunes, n)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: name must be valid UTF-8", ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: name must not contain control characters", ErrInvalid)
		}
	}
	if hasFormatChar(name) {
		return fmt.Errorf("%w: name must not contain invisible formatting characters (Unicode category Cf, such as zero-width spaces or bidi controls)", ErrInvalid)
	}
	return nil
}

// validateEmail checks a trimmed email: a bare address (no display name)
// with a local part and a domain.
func validateEmail(email string) error {
	if email == "" {
		return fmt.Errorf("%w: email is required", ErrInvalid)
	}
	if n := utf8.RuneCountInString(email); n > MaxEmailRunes {
		return fmt.Errorf("%w: email must be at most %d characters, got %d", ErrInvalid, MaxEmailRunes, n)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email || !validEmailChars(email) {
		return fmt.Errorf("%w: email must be a valid address such as ada@example.com", ErrInvalid)
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 {
		return fmt.Errorf("%w: email must be a valid address such as ada@example.com", ErrInvalid)
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
