package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
)

// TestTracingExportsHTTPAndDatabaseSpans points the service at a fake OTLP
// collector and checks that a request carrying a W3C traceparent yields a
// server span and a database span in that trace, and that an RPC
// carrying one in its metadata yields a gRPC server span in its trace.
func TestTracingExportsHTTPAndDatabaseSpans(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("collector got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer collector.Close()

	s := startService(t, newMigratedDB(t), map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := s.do(t, "GET", "/api/v1/users/1", "", "traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if r.status != http.StatusNotFound {
		t.Fatalf("GET: %d", r.status)
	}
	const rpcTraceID = "0af7651916cd43dd8448eb211c80319c"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+rpcTraceID+"-b7ad6b7169203331-01")
	err := s.grpcConn(t).Invoke(ctx, userservicev1connect.UserServiceGetUserProcedure, &pb.GetUserRequest{Id: 1}, new(pb.User))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("GetUser: %v", err)
	}
	s.stop(t) // flushes the exporter
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		all := strings.Join(bodies, "\n")
		mu.Unlock()
		if strings.Contains(all, traceID) && strings.Contains(all, `"name":"db SELECT"`) && strings.Contains(all, `"name":"GET /api/v1/users/{id}"`) &&
			strings.Contains(all, rpcTraceID) && strings.Contains(all, `"name":"userservice.v1.UserService/GetUser"`) {
			if !strings.Contains(all, `"stringValue":"user-service"`) {
				t.Fatalf("spans lack the service.name resource:\n%s", all)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector did not receive a server and a db span in trace %s and a gRPC span in trace %s:\n%s", traceID, rpcTraceID, all)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
