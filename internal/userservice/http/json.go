package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// MaxBodyBytes is the largest request body the service reads.
const MaxBodyBytes = 1 << 20

// Error is an error with the HTTP status it should produce. Its message is
// safe to show to clients.
type Error struct {
	Status int
	Msg    string
	// Field is the request field at fault, when there is one.
	Field string
}

// Error returns the client-facing message.
func (e *Error) Error() string { return e.Msg }

// errorf builds an *Error with a formatted message.
func errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// fieldErrorf builds a 400 *Error about field.
func fieldErrorf(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...), Field: field}
}

// DecodeInput decodes a create or replace body. It demands a JSON
// Content-Type, rejects unknown fields, trailing data and bodies over
// MaxBodyBytes (413), and validates and normalises the result.
func DecodeInput(contentType string, body io.Reader) (users.Input, error) {
	var in users.Input
	if err := decodeJSON(contentType, body, &in); err != nil {
		return users.Input{}, err
	}
	return in.Normalize()
}

// decodeJSON decodes exactly one JSON object from body into dst.
func decodeJSON(contentType string, body io.Reader, dst any) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return errorf(http.StatusBadRequest, "Content-Type must be application/json, got %q", contentType)
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return decodeError(err)
		}
		return errorf(http.StatusBadRequest, "request body must hold a single JSON object")
	}
	return nil
}

// decodeError turns a json.Decoder error into a client-facing *Error.
func decodeError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return errorf(http.StatusRequestEntityTooLarge, "request body must not exceed %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "request body must not be empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "request body is truncated JSON")
	case errors.As(err, &syntax):
		return errorf(http.StatusBadRequest, "request body is malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return errorf(http.StatusBadRequest, "field %q must be a %s", typ.Field, typ.Type)
		}
		return errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	if field, ok := unknownField(err.Error()); ok {
		return errorf(http.StatusBadRequest, "unknown field %s: only \"name\" and \"email\" are accepted", field)
	}
	return errorf(http.StatusBadRequest, "request body is not valid JSON")
}

// unknownField extracts the field name from encoding/json's unknown-field
// error, which has no typed form.
func unknownField(msg string) (string, bool) {
	const prefix = "json: unknown field "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):], true
	}
	return "", false
}

// appendUser appends u as a JSON object, without reflection.
func appendUser(b []byte, u users.User) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, `,"name":`...)
	b = appendString(b, u.Name)
	b = append(b, `,"email":`...)
	b = appendString(b, u.Email)
	return append(b, '}')
}

// appendString appends s as a JSON string, escaping quotes, backslashes,
// control characters and invalid UTF-8 the way encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// writeBody writes a JSON body with status.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// jsonContentType is shared to avoid allocating the header value per response.
var jsonContentType = []string{"application/json"}

// writeErrorBody writes {"error": msg} with status.
func writeErrorBody(w http.ResponseWriter, status int, msg string) {
	b := make([]byte, 0, len(msg)+16)
	b = append(b, `{"error":`...)
	b = appendString(b, msg)
	b = append(b, '}')
	writeBody(w, status, b)
}
