package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// segmentEncoding is the only encoding a token's segments may use:
// base64url without padding, with the unused bits of the last character
// at zero (RFC 7515 section 2), so that a token has one spelling.
var segmentEncoding = base64.RawURLEncoding.Strict()

// numericClaims must be JSON numbers (RFC 7519 NumericDate).
var numericClaims = map[string]bool{"exp": true, "iat": true, "nbf": true}

// checkStrict rejects a token that could be read in more than one way,
// before the jwt library reads it: segments that are not canonical
// base64url (padding, line breaks, stray bits), a header or payload that
// is not exactly one JSON object with distinct member names, a time claim
// that is not a number, and any crit header (no extension is understood,
// so RFC 7515 section 4.1.11 says to reject the token).
func checkStrict(token string) error {
	segments := strings.Split(token, ".")
	if len(segments) != 3 {
		return errors.New("a token must have three dot-separated segments")
	}
	var decoded [3][]byte
	for i, seg := range segments {
		b, err := segmentEncoding.DecodeString(seg)
		if err != nil || strings.ContainsAny(seg, "\r\n") {
			return fmt.Errorf("token segment %d is not canonical unpadded base64url", i+1)
		}
		decoded[i] = b
	}
	err := eachMember(decoded[0], "header", func(name string, _ json.RawMessage) error {
		if name == "crit" {
			return errors.New("the token's header has a crit member, and no extension is supported")
		}
		return nil
	})
	if err != nil {
		return err
	}
	return eachMember(decoded[1], "payload", func(name string, value json.RawMessage) error {
		if numericClaims[name] && (len(value) == 0 || (value[0] != '-' && (value[0] < '0' || value[0] > '9'))) {
			return fmt.Errorf("claim %q must be a JSON number", name)
		}
		return nil
	})
}

// eachMember checks that b holds exactly one JSON object whose member
// names are distinct, and calls fn for each member.
func eachMember(b []byte, part string, fn func(name string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("the token's %s must be a JSON object", part)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		name, ok := tok.(string)
		if err != nil || !ok {
			return fmt.Errorf("the token's %s is not valid JSON", part)
		}
		if seen[name] {
			return fmt.Errorf("the token's %s has member %q twice", part, name)
		}
		seen[name] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("the token's %s is not valid JSON", part)
		}
		if err := fn(name, value); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return fmt.Errorf("the token's %s is not valid JSON", part)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("the token's %s has data after its JSON object", part)
	}
	return nil
}
