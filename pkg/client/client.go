// Package client is a small Go client for the user service's gRPC API
// (userservice.v1.UserService). It speaks the gRPC protocol over
// plaintext HTTP/2 (through connectrpc.com/connect, so it works with any
// gRPC server), bounds every call with a deadline, and retries calls that
// fail with Unavailable, and only those, with exponential backoff and
// jitter (github.com/cenkalti/backoff/v5).
//
// The service answers Unavailable when its database is away for now, and
// the transport does when the server cannot be reached. A write answered
// Unavailable may still have been committed (the connection to the
// database broke after the commit), so a retried CreateUser may answer
// AlreadyExists and a retried DeleteUser NotFound for the change that the
// first attempt made.
//
// Errors are *connect.Error values: read their code with connect.CodeOf,
// and the field of an InvalidArgument from its google.rpc.BadRequest
// detail (FieldOf does both).
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	userservicev1 "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
)

// Defaults of Options.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxAttempts    = 5
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 2 * time.Second
)

// Options configures a Client. The zero value is usable.
type Options struct {
	// Token, when set, is sent as "authorization: Bearer <Token>": the
	// HS256 JWT that writes need (and reads, when the server runs with
	// AUTH_REQUIRED_FOR_READS=true).
	Token string
	// Timeout bounds each call, its retries included, when its context
	// has no deadline of its own; the deadline is sent to the server.
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of a call (1 turns retries off);
	// 0 means DefaultMaxAttempts.
	MaxAttempts uint
	// InitialBackoff is the wait before the first retry; it doubles, with
	// ±50% jitter, up to MaxBackoff. 0 means the defaults.
	InitialBackoff, MaxBackoff time.Duration
	// HTTPClient carries the calls; nil means a client speaking plaintext
	// HTTP/2 (h2c), as gRPC does without TLS. Pass one with TLS
	// configured for an https:// target.
	HTTPClient connect.HTTPClient
}

// Client calls one user service. It is safe for concurrent use.
type Client struct {
	rpc  userservicev1connect.UserServiceClient
	opts Options
}

// New returns a Client for target, the base URL of the service's gRPC
// port, such as http://user-service.default.svc:50051.
func New(target string, o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.HTTPClient == nil {
		o.HTTPClient = h2cClient()
	}
	return &Client{rpc: userservicev1connect.NewUserServiceClient(o.HTTPClient, target, connect.WithGRPC()), opts: o}
}

// h2cClient returns an HTTP client that speaks HTTP/2 without TLS from
// the first byte (prior knowledge), as gRPC clients do.
func h2cClient() *http.Client {
	tr := &http.Transport{
		Protocols:           new(http.Protocols),
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// GetUser returns the user with the given id.
func (c *Client) GetUser(ctx context.Context, id int64) (*userservicev1.User, error) {
	return call(ctx, c, c.rpc.GetUser, &userservicev1.GetUserRequest{Id: id})
}

// ListUsers returns one page of users; pass the response's
// NextPageToken as PageToken for the next page.
func (c *Client) ListUsers(ctx context.Context,
	req *userservicev1.ListUsersRequest) (*userservicev1.ListUsersResponse, error) {
	return call(ctx, c, c.rpc.ListUsers, req)
}

// CreateUser stores a new user and returns it with its id.
func (c *Client) CreateUser(ctx context.Context, name, email string) (*userservicev1.User, error) {
	return call(ctx, c, c.rpc.CreateUser, &userservicev1.CreateUserRequest{Name: name, Email: email})
}

// UpdateUser replaces the name and email of user id.
func (c *Client) UpdateUser(ctx context.Context, id int64, name, email string) (*userservicev1.User, error) {
	return call(ctx, c, c.rpc.UpdateUser, &userservicev1.UpdateUserRequest{Id: id, Name: name, Email: email})
}

// DeleteUser removes user id.
func (c *Client) DeleteUser(ctx context.Context, id int64) error {
	_, err := call(ctx, c, c.rpc.DeleteUser, &userservicev1.DeleteUserRequest{Id: id})
	return err
}

// call runs one RPC under the call's deadline, retrying it with
// exponential backoff while it fails with Unavailable.
func call[Req, Res any](ctx context.Context, c *Client,
	rpc func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error), msg *Req) (*Res, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	var last error
	res, err := backoff.Retry(ctx, func() (*Res, error) {
		req := connect.NewRequest(msg)
		if c.opts.Token != "" {
			req.Header().Set("Authorization", "Bearer "+c.opts.Token)
		}
		resp, err := rpc(ctx, req)
		if err != nil {
			last = err
			if connect.CodeOf(err) != connect.CodeUnavailable {
				return nil, backoff.Permanent(err)
			}
			return nil, err
		}
		return resp.Msg, nil
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{
		InitialInterval:     c.opts.InitialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         c.opts.MaxBackoff,
	}), backoff.WithMaxTries(c.opts.MaxAttempts), backoff.WithMaxElapsedTime(0))
	if err == nil {
		return res, nil
	}
	if perm, ok := errors.AsType[*backoff.PermanentError](err); ok {
		return nil, perm.Unwrap()
	}
	var cerr *connect.Error
	if errors.As(err, &cerr) || last == nil {
		return nil, err
	}
	// The deadline passed, or ctx was cancelled, while waiting to retry.
	code := connect.CodeDeadlineExceeded
	if errors.Is(err, context.Canceled) {
		code = connect.CodeCanceled
	}
	return nil, connect.NewError(code, fmt.Errorf("%w while waiting to retry; last attempt: %w", err, last))
}

// FieldOf returns the request field that an InvalidArgument error is
// about ("name", "email", "limit", "page_token", ...), from its
// google.rpc.BadRequest detail, or "" when there is none.
func FieldOf(err error) string {
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeInvalidArgument {
		return ""
	}
	for _, d := range cerr.Details() {
		v, derr := d.Value()
		if br, ok := v.(*errdetails.BadRequest); ok && derr == nil && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}
