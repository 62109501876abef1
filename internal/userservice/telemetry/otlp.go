package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// OTLPExporter sends spans to an OTLP/HTTP endpoint in the protocol's JSON
// encoding. It exists because the upstream otlptracehttp exporter links
// gRPC and protobuf into the binary (about 5 MB), which would break the
// service's 20 MB size budget; collectors accept both encodings.
type OTLPExporter struct {
	url    string
	client *http.Client
}

// NewOTLPExporter returns an exporter posting to endpoint + "/v1/traces",
// as the OTEL_EXPORTER_OTLP_ENDPOINT convention says.
func NewOTLPExporter(endpoint string) (*OTLPExporter, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL such as http://otel-collector:4318, got %q", endpoint)
	}
	return &OTLPExporter{
		url:    strings.TrimSuffix(endpoint, "/") + "/v1/traces",
		client: &http.Client{Timeout: 10 * time.Second},
	}, nil
}

// ExportSpans posts one batch of spans.
func (e *OTLPExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(encodeSpans(spans))
	if err != nil {
		return fmt.Errorf("encoding %d spans as OTLP JSON: %w", len(spans), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building OTLP request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting spans to %s: %w", e.url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("posting spans to %s: collector answered %s", e.url, resp.Status)
	}
	return nil
}

// Shutdown has nothing to release.
func (e *OTLPExporter) Shutdown(context.Context) error { return nil }

// JSON shapes of the OTLP trace export request.
type (
	otlpRequest struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
	}
	otlpResource struct {
		Attributes []otlpKV `json:"attributes"`
	}
	otlpScopeSpans struct {
		Scope otlpScope  `json:"scope"`
		Spans []otlpSpan `json:"spans"`
	}
	otlpScope struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}
	otlpSpan struct {
		TraceID      string     `json:"traceId"`
		SpanID       string     `json:"spanId"`
		ParentSpanID string     `json:"parentSpanId,omitempty"`
		Name         string     `json:"name"`
		Kind         int        `json:"kind"`
		Start        string     `json:"startTimeUnixNano"`
		End          string     `json:"endTimeUnixNano"`
		Attributes   []otlpKV   `json:"attributes,omitempty"`
		Status       otlpStatus `json:"status"`
	}
	otlpStatus struct {
		Code    int    `json:"code"`
		Message string `json:"message,omitempty"`
	}
	otlpKV struct {
		Key   string    `json:"key"`
		Value otlpValue `json:"value"`
	}
	otlpValue struct {
		String *string  `json:"stringValue,omitempty"`
		Bool   *bool    `json:"boolValue,omitempty"`
		Int    *string  `json:"intValue,omitempty"`
		Double *float64 `json:"doubleValue,omitempty"`
	}
)

// encodeSpans groups spans by resource and scope into an export request.
func encodeSpans(spans []sdktrace.ReadOnlySpan) otlpRequest {
	var req otlpRequest
	index := map[string]int{}
	for _, s := range spans {
		key := s.Resource().Encoded(attribute.DefaultEncoder()) + "\x00" + s.InstrumentationScope().Name
		i, ok := index[key]
		if !ok {
			i = len(req.ResourceSpans)
			index[key] = i
			req.ResourceSpans = append(req.ResourceSpans, otlpResourceSpans{
				Resource:   otlpResource{Attributes: encodeAttrs(s.Resource().Attributes())},
				ScopeSpans: []otlpScopeSpans{{Scope: otlpScope{Name: s.InstrumentationScope().Name, Version: s.InstrumentationScope().Version}}},
			})
		}
		ss := &req.ResourceSpans[i].ScopeSpans[0]
		ss.Spans = append(ss.Spans, encodeSpan(s))
	}
	return req
}

// encodeSpan converts one span.
func encodeSpan(s sdktrace.ReadOnlySpan) otlpSpan {
	sc := s.SpanContext()
	out := otlpSpan{
		TraceID:    sc.TraceID().String(),
		SpanID:     sc.SpanID().String(),
		Name:       s.Name(),
		Kind:       int(s.SpanKind()),
		Start:      strconv.FormatInt(s.StartTime().UnixNano(), 10),
		End:        strconv.FormatInt(s.EndTime().UnixNano(), 10),
		Attributes: encodeAttrs(s.Attributes()),
	}
	if p := s.Parent(); p.HasSpanID() {
		out.ParentSpanID = p.SpanID().String()
	}
	switch s.Status().Code {
	case codes.Ok:
		out.Status.Code = 1
	case codes.Error:
		out.Status = otlpStatus{Code: 2, Message: s.Status().Description}
	}
	return out
}

// encodeAttrs converts attributes to OTLP key/values.
func encodeAttrs(attrs []attribute.KeyValue) []otlpKV {
	out := make([]otlpKV, 0, len(attrs))
	for _, a := range attrs {
		var v otlpValue
		switch a.Value.Type() {
		case attribute.BOOL:
			b := a.Value.AsBool()
			v.Bool = &b
		case attribute.INT64:
			i := strconv.FormatInt(a.Value.AsInt64(), 10)
			v.Int = &i
		case attribute.FLOAT64:
			f := a.Value.AsFloat64()
			v.Double = &f
		default:
			str := a.Value.String()
			v.String = &str
		}
		out = append(out, otlpKV{Key: string(a.Key), Value: v})
	}
	return out
}
