package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	api "github.com/userservice-dev/userservice-operator/internal/userservice/http"
	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
)

// TestFail checks the code, message and field detail that each kind of
// error gets: REST's status and message, renamed.
func TestFail(t *testing.T) {
	s := &server{logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	_, badEmail := users.Input{Name: "Ada", Email: "nope"}.Normalize()
	_, badLimit := api.ParsePage("", "-1", "", pageNames)
	cases := []struct {
		err   error
		code  connect.Code
		msg   string
		field string
	}{
		{badEmail, connect.CodeInvalidArgument, "email must be a valid address such as ada@example.com", "email"},
		{badLimit, connect.CodeInvalidArgument, `limit must be a positive integer (at most 100 is used), got "-1"`, "limit"},
		{api.Authorize(auth.NewVerifier([]byte("k")), ""), connect.CodeUnauthenticated, "a valid bearer token is required: missing bearer token", ""},
		{fmt.Errorf("get: %w", users.ErrNotFound), connect.CodeNotFound, "user not found", ""},
		{users.ErrConflict, connect.CodeAlreadyExists, "a user with this email already exists", ""},
		{fmt.Errorf("%w: connection refused", users.ErrUnavailable), connect.CodeUnavailable, "the database is unavailable or too slow right now; retry later", ""},
		{context.Canceled, connect.CodeUnavailable, "request cancelled or timed out; retry later", ""},
		{errors.New("password authentication failed for user \"x\""), connect.CodeInternal, "internal server error", ""},
	}
	for _, c := range cases {
		var cerr *connect.Error
		if !errors.As(s.fail(context.Background(), connect.Spec{Procedure: "/p"}, c.err), &cerr) {
			t.Fatalf("%v: not a *connect.Error", c.err)
		}
		if cerr.Code() != c.code || cerr.Message() != c.msg {
			t.Errorf("%v: %v %q, want %v %q", c.err, cerr.Code(), cerr.Message(), c.code, c.msg)
		}
		field := ""
		for _, d := range cerr.Details() {
			if v, err := d.Value(); err == nil {
				field = v.(*errdetails.BadRequest).GetFieldViolations()[0].GetField()
			}
		}
		if field != c.field {
			t.Errorf("%v: field detail %q, want %q", c.err, field, c.field)
		}
	}
}

// TestCodeNames checks that every gRPC code has its label value.
func TestCodeNames(t *testing.T) {
	for c := connect.Code(0); c <= connect.CodeUnauthenticated; c++ {
		if codeNames[c] == "" {
			t.Errorf("code %d (%v) has no grpc_code label", c, c)
		}
	}
}
