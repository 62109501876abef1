package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	api "github.com/userservice-dev/userservice-operator/internal/userservice/http"
)

// codeFor translates the HTTP status that api.StatusFor gives an error
// into its gRPC code. api.StatusFor stays the one place that classifies
// errors; this only renames its answer.
func codeFor(status int) connect.Code {
	switch status {
	case http.StatusBadRequest:
		return connect.CodeInvalidArgument
	case http.StatusUnauthorized:
		return connect.CodeUnauthenticated
	case http.StatusNotFound:
		return connect.CodeNotFound
	case http.StatusConflict:
		return connect.CodeAlreadyExists
	case http.StatusRequestEntityTooLarge:
		return connect.CodeResourceExhausted
	case http.StatusServiceUnavailable:
		return connect.CodeUnavailable
	}
	return connect.CodeInternal
}

// fail turns err into the RPC's error: the code and message that REST
// would answer, and, for invalid input, a google.rpc.BadRequest detail
// naming the field. Like REST, it logs only internal errors (bugs).
func (s *server) fail(ctx context.Context, spec connect.Spec, err error) error {
	status, msg := api.StatusFor(err)
	code := codeFor(status)
	if code == connect.CodeInternal {
		s.logger.LogAttrs(ctx, slog.LevelError, "Failed to handle request",
			slog.String("procedure", spec.Procedure), slog.String("error", err.Error()))
	}
	cerr := connect.NewError(code, errors.New(msg))
	if field := api.FieldOf(err); field != "" && code == connect.CodeInvalidArgument {
		detail, derr := connect.NewErrorDetail(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
		})
		if derr == nil {
			cerr.AddDetail(detail)
		}
	}
	return cerr
}

// authenticate returns an interceptor that demands the bearer token of
// REST's writes in the authorization metadata: for every RPC that has side
// effects, and for the reads too when readsToo is set. The RPCs that have
// none are marked so in the schema (idempotency_level = NO_SIDE_EFFECTS).
func authenticate(v *auth.Verifier, readsToo bool, s *server) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if readsToo || req.Spec().IdempotencyLevel != connect.IdempotencyNoSideEffects {
				if err := api.Authorize(v, req.Header().Get("Authorization")); err != nil {
					return nil, s.fail(ctx, req.Spec(), err)
				}
			}
			return next(ctx, req)
		}
	}
}
