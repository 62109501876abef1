package rpc

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	api "github.com/userservice-dev/userservice-operator/internal/userservice/http"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
)

// readinessChecker answers grpc.health.v1.Health/Check with the readiness
// behind /ready, so that Kubernetes' grpc probe and /ready always agree:
// SERVING when /ready would answer 200, NOT_SERVING otherwise (database
// away, schema too old, shutting down). It knows the server as a whole
// ("") and userservice.v1.UserService.
type readinessChecker struct {
	ready *api.Readiness
}

// Check reports the readiness of the service named in req.
func (c readinessChecker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "", userservicev1connect.UserServiceName:
	default:
		return nil, connect.NewError(connect.CodeNotFound,
			fmt.Errorf("unknown service %q: ask for \"\" or %q", req.Service, userservicev1connect.UserServiceName))
	}
	if err := c.ready.Check(ctx); err != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}
