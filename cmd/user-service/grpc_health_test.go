package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionalphapb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/userservice-dev/userservice-operator/internal/userservice/pgtest"
)

// healthStatus asks grpc.health.v1.Health/Check about service.
func healthStatus(t *testing.T, conn *grpc.ClientConn,
	service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	return resp.GetStatus(), err
}

// waitHealth polls the health service until it answers want for service.
func waitHealth(t *testing.T, conn *grpc.ClientConn, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got healthpb.HealthCheckResponse_ServingStatus
	var err error
	for time.Now().Before(deadline) {
		if got, err = healthStatus(t, conn, service); err == nil && got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("health of %q: %v %v, want %v within 10s", service, got, err, want)
}

// TestGRPCHealthFollowsReadiness checks that grpc.health.v1.Health answers
// what /ready answers: NOT_SERVING while the schema is older than the
// binary needs, SERVING once it is migrated, and NOT_SERVING again from
// SIGTERM on, while the gRPC API keeps serving during SHUTDOWN_DRAIN.
func TestGRPCHealthFollowsReadiness(t *testing.T) {
	db := pgtest.NewDatabase(t)
	s := startService(t, db, map[string]string{"SHUTDOWN_DRAIN": "2s"})
	conn := s.grpcConn(t)
	for _, service := range []string{"", "userservice.v1.UserService"} {
		waitHealth(t, conn, service, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	s.waitReady(t, http.StatusServiceUnavailable, time.Second)
	_, err := healthStatus(t, conn, "some.other.Service")
	wantCode(t, "health of an unknown service", err, codes.NotFound, "unknown service")

	migrateUp(t, db)
	for _, service := range []string{"", "userservice.v1.UserService"} {
		waitHealth(t, conn, service, healthpb.HealthCheckResponse_SERVING)
	}
	s.waitReady(t, http.StatusOK, time.Second)

	s.cancel()
	s.cancel = nil
	waitHealth(t, conn, "", healthpb.HealthCheckResponse_NOT_SERVING)
	s.waitReady(t, http.StatusServiceUnavailable, time.Second)
	if _, err := (rpcCaller{conn: conn, token: s.token}).create("Ada", "ada@example.com"); err != nil {
		t.Fatalf("CreateUser during the drain: %v", err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("run returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("service did not stop within 30s")
	}
	logs := s.logs.String()
	for _, want := range []string{`"msg":"Stopped HTTP server"`, `"msg":"Stopped gRPC server"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

// TestGRPCReflection checks that server reflection, v1 and v1alpha, lists
// the API, and serves its schema, so that grpcurl needs no proto file.
func TestGRPCReflection(t *testing.T) {
	s := startService(t, newMigratedDB(t), nil)
	conn := s.grpcConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	services := resp.GetListServicesResponse().GetService()
	names := make([]string, 0, len(services))
	for _, svc := range services {
		names = append(names, svc.GetName())
	}
	if len(names) != 1 || names[0] != "userservice.v1.UserService" {
		t.Fatalf("v1 ListServices: %v, want [userservice.v1.UserService]", names)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
			FileContainingSymbol: "userservice.v1.UserService"}}); err != nil {
		t.Fatal(err)
	}
	if resp, err = stream.Recv(); err != nil {
		t.Fatal(err)
	}
	files := resp.GetFileDescriptorResponse().GetFileDescriptorProto()
	if len(files) == 0 {
		t.Fatalf("FileContainingSymbol: %v", resp)
	}
	fd := new(descriptorpb.FileDescriptorProto)
	if err := proto.Unmarshal(files[0], fd); err != nil {
		t.Fatal(err)
	}
	if fd.GetName() != "userservice/v1/user_service.proto" || len(fd.GetService()) != 1 ||
		len(fd.GetService()[0].GetMethod()) != 5 {
		t.Fatalf("the served schema: %s with %d services", fd.GetName(), len(fd.GetService()))
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: %v, want io.EOF", err)
	}

	if n, err := v1alphaServices(ctx, conn); err != nil || n != 1 {
		t.Fatalf("v1alpha ListServices: %d services, %v; want 1", n, err)
	}
}

// v1alphaServices counts the services that v1alpha server reflection lists.
//
//nolint:staticcheck // SA1019: older grpcurl versions still use v1alpha reflection; this checks the server answers it.
func v1alphaServices(ctx context.Context, conn *grpc.ClientConn) (int, error) {
	alpha, err := reflectionalphapb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = alpha.CloseSend() }()
	if err := alpha.Send(&reflectionalphapb.ServerReflectionRequest{
		MessageRequest: &reflectionalphapb.ServerReflectionRequest_ListServices{}}); err != nil {
		return 0, err
	}
	resp, err := alpha.Recv()
	if err != nil {
		return 0, err
	}
	return len(resp.GetListServicesResponse().GetService()), nil
}

// TestGRPCPortZeroTurnsGRPCOff checks that GRPC_PORT=0 starts no gRPC
// server.
func TestGRPCPortZeroTurnsGRPCOff(t *testing.T) {
	s := startService(t, newMigratedDB(t), map[string]string{"GRPC_PORT": "0"})
	s.waitLog(t, `"msg":"Started HTTP server"`)
	s.stop(t)
	if logs := s.logs.String(); strings.Contains(logs, "gRPC") {
		t.Fatalf("GRPC_PORT=0 still started gRPC:\n%s", logs)
	}
}
