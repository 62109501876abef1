// Package rpc serves the user service's gRPC API (userservice.v1), the
// standard health service and server reflection, with Connect
// (connectrpc.com/connect) on net/http. It shares the store, the
// validation, the list rules, authentication and the error mapping with
// the REST API in package http.
package rpc

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"connectrpc.com/otelconnect"

	"github.com/userservice-dev/userservice-operator/internal/userservice/auth"
	api "github.com/userservice-dev/userservice-operator/internal/userservice/http"
	"github.com/userservice-dev/userservice-operator/internal/userservice/users"
	userservicev1 "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
)

// Options configures NewHandler.
type Options struct {
	Store     api.Store
	Verifier  *auth.Verifier
	Readiness *api.Readiness
	Metrics   *Metrics
	Logger    *slog.Logger
	// AuthRequiredForReads makes GetUser and ListUsers require a token too.
	AuthRequiredForReads bool
	// Tracing adds an OpenTelemetry server span per RPC, through the
	// global tracer provider and propagator.
	Tracing bool
}

// pageNames are ListUsersRequest's fields, for the list rules' errors.
var pageNames = api.PageNames{Page: "page", Limit: "limit", After: "page_token", Next: "next_page_token"}

// server implements userservicev1connect.UserServiceHandler.
type server struct {
	store  api.Store
	logger *slog.Logger
}

// NewHandler returns the handler of the gRPC port: userservice.v1.UserService,
// grpc.health.v1.Health (following the same readiness as /ready) and
// server reflection (v1 and v1alpha). Every RPC is counted in Metrics;
// UserService calls are authenticated like REST's.
func NewHandler(o Options) (http.Handler, error) {
	interceptors := []connect.Interceptor{o.Metrics}
	if o.Tracing {
		tracing, err := otelconnect.NewInterceptor(otelconnect.WithTrustRemote(), otelconnect.WithoutMetrics())
		if err != nil {
			return nil, err
		}
		interceptors = append([]connect.Interceptor{tracing}, interceptors...)
	}
	common := []connect.HandlerOption{connect.WithInterceptors(interceptors...), connect.WithReadMaxBytes(api.MaxBodyBytes)}
	s := &server{store: o.Store, logger: o.Logger}
	mux := http.NewServeMux()
	authn := connect.WithInterceptors(authenticate(o.Verifier, o.AuthRequiredForReads, s))
	mux.Handle(userservicev1connect.NewUserServiceHandler(s, append(slices.Clip(common), authn)...))
	mux.Handle(grpchealth.NewHandler(readinessChecker{o.Readiness}, common...))
	// Reflection lists only the API: Connect's health and reflection
	// services carry their schemas under other package names (so as not to
	// clash with google.golang.org/grpc's), so it could not describe them.
	reflector := grpcreflect.NewStaticReflector(userservicev1connect.UserServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, common...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, common...))
	return mux, nil
}

// GetUser serves userservice.v1.UserService/GetUser.
func (s *server) GetUser(ctx context.Context, req *connect.Request[userservicev1.GetUserRequest]) (*connect.Response[userservicev1.User], error) {
	u, err := s.store.GetUser(ctx, req.Msg.GetId())
	if err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(toProto(u)), nil
}

// ListUsers serves userservice.v1.UserService/ListUsers with the rules of
// GET /api/v1/users: page and limit 0 are absent, and page_token is the
// after cursor.
func (s *server) ListUsers(ctx context.Context, req *connect.Request[userservicev1.ListUsersRequest]) (*connect.Response[userservicev1.ListUsersResponse], error) {
	m := req.Msg
	p, err := api.ParsePage(decimal(m.GetPage()), decimal(m.GetLimit()), m.GetPageToken(), pageNames)
	if err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	list, more, err := p.Fetch(ctx, s.store)
	if err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	out := &userservicev1.ListUsersResponse{Users: make([]*userservicev1.User, len(list))}
	for i, u := range list {
		out.Users[i] = toProto(u)
	}
	if more {
		out.NextPageToken = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	return connect.NewResponse(out), nil
}

// CreateUser serves userservice.v1.UserService/CreateUser.
func (s *server) CreateUser(ctx context.Context, req *connect.Request[userservicev1.CreateUserRequest]) (*connect.Response[userservicev1.User], error) {
	in, err := users.Input{Name: req.Msg.GetName(), Email: req.Msg.GetEmail()}.Normalize()
	if err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	u, err := s.store.CreateUser(ctx, in)
	if err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(toProto(u)), nil
}

// UpdateUser serves userservice.v1.UserService/UpdateUser: it replaces
// name and email.
func (s *server) UpdateUser(ctx context.Context, req *connect.Request[userservicev1.UpdateUserRequest]) (*connect.Response[userservicev1.User], error) {
	in, err := users.Input{Name: req.Msg.GetName(), Email: req.Msg.GetEmail()}.Normalize()
	if err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	u, err := s.store.UpdateUser(ctx, req.Msg.GetId(), in)
	if err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(toProto(u)), nil
}

// DeleteUser serves userservice.v1.UserService/DeleteUser.
func (s *server) DeleteUser(ctx context.Context, req *connect.Request[userservicev1.DeleteUserRequest]) (*connect.Response[userservicev1.DeleteUserResponse], error) {
	if err := s.store.DeleteUser(ctx, req.Msg.GetId()); err != nil {
		return nil, s.fail(ctx, req.Spec(), err)
	}
	return connect.NewResponse(&userservicev1.DeleteUserResponse{}), nil
}

// toProto converts a stored user.
func toProto(u users.User) *userservicev1.User {
	return &userservicev1.User{Id: u.ID, Name: u.Name, Email: u.Email}
}

// decimal formats n as the list rules read parameters: 0 (proto3's
// absent value) is "", anything else its decimal form, so that a negative
// number gets the same error as in REST.
func decimal(n int32) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(int64(n), 10)
}
