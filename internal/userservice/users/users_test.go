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

// TestNormalizeRejectsFormatCharacters checks that invisible format
// characters (Unicode category Cf) are refused in both fields, and that
// emails are brought to NFKC so that compatibility look-alikes compare
// equal.
func TestNormalizeRejectsFormatCharacters(t *testing.T) {
	for _, r := range []rune{'\u00ad', '\u061c', '\u200b', '\u200c', '\u200d', '\u200e', '\u202e', '\u2066', '\u2060', '\ufeff', '\U000e0041'} {
		name := Input{Name: "A" + string(r) + "da", Email: "ada@example.com"}
		if _, err := name.Normalize(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "name") {
			t.Errorf("U+%04X in a name: %v, want ErrInvalid naming the name", r, err)
		}
		email := Input{Name: "Ada", Email: "ad" + string(r) + "a@example.com"}
		if _, err := email.Normalize(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "email") {
			t.Errorf("U+%04X in an email: %v, want ErrInvalid naming the email", r, err)
		}
	}
	normalized := map[string]string{
		"ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ": "ada@example.com",
		"Ada@Example.com":     "Ada@Example.com",
		"e\u0301@example.com": "\u00e9@example.com",
		"ﬁ@example.com":       "fi@example.com",
	}
	for in, want := range normalized {
		out, err := Input{Name: "Ada", Email: in}.Normalize()
		if err != nil || out.Email != want {
			t.Errorf("email %q normalised to %q (%v), want %q", in, out.Email, err, want)
		}
	}
	if out, err := (Input{Name: "Zoë", Email: "zoe@example.com"}).Normalize(); err != nil || out.Name != "Zoë" {
		t.Errorf("a name with a diacritic: %+v %v", out, err)
	}
}

// TestNormalizeNamesTheField checks that every validation error is a
// FieldError naming the field at fault, so that gRPC can report it.
func TestNormalizeNamesTheField(t *testing.T) {
	for field, in := range map[string]Input{
		"name":  {"", "a@b.c"},
		"email": {"Ada", "not an address"},
	} {
		_, err := in.Normalize()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %#v, want a FieldError for %s wrapping ErrInvalid", in, err, field)
			continue
		}
		if want := "invalid input: " + fe.Msg; err.Error() != want || !strings.HasPrefix(fe.Msg, field+" ") {
			t.Errorf("%+v: message %q", in, err.Error())
		}
	}
}
