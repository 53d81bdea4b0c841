package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/paysim"
)

// soldOutSale is the API's dependencies over an embedded deployment
// holding one sale whose one unit is sold, and the place-order that the
// rush then sends: answered 409 sold_out.
type soldOutSale struct {
	deps       Deps
	path, body string
}

func newSoldOutSale(t testing.TB) soldOutSale {
	t.Helper()
	d, err := deployment.Open(t.Context(), deployment.Config{Kind: deployment.Embedded, DataDir: t.TempDir()}, notify.NewHub())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	service, err := d.Service(t.Context(), checkout.Config{Payments: paysim.New(paysim.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Checkout: service,
		// The token is the user's id; "admin" is the admin.
		Verify: func(token string) (Identity, error) { return Identity{UserID: token, Admin: token == "admin"}, nil },
		Limits: &Limits{Limiter: d.Limiter}, // policies off
	}
	api := NewServer(deps)
	now := time.Now().UTC()
	created := serve(t, api, "POST", "/admin/flash-sales", "admin", fmt.Sprintf(`{"name":"Tracing","start_time":%q,"end_time":%q,
		"items":[{"product_id":"p","name":"Phone","original_price":"9.00","sale_price":"5.00","currency":"USD","total_quantity":1,"per_user_limit":1}]}`,
		now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)))
	var sale struct {
		SaleID string `json:"sale_id"`
		Items  []struct {
			ItemID string `json:"item_id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(created.Body.Bytes(), &sale); created.Code != http.StatusCreated || err != nil {
		t.Fatalf("create sale: %d %s", created.Code, created.Body)
	}
	s := soldOutSale{deps: deps, path: "/flash-sales/" + sale.SaleID + "/orders", body: `{"item_id":"` + sale.Items[0].ItemID + `","quantity":1}`}
	if w := serve(t, api, "POST", s.path, "winner", s.body); w.Code != http.StatusCreated {
		t.Fatalf("the one unit: %d %s", w.Code, w.Body)
	}
	return s
}

// request is a place-order of the sold-out item by a shopper.
func (s soldOutSale) request() *http.Request {
	r := httptest.NewRequest("POST", s.path, strings.NewReader(s.body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer shopper")
	return r
}

// server is the API over the sale, traced by provider (nil: off).
func (s soldOutSale) server(provider trace.TracerProvider) http.Handler {
	deps := s.deps
	deps.TracerProvider = provider
	return NewServer(deps)
}

func serve(t testing.TB, h http.Handler, method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// recording is a tracer provider that keeps every span it records.
func recording(t testing.TB, sampler sdktrace.Sampler) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	spans := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	return provider, spans
}

const (
	callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan  = "00f067aa0ba902b7"
)

// A sold-out place-order from a caller that traces it: one server span
// in the caller's trace, named by its route, with the method, route,
// status and error code, and nothing else (no path with its ids, no
// token, no client address). The service samples nothing of its own
// here: the caller's sampled flag is what records it.
func TestTracingSpanOfASoldOutOrder(t *testing.T) {
	sale := newSoldOutSale(t)
	provider, spans := recording(t, sdktrace.ParentBased(sdktrace.NeverSample()))
	r := sale.request()
	r.Header.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	w := httptest.NewRecorder()
	sale.server(provider).ServeHTTP(w, r)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `"code":"sold_out"`) {
		t.Fatalf("answer %d %s, want 409 sold_out", w.Code, w.Body)
	}

	got := spans.GetSpans()
	if len(got) != 1 {
		t.Fatalf("%d spans, want 1", len(got))
	}
	span := got[0]
	if span.Name != "POST /flash-sales/{sale_id}/orders" || span.SpanKind != trace.SpanKindServer {
		t.Errorf("span %q of kind %v, want a server span POST /flash-sales/{sale_id}/orders", span.Name, span.SpanKind)
	}
	if span.SpanContext.TraceID().String() != callerTrace || span.Parent.SpanID().String() != callerSpan || !span.Parent.IsRemote() {
		t.Errorf("span in trace %s under %s (remote %v), want the caller's %s under %s",
			span.SpanContext.TraceID(), span.Parent.SpanID(), span.Parent.IsRemote(), callerTrace, callerSpan)
	}
	if span.Status.Code != codes.Unset {
		t.Errorf("status %v: a 4xx is the client's, not the server's error", span.Status)
	}
	want := map[attribute.Key]attribute.Value{
		"http.request.method":       attribute.StringValue("POST"),
		"http.route":                attribute.StringValue("/flash-sales/{sale_id}/orders"),
		"http.response.status_code": attribute.IntValue(409),
		"flashsale.error.code":      attribute.StringValue("sold_out"),
	}
	checkAttributes(t, span, want)
}

func checkAttributes(t *testing.T, span tracetest.SpanStub, want map[attribute.Key]attribute.Value) {
	t.Helper()
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range span.Attributes {
		got[kv.Key] = kv.Value
	}
	if len(got) != len(want) {
		t.Errorf("%s: attributes %v, want exactly %v", span.Name, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v, want %v", span.Name, k, got[k], v)
		}
	}
}

// The names and attributes of the other answers: a route's, a HEAD of a
// GET route, no route (404), a made-up method (405), a server's error
// (503: error.type and an error status), and a caller's unsampled
// traceparent, which records nothing.
func TestTracingNamesEveryAnswer(t *testing.T) {
	sale := newSoldOutSale(t)
	provider, spans := recording(t, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	deps := sale.deps
	deps.TracerProvider = provider
	deps.Ready = func(*http.Request) error { return errors.New("the store does not answer") }
	api := NewServer(deps)
	method := func(m string) attribute.Value { return attribute.StringValue(m) }
	route := func(p string) attribute.Value { return attribute.StringValue(p) }
	status := attribute.IntValue
	code := attribute.StringValue
	for _, tt := range []struct {
		method, path string
		name         string
		attributes   map[attribute.Key]attribute.Value
		failed       bool
	}{
		{"GET", "/flash-sales", "GET /flash-sales", map[attribute.Key]attribute.Value{
			"http.request.method": method("GET"), "http.route": route("/flash-sales"), "http.response.status_code": status(200)}, false},
		{"HEAD", "/flash-sales", "HEAD /flash-sales", map[attribute.Key]attribute.Value{
			"http.request.method": method("HEAD"), "http.route": route("/flash-sales"), "http.response.status_code": status(200)}, false},
		{"GET", "/nowhere/at-all", "GET", map[attribute.Key]attribute.Value{
			"http.request.method": method("GET"), "http.response.status_code": status(404), "flashsale.error.code": code("not_found")}, false},
		{"BREW", "/flash-sales", "HTTP /flash-sales", map[attribute.Key]attribute.Value{
			"http.request.method": method("_OTHER"), "http.route": route("/flash-sales"), "http.response.status_code": status(405),
			"flashsale.error.code": code("method_not_allowed")}, false},
		{"GET", "/readyz", "GET /readyz", map[attribute.Key]attribute.Value{
			"http.request.method": method("GET"), "http.route": route("/readyz"), "http.response.status_code": status(503),
			"flashsale.error.code": code("unavailable"), "error.type": code("unavailable")}, true},
	} {
		spans.Reset()
		serve(t, api, tt.method, tt.path, "shopper", "")
		got := spans.GetSpans()
		if len(got) != 1 {
			t.Errorf("%s %s: %d spans, want 1", tt.method, tt.path, len(got))
			continue
		}
		if got[0].Name != tt.name {
			t.Errorf("%s %s: span %q, want %q", tt.method, tt.path, got[0].Name, tt.name)
		}
		checkAttributes(t, got[0], tt.attributes)
		if failed := got[0].Status.Code == codes.Error; failed != tt.failed || (failed && got[0].Status.Description != "unavailable") {
			t.Errorf("%s %s: status %v", tt.method, tt.path, got[0].Status)
		}
	}

	spans.Reset()
	if w := serve(t, api, "GET", "/flash-sales", "shopper", "", "Traceparent", "00-"+callerTrace+"-"+callerSpan+"-00"); w.Code != http.StatusOK {
		t.Fatalf("GET /flash-sales: %d", w.Code)
	}
	if got := spans.GetSpans(); len(got) != 0 {
		t.Errorf("a caller's unsampled trace recorded %d spans", len(got))
	}
}

// Tracing off is the chain as it was: NewServer without a provider
// returns no tracing wrapper, and a sold-out press allocates exactly what
// the chain inside a traced server allocates, which is NewServer's chain
// before tracing. The measure can tell: a tracer that records nothing
// still costs its wrapper allocations.
func TestTracingOffCostsNothing(t *testing.T) {
	sale := newSoldOutSale(t)
	off := sale.server(nil)
	if _, traced := off.(*tracing); traced {
		t.Fatal("without a TracerProvider the chain is wrapped")
	}
	provider, _ := recording(t, sdktrace.NeverSample())
	on, traced := sale.server(provider).(*tracing)
	if !traced {
		t.Fatal("with a TracerProvider the chain is not traced")
	}
	// The least of three counts: the deployment's own goroutines may
	// allocate during one, never take allocations away from it.
	allocs := func(h http.Handler) float64 {
		press := func() float64 {
			return testing.AllocsPerRun(500, func() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, sale.request())
				if w.Code != http.StatusConflict {
					t.Fatalf("answer %d %s", w.Code, w.Body)
				}
			})
		}
		return min(press(), press(), press())
	}
	offAllocs, bare, unsampled := allocs(off), allocs(on.next), allocs(on)
	t.Logf("allocations per sold-out press: off %v, the chain alone %v, on but not sampled %v", offAllocs, bare, unsampled)
	if offAllocs != bare {
		t.Errorf("tracing off allocates %v per press, the chain alone %v", offAllocs, bare)
	}
	if unsampled <= offAllocs {
		t.Errorf("a tracer that records nothing allocates %v, off %v: the measure cannot see a wrapper", unsampled, offAllocs)
	}
}

// BenchmarkTracing is a sold-out press with tracing off, on but not
// sampled (most requests at a ratio of 0.01), and on and sampled (the
// span batched for an exporter that sends nothing).
func BenchmarkTracing(b *testing.B) {
	sale := newSoldOutSale(b)
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	sampled := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() {
		unsampled.Shutdown(context.Background())
		sampled.Shutdown(context.Background())
	})
	for _, bb := range []struct {
		name     string
		provider trace.TracerProvider
	}{{"off", nil}, {"unsampled", unsampled}, {"sampled", sampled}} {
		b.Run(bb.name, func(b *testing.B) {
			h := sale.server(bb.provider)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, sale.request())
				if w.Code != http.StatusConflict {
					b.Fatalf("answer %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

func TestTracingReadsTheErrorCode(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"code":"sold_out","message":"x"}}`: "sold_out",
		`{"error":{"code":"`:                          "",
		`{"status":"ready"}`:                          "",
		`<html>`:                                      "",
		`{"error":{"code":"` + strings.Repeat("a", 65) + `"}}`: "",
	} {
		if got := errorCode([]byte(body)); got != want {
			t.Errorf("errorCode(%.40q) = %q, want %q", body, got, want)
		}
	}
	// The API's error bodies start as errorCode reads them.
	w := httptest.NewRecorder()
	(&server{}).error(w, httptest.NewRequest("GET", "/", nil), errUncleanPath)
	if got := errorCode(w.Body.Bytes()); got != "not_found" {
		t.Errorf("errorCode of %s = %q", w.Body, got)
	}
}
