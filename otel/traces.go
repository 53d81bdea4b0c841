// Package otel sends the service's traces to an OpenTelemetry collector
// over OTLP/HTTP: it builds the OpenTelemetry SDK's tracer provider from
// the service's settings. The API (package http) only speaks the
// OpenTelemetry API; this package is the one place the SDK is configured.
package otel

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"

	otelapi "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// serviceName is the service.name of every span.
const serviceName = "flashsale"

// Options configure the tracer provider.
type Options struct {
	// Endpoint is the collector's OTLP/HTTP base URL, such as
	// http://127.0.0.1:4318; spans are sent to its /v1/traces, as
	// OpenTelemetry's OTEL_EXPORTER_OTLP_ENDPOINT means it.
	Endpoint string
	// SampleRatio is the share of the traces started here that are
	// recorded, 0 to 1 (beyond, the nearer bound). A span whose parent came sampled from the caller
	// (W3C traceparent) is recorded whatever it is, and one whose parent
	// came unsampled is not: a trace is kept or dropped whole.
	SampleRatio float64
	// Version is the build's, as service.version.
	Version string
	// Logger receives the SDK's errors, such as a collector that does not
	// answer. The SDK's error handler is one per process: this sets it.
	Logger *slog.Logger
}

// NewTracerProvider returns a provider whose spans are batched and sent to
// the collector in the background. Its Shutdown sends what is still
// buffered, within the context's deadline: call it once the last requests
// have ended. It does not connect: a collector that is down costs dropped
// spans and a warning, never the service's start.
func NewTracerProvider(ctx context.Context, o Options) (*sdktrace.TracerProvider, error) {
	endpoint, err := TracesURL(o.Endpoint)
	if err != nil {
		return nil, err
	}
	// The exporter also reads OpenTelemetry's own variables
	// (OTEL_EXPORTER_OTLP_HEADERS for a collector's credentials,
	// _TIMEOUT, _COMPRESSION, _CERTIFICATE); the endpoint given here wins
	// over OTEL_EXPORTER_OTLP_ENDPOINT.
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES come last, so that an
	// operator can rename the service or add attributes (a deployment
	// environment, say) without a flag of ours.
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(), // which instance of a fleet served the request
		resource.WithAttributes(semconv.ServiceName(serviceName), semconv.ServiceVersion(o.Version)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	if o.Logger != nil {
		// The default handler prints plain lines to stderr, which would
		// break a JSON log's one object per line.
		otelapi.SetErrorHandler(otelapi.ErrorHandlerFunc(func(err error) {
			o.Logger.Warn("sending traces", "err", err)
		}))
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))),
	), nil
}

// TracesURL is where the spans of a collector's OTLP/HTTP base URL go: its
// path and /v1/traces. It refuses what is not an http or https URL with a
// host, which the exporter would otherwise replace silently with
// localhost:4318.
func TracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not a collector's OTLP/HTTP URL such as http://127.0.0.1:4318", endpoint)
	}
	return u.JoinPath("v1", "traces").String(), nil
}
