// Package http serves the flash sale API (docs/API.md) over net/http.
package http

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
)

// Deps is what the server needs. Checkout, Verify and Limits are required.
type Deps struct {
	Checkout *checkout.Service
	// Audit records every admin action that changes something, and lists
	// them (GET /admin/audit); nil: neither.
	Audit flashsale.AuditLog
	// AccessLog writes a line per request to Logger, with a request id
	// echoed in X-Request-Id (FLASHSALE_ACCESS_LOG).
	AccessLog bool
	// TracerProvider, when set, gives every request a server span
	// (tracing.go); nil: no tracing, and nothing of it in the chain.
	TracerProvider trace.TracerProvider
	// Verify checks a bearer token and returns who it speaks for.
	Verify func(token string) (Identity, error)
	Limits *Limits
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Ready reports whether the dependencies answer (GET /readyz).
	Ready    func(r *http.Request) error
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// SaleCacheTTL is how long a rendered sale is served from memory
	// (default 500 ms): a refresh storm costs a map lookup.
	SaleCacheTTL time.Duration
	// Shedding bounds the API requests in flight and refuses the least
	// protected first under overload (see routes.go); nil: off.
	Shedding *Shedder
	// Events serves GET /events; nil: that route is not found.
	Events *Events
	// PaymentEvents verifies the payment provider's webhook deliveries
	// (POST /webhooks/payments); nil: that route is not found.
	PaymentEvents PaymentEvents
	// Pages serves the shopper's page: GET /, GET /sales/{sale_id} and
	// GET /assets/{file} (package web); nil: those routes are not found.
	Pages http.Handler
	// OpsOnly serves only /healthz, /readyz, /metrics and /openapi.json:
	// for a process that runs the service's other roles and no API.
	OpsOnly bool
	// MetricsElsewhere leaves GET /metrics out: it answers 404 like any
	// unknown path, and the caller serves MetricsHandler(Registry) on a
	// listener of its own, one the public cannot reach.
	MetricsElsewhere bool
}

// Identity is the authenticated caller.
type Identity struct {
	UserID string
	Admin  bool
	// Account is what the token says of the account (phone, age), for
	// the sales that limit purchases across accounts.
	Account flashsale.Account
}

type server struct {
	Deps
	metrics     *metrics
	sales       *renderCache
	errorBodies errorBodies
}

// NewServer returns the API as one http.Handler.
func NewServer(deps Deps) http.Handler {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	if deps.SaleCacheTTL == 0 {
		deps.SaleCacheTTL = 500 * time.Millisecond
	}
	if deps.Ready == nil {
		deps.Ready = func(*http.Request) error { return nil }
	}
	if deps.Limits != nil && len(deps.Limits.Throttle) > 0 && deps.Limits.Traffic == nil {
		limits := *deps.Limits // the caller's Limits stay as given
		limits.Traffic = NewRateMeter(defaultRateWindow, nil)
		deps.Limits = &limits
	}
	s := &server{Deps: deps, metrics: newMetrics(deps.Registry), sales: newRenderCache(deps.SaleCacheTTL)}
	if deps.Shedding != nil {
		registerShedding(deps.Registry, deps.Shedding)
	}
	mux := http.NewServeMux()
	s.addRoutes(mux)
	handler := s.recoverPanics(s.cleanPaths(mux))
	if deps.TracerProvider != nil {
		handler = &tracing{next: handler, tracer: deps.TracerProvider.Tracer(tracerName)}
	}
	if deps.Limits != nil && len(deps.Limits.Throttle) > 0 {
		registerThrottle(deps.Registry, s)
		handler = countTraffic(deps.Limits.Traffic, handler)
	}
	return handler
}

func (s *server) now() time.Time { return s.Checkout.Now() }

// cleanPaths answers a path that is not in its clean form (an empty, "."
// or ".." segment) with the API's 404, where ServeMux would redirect to
// the cleaned path: a bare 307 that a client must follow with its POST
// body, to a route it did not name. A client that built such a path has a
// bug it should see. A NUL, in the path or a query parameter, is refused
// here too, once for every route: no id holds one, and PostgreSQL cannot
// even be asked about one (the request bodies' own check is checkKeys).
func (s *server) cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") ||
			strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
			s.error(w, r, errUncleanPath)
			return
		}
		if strings.IndexByte(p, 0) >= 0 {
			s.error(w, r, errNULPath)
			return
		}
		if strings.Contains(r.URL.RawQuery, "%00") {
			for name, values := range r.URL.Query() {
				for _, v := range values {
					if strings.IndexByte(name+v, 0) >= 0 {
						s.error(w, r, flashsale.InvalidField(name, "a query parameter cannot hold the character U+0000"))
						return
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

var (
	errUncleanPath = flashsale.Errorf(flashsale.ENotFound, "nothing is served at a path with an empty, . or .. segment")
	errNULPath     = flashsale.Errorf(flashsale.ENotFound, "nothing is served at a path holding the character U+0000")
)

// recoverPanics turns a panic into a plain 500: a stack trace is logged,
// never sent.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", stack())
				s.error(w, r, flashsale.Errorf(flashsale.EInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
