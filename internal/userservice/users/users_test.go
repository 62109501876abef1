package users

import (
	"errors"
	"strings"
	"testing"
)

// TestNormalize covers the validation rules for name and email.
func TestNormalize(t *testing.T) {
	ok := []Input{
		{"Ada", "ada@example.com"},
		{"  Ada  ", " ada@example.com "},
		{strings.Repeat("é", 100), "x@y.z"},
		{"O'Brien-Smith", "first.last+tag@sub.example.co.uk"},
	}
	for _, in := range ok {
		out, err := in.Normalize()
		if err != nil {
			t.Errorf("%+v rejected: %v", in, err)
			continue
		}
		if out.Name != strings.TrimSpace(in.Name) || out.Email != strings.TrimSpace(in.Email) {
			t.Errorf("%+v normalised to %+v", in, out)
		}
	}
	bad := map[string]Input{
		"empty name":      {"", "a@b.c"},
		"blank name":      {" \t ", "a@b.c"},
		"long name":       {strings.Repeat("a", 101), "a@b.c"},
		"control in name": {"a\x00b", "a@b.c"},
		"empty email":     {"a", ""},
		"no at":           {"a", "example.com"},
		"no domain":       {"a", "a@"},
		"no local part":   {"a", "@example.com"},
		"display name":    {"a", "A <a@b.c>"},
		"space in email":  {"a", "a b@c.d"},
		"long email":      {"a", strings.Repeat("a", 250) + "@b.cd"},
		"two addresses":   {"a", "a@b.c, d@e.f"},
	}
	for name, in := range bad {
		if _, err := in.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %+v gave %v, want ErrInvalid", name, in, err)
		}
	}
}
