package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/time/rate"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/auth"
	"github.com/flashsale/flashsale/challenge"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/otel"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/stripe"
	"github.com/flashsale/flashsale/web"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	inst, err := build(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	defer inst.backends.Close()
	return inst.run(ctx, stdout)
}

// instance is one built 'flashsale serve': its deployment, its purchase
// flow and the API over it, not yet listening.
type instance struct {
	cfg           *config
	log           *slog.Logger
	backends      *deployment.Deployment
	service       *checkout.Service
	authenticator *auth.Authenticator
	registry      *prometheus.Registry
	dispatcher    *notify.Dispatcher
	handler       nethttp.Handler
	pages         *web.Pages
	// paymentEvents verifies the provider's webhooks; nil: no endpoint.
	paymentEvents http.PaymentEvents
	// streamsClosing ends the event streams when the server shuts down.
	streamsClosing chan struct{}
	// draining is set from the start of a shutdown: /readyz fails.
	draining atomic.Bool
	// traces sends the API's spans to the OTLP endpoint; nil: off.
	traces *sdktrace.TracerProvider
}

// build opens the deployment the configuration names and wires the
// purchase flow, the notifications and the API over it.
func build(ctx context.Context, cfg *config, log *slog.Logger, stdout io.Writer) (_ *instance, err error) {
	deployed, err := cfg.deployment(log)
	if err != nil {
		return nil, err
	}
	if cfg.JWTSecret == "" && deployed.Kind != deployment.Embedded {
		// A secret made up per instance would have each instance refuse
		// the tokens, admissions and challenges of the others.
		return nil, errors.New("distributed mode needs FLASHSALE_JWT_SECRET, the same on every instance (generate one with: openssl rand -hex 32)")
	}
	if cfg.JWTSecret == "" {
		if cfg.JWTSecret, err = auth.GenerateSecret(); err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "FLASHSALE_JWT_SECRET was not set; generated one for this run:\n  export FLASHSALE_JWT_SECRET=%s\n", cfg.JWTSecret)
	}
	inst := &instance{cfg: cfg, log: log, registry: prometheus.NewRegistry(), streamsClosing: make(chan struct{})}
	if inst.authenticator, err = authenticator(ctx, cfg, log); err != nil {
		return nil, err
	}
	if inst.backends, err = deployment.Open(ctx, deployed, notify.NewHub()); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			inst.backends.Close()
		}
	}()
	payments, err := paymentProvider(cfg)
	if err != nil {
		return nil, err
	}
	if p, ok := payments.(*stripe.Provider); ok && cfg.StripeWebhookSecret != "" {
		inst.paymentEvents = p
	}
	inst.service, err = inst.backends.Service(ctx, checkout.Config{
		Payments:             payments,
		MaxPaymentAttempts:   cfg.PaymentAttempts,
		PaymentTimeout:       cfg.PaymentTimeout,
		OrphanGrace:          cfg.OrphanGrace,
		StoreTimeout:         cfg.StoreTimeout,
		InventoryConcurrency: cfg.InventoryConcurrency,
		InventoryWait:        cfg.InventoryWait,
		ReactionTime:         cfg.ReactionTime,
		Admissions:           auth.NewAdmissionSigner([]byte(cfg.JWTSecret)),
		Challenges:           challenge.NewIssuer([]byte(cfg.JWTSecret)),
		Logger:               log,
	})
	if err != nil {
		return nil, err
	}
	registerService(inst.registry, inst.service)
	inst.registry.MustRegister(buildInfo())
	inst.registry.MustRegister(inst.backends.Metrics...)
	inst.dispatcher, err = notify.NewDispatcher(notify.Config{
		Outbox: inst.backends.Store, Channels: inst.backends.Channels, Registry: inst.registry, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if inst.pages, err = web.NewWith(web.Options{Demo: cfg.Demo}); err != nil {
		return nil, err
	}
	deps := inst.httpDeps()
	if cfg.OTLPEndpoint != "" {
		// Last of all, once nothing can fail: its exporter runs until run
		// flushes it.
		inst.traces, err = otel.NewTracerProvider(ctx, otel.Options{
			Endpoint: cfg.OTLPEndpoint, SampleRatio: cfg.TraceSample, Version: version(), Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("FLASHSALE_OTLP_ENDPOINT: %w", err)
		}
		deps.TracerProvider = inst.traces
	}
	inst.handler = http.NewServer(deps)
	return inst, nil
}

// paymentProvider is the provider the configuration names.
func paymentProvider(cfg *config) (flashsale.PaymentProvider, error) {
	if cfg.PaymentProvider == "stripe" {
		return stripe.New(stripe.Options{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIURL: cfg.StripeAPIURL})
	}
	if cfg.StripeSecretKey != "" || cfg.StripeWebhookSecret != "" {
		return nil, errors.New("the FLASHSALE_STRIPE_* settings need FLASHSALE_PAYMENT_PROVIDER=stripe")
	}
	// The service may look a charge up until twice the payment timeout
	// and a sweep have passed: the simulator keeps it well beyond.
	return paysim.New(paysim.Options{Latency: cfg.PaymentLatency,
		Retention: max(paysim.DefaultRetention, 4*cfg.PaymentTimeout+time.Minute)}), nil
}

// httpDeps are what the API is given.
func (inst *instance) httpDeps() http.Deps {
	cfg, backends, service := inst.cfg, inst.backends, inst.service
	return http.Deps{
		Checkout:  service,
		Audit:     backends.Store,
		AccessLog: cfg.AccessLog,
		Verify: func(token string) (http.Identity, error) {
			claims, err := inst.authenticator.Verify(token)
			return http.Identity{UserID: claims.UserID, Admin: claims.Admin, Account: claims.Account}, err
		},
		Limits: &http.Limits{
			Limiter:   backends.Limiter,
			IPLimiter: ipLimiter(cfg, backends.Limiter),
			IP:        cfg.RateLimitIP,
			OrderUser: cfg.RateLimitOrderUser,
			Throttle:  cfg.Throttle,
		},
		Shedding:       http.NewShedder(cfg.MaxInflight, cfg.ShedWait),
		TrustedProxies: cfg.TrustedProxies,
		Ready: func(r *nethttp.Request) error {
			if inst.draining.Load() {
				return errors.New("shutting down")
			}
			if service.Paused() {
				return errors.New("sales are paused until the inventory is rebuilt")
			}
			// A load balancer's probe must fail, not time out, when a
			// dependency stalls.
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			return backends.Ping(ctx)
		},
		Registry: inst.registry,
		Logger:   inst.log,
		OpsOnly:  !cfg.Roles.API,
		Events: &http.Events{
			Outbox: backends.Store, Broker: backends.Broker, Heartbeat: cfg.EventsHeartbeat, MaxStreamsPerUser: cfg.EventsPerUser,
			Closing: inst.streamsClosing,
		},
		MetricsElsewhere: cfg.MetricsAddr != "",
		PaymentEvents:    inst.paymentEvents,
		Pages:            inst.pagesHandler(),
	}
}

// pagesHandler serves the pages; a demo's also mint shopper tokens for
// the page's sign-in (POST /demo/token), which no other instance may.
func (inst *instance) pagesHandler() nethttp.Handler {
	if !inst.cfg.Demo {
		return inst.pages
	}
	return http.DemoPages{Handler: inst.pages, Mint: func(user string) (string, error) {
		return inst.authenticator.Mint(user, false, demoTokenTTL)
	}}
}

// run listens, runs the roles' background work until ctx ends, then
// drains the in-flight requests and stops.
func (inst *instance) run(ctx context.Context, stdout io.Writer) error {
	cfg, log, backends, service := inst.cfg, inst.log, inst.backends, inst.service
	if cfg.PprofAddr != "" {
		stopProfiler, err := serveProfiler(cfg.PprofAddr, log)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	if cfg.MetricsAddr != "" {
		// Stopped on return, after the API's graceful shutdown: a scrape
		// still sees the drain.
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, inst.registry, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	server := &nethttp.Server{
		Handler: inst.handler,
		// Bounded reads and writes: a slow client cannot hold a
		// connection (slowloris); a payment takes at most PaymentTimeout.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      cfg.PaymentTimeout + 20*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	server.RegisterOnShutdown(func() { close(inst.streamsClosing) })

	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var workers sync.WaitGroup
	if cfg.Roles.Timeouts {
		workers.Go(func() { service.RunTimeouts(background, cfg.ExpiryTick, 30*time.Second) })
	}
	if cfg.Roles.Notifications {
		workers.Go(func() { inst.dispatcher.Run(background) })
	}
	if cfg.Roles.Orders {
		workers.Go(func() {
			if err := service.RunOrderWorkers(background, cfg.QueueRate); err != nil {
				log.Error("order workers", "err", err)
			}
		})
	}
	workers.Go(func() { backends.Run(background) })
	// Whatever its roles, an instance that settled an order may owe the
	// inventory its step.
	workers.Go(func() { service.RunFollower(background, cfg.ExpiryTick) })
	if backends.HotState != nil {
		service.PauseUntilChecked() // not ready before the first check, whenever its goroutine runs
		workers.Go(func() { service.WatchHotState(background, backends.HotState, time.Second, cfg.RebuildSettle) })
	}

	base := "http://" + displayAddr(listener.Addr())
	fmt.Fprintf(stdout, "flashsale listening on %s (%s)\n", base, backends.Description)
	if cfg.Demo {
		if err := createDemo(ctx, service, inst.authenticator, base, stdout); err != nil {
			return err
		}
	}

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		stopBackground()
		workers.Wait()
		return err
	case <-ctx.Done():
	}
	if cfg.DrainWait > 0 {
		// Requests still come while the load balancer has not noticed:
		// they are served, and /readyz tells it to stop sending.
		inst.draining.Store(true)
		log.Info("shutting down: /readyz fails while the load balancer takes this instance out", "wait", cfg.DrainWait)
		time.Sleep(cfg.DrainWait)
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	err = server.Shutdown(shutdownCtx)
	if inst.traces != nil {
		// The requests have ended, so have their spans: the last ones
		// are sent now, within what is left of the shutdown's time.
		if terr := inst.traces.Shutdown(shutdownCtx); terr != nil {
			log.Warn("sending the last traces", "err", terr)
		}
	}
	stopBackground()
	workers.Wait()
	if cerr := backends.Close(); cerr != nil && err == nil {
		err = cerr
	}
	fmt.Fprintln(stdout, "flashsale stopped")
	return err
}

func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if ok && tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return a.String()
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ipLimiter keeps the per-IP limits: in the shared limiter when the
// configuration says all limits are shared, else in this process, since
// they apply to every request and a shared check costs a Redis call each.
func ipLimiter(cfg *config, shared ratelimit.Limiter) ratelimit.Limiter {
	if cfg.RateLimitShared == "all" {
		return shared
	}
	return ratelimit.NewMemory()
}

// serveProfiler serves net/http/pprof on addr, apart from the API, so that
// a process under load can be profiled where it runs. It returns the
// function that stops it.
func serveProfiler(addr string, log *slog.Logger) (func(), error) {
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return serveAside("profiler", addr, &nethttp.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, log)
}

// serveMetrics serves GET /metrics alone on addr, apart from the API
// (whose address then answers 404 for it), so that the monitoring system
// scrapes an address the public cannot reach. It returns the function
// that stops it.
func serveMetrics(addr string, registry *prometheus.Registry, log *slog.Logger) (func(), error) {
	mux := nethttp.NewServeMux()
	mux.Handle("GET /metrics", http.MetricsHandler(registry))
	return serveAside("metrics", addr, &nethttp.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}, log)
}

// serveAside runs server on a listener of its own at addr, and logs
// "<what> listening" with the address it got.
func serveAside(what, addr string, server *nethttp.Server, log *slog.Logger) (func(), error) {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
			log.Error(what+" server", "err", err)
		}
	}()
	log.Info(what+" listening", "addr", listener.Addr().String())
	return func() { server.Close() }, nil
}

// readyTimeout bounds /readyz's check of the dependencies.
const readyTimeout = time.Second

// registerService exposes the purchase flow's state, read at each scrape:
// whether this instance leads the timeout handler, and how far the
// inventory is behind the store (the steps this instance owes, the drift
// it repaired).
func registerService(registry *prometheus.Registry, service *checkout.Service) {
	registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flashsale_timeout_leader",
		Help: "1 while this instance runs the timeout handler's expiry scan (one instance of a fleet holds its lease).",
	}, func() float64 {
		if service.LeadingTimeouts() {
			return 1
		}
		return 0
	}))
	registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flashsale_inventory_owed_steps",
		Help: "Settled orders (paid, cancelled, expired) whose step the inventory missed and this instance retries until it lands.",
	}, func() float64 { return float64(service.OwedSteps()) }))
	repairs := service.Repairs()
	for kind, count := range map[string]*atomic.Int64{
		"released": &repairs.Released, "confirmed": &repairs.Confirmed, "orphan": &repairs.Orphans, "missing": &repairs.Missing,
	} {
		registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "flashsale_inventory_repairs_total",
			Help:        "Drift between the inventory and the store found and repaired by this instance: orders the store had made final (released, confirmed), orphans released, live orders missing (each asks a rebuild).",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(count.Load()) }))
	}
}

// authenticator verifies the service's HS256 tokens and, with a JWK Set
// URL, an identity provider's. The provider's keys are read in the
// background: a provider down at the start is logged and read again, and
// its tokens are refused meanwhile. A token naming a key the set lacks
// reads the set again at most once a minute, and never waits for that
// turn, so that tokens with made-up kids cannot hold requests.
func authenticator(ctx context.Context, cfg *config, log *slog.Logger) (*auth.Authenticator, error) {
	if cfg.JWKSURL == "" {
		return auth.NewHS256([]byte(cfg.JWTSecret))
	}
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		HTTPTimeout:       5 * time.Second,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(time.Minute), 1),
		RateLimitWaitMax:  time.Millisecond,
		RefreshErrorHandlerFunc: func(url string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				log.Warn("reading the identity provider's keys", "url", url, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("FLASHSALE_JWKS_URL: %w", err)
	}
	return auth.NewWithKeys([]byte(cfg.JWTSecret), keys.Keyfunc)
}
