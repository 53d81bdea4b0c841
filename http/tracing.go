package http

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the API's spans.
const tracerName = "github.com/flashsale/flashsale/http"

// errorCodeKey is the API's error code (docs/API.md) of a 4xx or 5xx
// answer: sold_out, rate_limited, ... OpenTelemetry's error.type is only
// for the answers that are the server's failure, the 5xx.
const errorCodeKey = attribute.Key("flashsale.error.code")

// tracing gives every request a server span, the child of the caller's
// when its W3C traceparent names one, named after the route the mux
// matched ("POST /flash-sales/{sale_id}/orders"). Its attributes are the
// method, the route, the status and the error code: never a path (it
// holds ids), a header, a token or a client address.
//
// NewServer installs it only with a TracerProvider: without one the
// chain has no wrapper at all, not even a no-op tracer's calls.
type tracing struct {
	next   http.Handler
	tracer trace.Tracer
}

// serverSpan starts every span: made once, since each option passed
// afresh is an allocation of every request, sampled or not.
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

func (t *tracing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// Most shoppers send no trace context. Looked up at its canonical
	// name, its absence costs nothing, where HeaderCarrier.Get would
	// canonicalize "traceparent" for every request.
	if _, ok := r.Header["Traceparent"]; ok {
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	method := spanMethod(r.Method)
	name := method
	if method == "_OTHER" {
		name = "HTTP" // OpenTelemetry's HTTP conventions' name for it
	}
	// Named by the method alone until the mux has routed the request.
	ctx, span := t.tracer.Start(ctx, name, serverSpan...)
	defer span.End()
	// The context carries the trace even when this span is not recorded,
	// so that whatever is called on the request's behalf stays in it.
	r = r.WithContext(ctx)
	if !span.IsRecording() {
		t.next.ServeHTTP(w, r)
		return
	}
	// The attributes, only now: the ratio sampler needs none of them,
	// and the requests it drops should not pay for them.
	span.SetAttributes(semconv.HTTPRequestMethodKey.String(method))
	rec := &spanWriter{statusRecorder: statusRecorder{ResponseWriter: w}}
	t.next.ServeHTTP(rec, r)

	// The mux wrote the pattern it matched into r, the request it was
	// handed: "POST /path", or a path alone (the 405 answers of a known
	// path). The catch-all "/" (not_found) and the unclean paths refused
	// before the mux are no route.
	if path := patternPath(r.Pattern); path != "" && path != "/" {
		span.SetName(name + " " + path)
		span.SetAttributes(semconv.HTTPRouteKey.String(path))
	}
	status := rec.status
	if status == 0 { // nothing written: net/http sends 200
		status = http.StatusOK
	}
	span.SetAttributes(semconv.HTTPResponseStatusCodeKey.Int(status))
	if status < http.StatusBadRequest {
		return
	}
	code := rec.code
	if code == "" {
		code = strconv.Itoa(status)
	}
	span.SetAttributes(errorCodeKey.String(code))
	if status >= http.StatusInternalServerError {
		span.SetAttributes(semconv.ErrorTypeKey.String(code))
		span.SetStatus(codes.Error, code)
	}
}

// patternPath is a ServeMux pattern without its method.
func patternPath(pattern string) string {
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// spanMethod is the method as OpenTelemetry's HTTP conventions name it:
// one of HTTP's, or _OTHER, so that a client's made-up methods cannot
// multiply the span names.
func spanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// spanWriter notes the status a handler wrote and, of an error answer,
// the API's error code. Every error body starts {"error":{"code":"...
// (respond.go writes them all), so the code is read from the body's first
// bytes rather than handed along the chain, which stays as it is for
// everyone when tracing is off.
type spanWriter struct {
	statusRecorder
	code string
	read bool // the error body's first bytes were looked at
}

func (w *spanWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= http.StatusBadRequest && !w.read {
		w.read = true
		w.code = errorCode(b)
	}
	return w.ResponseWriter.Write(b)
}

var errorBodyStart = []byte(`{"error":{"code":"`)

// errorCode is the code at the start of an error body, or "" when the
// body does not start as the API's errors do.
func errorCode(body []byte) string {
	rest, ok := bytes.CutPrefix(body, errorBodyStart)
	if !ok {
		return ""
	}
	code, _, ok := bytes.Cut(rest, []byte{'"'})
	if !ok || len(code) > 64 {
		return ""
	}
	return string(code)
}
