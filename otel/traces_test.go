package otel

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// collector records the OTLP exports it receives.
type collector struct {
	*httptest.Server
	mu      sync.Mutex
	exports []*http.Request
	bodies  [][]byte
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.exports, c.bodies = append(c.exports, r), append(c.bodies, body)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(c.Close)
	return c
}

// received reports whether an export to path held each of want.
func (c *collector) received(path string, want ...[]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.exports {
		if r.URL.Path != path || r.Header.Get("Content-Type") != "application/x-protobuf" {
			continue
		}
		found := true
		for _, w := range want {
			found = found && bytes.Contains(c.bodies[i], w)
		}
		if found {
			return true
		}
	}
	return false
}

// A span ends and the provider shuts down at once: the span is sent then,
// as protobuf to the base URL's path and /v1/traces, with the service's
// name and version.
func TestOTLPShutdownSendsTheLastSpans(t *testing.T) {
	c := newCollector(t)
	provider, err := NewTracerProvider(t.Context(), Options{Endpoint: c.URL + "/collector/", SampleRatio: 1, Version: "v9.9.9-test"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := provider.Tracer("test").Start(context.Background(), "GET /flash-sales")
	span.End()
	if err := provider.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	id := span.SpanContext().TraceID()
	if !c.received("/collector/v1/traces", id[:], []byte("GET /flash-sales"), []byte(serviceName), []byte("v9.9.9-test")) {
		t.Fatalf("no export of trace %s with the service's name and version: %d requests", id, len(c.exports))
	}
}

// The ratio decides only the traces that start here: a caller's sampled
// trace is recorded at a ratio of 0, its unsampled one is not at 1.
func TestOTLPSamplerFollowsTheCaller(t *testing.T) {
	c := newCollector(t)
	caller := func(sampled bool) context.Context {
		flags := trace.TraceFlags(0)
		if sampled {
			flags = trace.FlagsSampled
		}
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: flags, Remote: true,
		}))
	}
	for _, tt := range []struct {
		ratio  float64
		parent context.Context
		want   bool
	}{
		{0, context.Background(), false},
		{1, context.Background(), true},
		{0, caller(true), true},
		{1, caller(false), false},
	} {
		provider, err := NewTracerProvider(t.Context(), Options{Endpoint: c.URL, SampleRatio: tt.ratio})
		if err != nil {
			t.Fatal(err)
		}
		_, span := provider.Tracer("test").Start(tt.parent, "GET /flash-sales")
		if span.IsRecording() != tt.want {
			t.Errorf("ratio %v, caller's %v: recorded %v", tt.ratio, trace.SpanContextFromContext(tt.parent), span.IsRecording())
		}
		span.End()
		provider.Shutdown(t.Context())
	}
}

func TestOTLPEndpoints(t *testing.T) {
	for endpoint, want := range map[string]string{
		"http://127.0.0.1:4318":              "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":             "http://127.0.0.1:4318/v1/traces",
		"https://otel.example/otlp":          "https://otel.example/otlp/v1/traces",
		"127.0.0.1:4318":                     "",
		"grpc://127.0.0.1:4317":              "",
		"http://":                            "",
		"http://collector:4318/?token=x":     "",
		"http://collector:4318/#fragment":    "",
		"http://[::1]:4318/with%2Fescape/ok": "http://[::1]:4318/with%2Fescape/ok/v1/traces",
	} {
		got, err := TracesURL(endpoint)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("TracesURL(%q) = %q, %v; want %q", endpoint, got, err, want)
		}
	}
}
