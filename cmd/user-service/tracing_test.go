package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1"
	"github.com/userservice-dev/userservice-operator/pkg/api/userservice/v1/userservicev1connect"
)

// TestTracingExportsHTTPAndDatabaseSpans points the service at a fake OTLP
// collector and checks that a request carrying a W3C traceparent yields a
// server span, child of the caller's span, and a database span, child of the
// server span, and that an RPC carrying one in its metadata yields a gRPC
// server span in its trace, all under the service.name resource. The
// collector decodes each body with the OTLP protobuf types, rejecting unknown
// fields, as a real collector would.
func TestTracingExportsHTTPAndDatabaseSpans(t *testing.T) {
	var mu sync.Mutex
	var requests []*coltracepb.ExportTraceServiceRequest
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("collector got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		req, err := decodeOTLPJSON(b)
		if err != nil {
			t.Errorf("decoding the export request: %v\n%s", err, b)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		requests = append(requests, req)
		mu.Unlock()
	}))
	defer collector.Close()

	s := startService(t, newMigratedDB(t), map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL})
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	r := s.do(t, "GET", "/api/v1/users/1", "", "traceparent", "00-"+traceID+"-"+parentID+"-01")
	if r.status != http.StatusNotFound {
		t.Fatalf("GET: %d", r.status)
	}
	const rpcTraceID, rpcParentID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	ctx := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+rpcTraceID+"-"+rpcParentID+"-01")
	err := s.grpcConn(t).Invoke(ctx, userservicev1connect.UserServiceGetUserProcedure,
		&pb.GetUserRequest{Id: 1}, new(pb.User))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("GetUser: %v", err)
	}
	s.stop(t) // flushes the exporter
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := exportedSpans(requests)
		mu.Unlock()
		server, db := got.find(traceID, "GET /api/v1/users/{id}"), got.find(traceID, "db SELECT")
		rpc := got.find(rpcTraceID, "userservice.v1.UserService/GetUser")
		if server != nil && db != nil && rpc != nil {
			checkSpan(t, *server, tracepb.Span_SPAN_KIND_SERVER, parentID)
			checkSpan(t, *db, tracepb.Span_SPAN_KIND_CLIENT, hex.EncodeToString(server.span.SpanId))
			checkSpan(t, *rpc, tracepb.Span_SPAN_KIND_SERVER, rpcParentID)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector did not receive a server and a db span in trace %s and a gRPC span in trace %s; got:\n%s",
				traceID, rpcTraceID, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSpan checks a span's kind, its parent (hex) and its service.name resource.
func checkSpan(t *testing.T, s exportedSpan, kind tracepb.Span_SpanKind, parentID string) {
	t.Helper()
	if s.span.Kind != kind {
		t.Errorf("span %q has kind %s, want %s", s.span.Name, s.span.Kind, kind)
	}
	if hex.EncodeToString(s.span.ParentSpanId) != parentID {
		t.Errorf("span %q has parent %x, want %s", s.span.Name, s.span.ParentSpanId, parentID)
	}
	if name := stringAttr(s.resource, "service.name"); name != "user-service" {
		t.Errorf("span %q has service.name %q, want user-service", s.span.Name, name)
	}
}

// decodeOTLPJSON decodes an OTLP/HTTP JSON export request. OTLP's JSON
// encoding is protobuf's, except that trace and span ids are hex instead of
// base64; they are converted before protojson reads the body.
func decodeOTLPJSON(body []byte) (*coltracepb.ExportTraceServiceRequest, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if err := hexIDsToBase64(doc); err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	req := &coltracepb.ExportTraceServiceRequest{}
	return req, protojson.Unmarshal(b, req)
}

// idBytes is the length of each id field of OTLP's JSON encoding.
var idBytes = map[string]int{"traceId": 16, "spanId": 8, "parentSpanId": 8}

// hexIDsToBase64 rewrites, anywhere in a decoded JSON document, the hex id
// fields as base64, and fails on an id that is not hex of the right length.
func hexIDsToBase64(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := idBytes[k]; ok {
				s, _ := x.(string)
				b, err := hex.DecodeString(s)
				if err != nil || len(b) != n {
					return fmt.Errorf("%s %q is not %d bytes of hex", k, s, n)
				}
				v[k] = base64.StdEncoding.EncodeToString(b)
				continue
			}
			if err := hexIDsToBase64(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := hexIDsToBase64(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// exportedSpan is a span with the attributes of its resource.
type exportedSpan struct {
	span     *tracepb.Span
	resource []*commonpb.KeyValue
}

// spanList is every span the collector received.
type spanList []exportedSpan

// exportedSpans flattens export requests into their spans.
func exportedSpans(reqs []*coltracepb.ExportTraceServiceRequest) spanList {
	var out spanList
	for _, req := range reqs {
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					out = append(out, exportedSpan{span: s, resource: rs.GetResource().GetAttributes()})
				}
			}
		}
	}
	return out
}

// find returns the span named name in trace traceID (hex), or nil.
func (l spanList) find(traceID, name string) *exportedSpan {
	for i, s := range l {
		if s.span.Name == name && hex.EncodeToString(s.span.TraceId) == traceID {
			return &l[i]
		}
	}
	return nil
}

// String lists the spans, one per line, for failure messages.
func (l spanList) String() string {
	var out string
	for _, s := range l {
		out += fmt.Sprintf("  trace %x span %x parent %x %s %q\n", s.span.TraceId, s.span.SpanId, s.span.ParentSpanId,
			s.span.Kind, s.span.Name)
	}
	return out
}

// stringAttr returns the string value of the attribute key, or "".
func stringAttr(attrs []*commonpb.KeyValue, key string) string {
	for _, a := range attrs {
		if a.GetKey() == key {
			return a.GetValue().GetStringValue()
		}
	}
	return ""
}
