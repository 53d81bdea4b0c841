package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/otel"
	"github.com/flashsale/flashsale/ratelimit"
)

// config is every setting of 'flashsale serve'. Each is a flag and an
// environment variable; a flag given on the command line wins.
type config struct {
	Addr string
	// Roles are the service's parts this process runs (see roles).
	Roles       roles
	DataDir     string
	JWTSecret   string
	JWKSURL     string
	RedisURL    string
	RedisPrefix string
	// RedisTimeout bounds each Redis call (see redis.ClientOptions).
	RedisTimeout time.Duration
	// RebuildSettle is how long a rebuild of a lost Redis waits for
	// reservations still committing.
	RebuildSettle time.Duration
	// Ack is when a reservation is answered: "postgres" (after the store's
	// commit) or "redis" (after Redis's AOF holds its journaled order).
	Ack string
	// AckReplicas is how many Redis replicas must also hold it.
	AckReplicas int
	PostgresURL string
	NATSURL     string
	// Queue is the embedded mode's order queue: "nats" or "memory".
	Queue              string
	QueueName          string
	QueueCapacity      int64
	QueueRate          int
	RateLimitOrderUser ratelimit.Policy
	RateLimitIP        ratelimit.Policy
	// RateLimitShared is which limits a fleet shares: "orders" or "all".
	RateLimitShared string
	TrustedProxies  []netip.Prefix
	Throttle        http.Throttle
	// MaxInflight bounds the API requests in flight for load shedding;
	// 0: off.
	MaxInflight int
	ShedWait    time.Duration
	// InventoryConcurrency bounds the reservations in flight to the
	// inventory; 0: no bound.
	InventoryConcurrency int
	InventoryWait        time.Duration
	// ReactionTime is the risk score's reaction time: a press sooner
	// after its button could first be seen is faster than a person.
	ReactionTime        time.Duration
	PaymentProvider     string
	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIURL        string
	PaymentLatency      time.Duration
	PaymentTimeout      time.Duration
	PaymentAttempts     int
	ExpiryTick          time.Duration
	// StoreTimeout bounds each store call of a shopper's request.
	StoreTimeout time.Duration
	// OrphanGrace is how long a reservation may sit in the inventory with
	// no order in the store before it is released.
	OrphanGrace     time.Duration
	ShutdownTimeout time.Duration
	// DrainWait is how long /readyz fails before the listener closes on
	// shutdown.
	DrainWait time.Duration
	LogLevel  string
	// LogFormat is text or json; AccessLog writes a line per request.
	LogFormat string
	AccessLog bool
	// PprofAddr, when set, serves net/http/pprof there (loopback).
	PprofAddr string
	// MetricsAddr, when set, serves /metrics there, and not on Addr.
	MetricsAddr string
	// OTLPEndpoint, when set, receives a trace of the API's requests;
	// TraceSample is the share of them traced.
	OTLPEndpoint string
	TraceSample  float64
	// NotifyLog writes a line per order event to the log.
	NotifyLog       bool
	SMTPURL         string
	WebhookURLs     []string
	WebhookSecret   string
	EventsHeartbeat time.Duration
	EventsPerUser   int
	Demo            bool
}

// setting binds one flag to its environment variable and default.
type setting struct {
	flag, env, def, help string
	parse                func(string) error
}

func (c *config) settings() []setting {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	dur := func(p *time.Duration) func(string) error {
		return func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%q is not a duration such as 250ms or 10s", v)
			}
			*p = d
			return nil
		}
	}
	policy := func(p *ratelimit.Policy) func(string) error {
		return func(v string) (err error) { *p, err = ratelimit.ParsePolicy(v); return err }
	}
	// bound reads a maximum count, where 0 or off means none.
	bound := func(p *int) func(string) error {
		return func(v string) error {
			if strings.EqualFold(v, "off") {
				*p = 0
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || strconv.Itoa(n) != v {
				return fmt.Errorf("%q is not a whole number (0 or off: no bound)", v)
			}
			*p = n
			return nil
		}
	}
	// atLeast reads a whole number no smaller than least.
	atLeast := func(p *int, least int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < least || strconv.Itoa(n) != v {
				return fmt.Errorf("%q is not a whole number of at least %d", v, least)
			}
			*p = n
			return nil
		}
	}
	return []setting{
		{"addr", "FLASHSALE_ADDR", ":8080", "listen address", str(&c.Addr)},
		{"roles", "FLASHSALE_ROLES", "all", "the service's parts this process runs, to scale them apart: all, or a comma-separated list of api, orders (queued admission's workers), timeouts (the expiry scan and sweep), notifications (the dispatcher)", func(v string) (err error) {
			c.Roles, err = parseRoles(v)
			return err
		}},
		{"data-dir", "FLASHSALE_DATA_DIR", "./data", "embedded mode's data folder", str(&c.DataDir)},
		{"jwt-secret", "FLASHSALE_JWT_SECRET", "", "HS256 secret for user and admin tokens (generated and printed when unset)", str(&c.JWTSecret)},
		{"jwks-url", "FLASHSALE_JWKS_URL", "", "an identity provider's JWK Set URL: its RS256 and ES256 tokens are accepted beside the HS256 ones (keys refreshed hourly, and on an unknown kid at most once a minute)", str(&c.JWKSURL)},
		{"redis-url", "FLASHSALE_REDIS_URL", "", "Redis URL (distributed mode)", str(&c.RedisURL)},
		{"redis-prefix", "FLASHSALE_REDIS_PREFIX", "fs", "start of every Redis key, so that several deployments can share a Redis", func(v string) error {
			if strings.ContainsAny(v, "{}") || v == "" {
				return fmt.Errorf("%q: the prefix must be non-empty and without braces (they would move the keys' hash tags)", v)
			}
			c.RedisPrefix = v
			return nil
		}},
		{"redis-timeout", "FLASHSALE_REDIS_TIMEOUT", "1s", "how long any Redis call may take before the request answers 503 unavailable; after a few such failures in a row calls fail at once while one probe at a time checks whether Redis is back", dur(&c.RedisTimeout)},
		{"rebuild-settle", "FLASHSALE_REBUILD_SETTLE", "5s", "after Redis lost its data, how long sales stay paused before the rebuild reads the order store, so that reservations still committing are in it", dur(&c.RebuildSettle)},
		{"ack", "FLASHSALE_ACK", "postgres", "distributed mode: when a reservation is answered: postgres (once PostgreSQL has committed the order) or redis (once Redis's fsynced AOF holds the order, by WAITAOF: Redis 7.2 or later or Valkey, with appendonly yes; every instance's persister then moves the orders into PostgreSQL). docs/BENCHMARKS.md compares them", func(v string) error {
			if v != "postgres" && v != "redis" {
				return fmt.Errorf("%q is not postgres or redis", v)
			}
			c.Ack = v
			return nil
		}},
		{"ack-replicas", "FLASHSALE_ACK_REPLICAS", "0", "with ack redis: how many Redis replicas must also have the order in their AOF before the answer", atLeast(&c.AckReplicas, 0)},
		{"postgres-url", "FLASHSALE_POSTGRES_URL", "", "PostgreSQL URL (distributed mode)", str(&c.PostgresURL)},
		{"queue", "FLASHSALE_QUEUE", "nats", "embedded mode: queued admission's order queue: nats (a NATS server inside the process, its data in the data folder: a queued request survives a restart) or memory (in the process's memory, no NATS: a restart forgets the requests still waiting)", func(v string) error {
			if v != "nats" && v != "memory" {
				return fmt.Errorf("%q is not nats or memory", v)
			}
			c.Queue = v
			return nil
		}},
		{"nats-url", "FLASHSALE_NATS_URL", "", "NATS URL of queued admission's order queue (unset: a NATS server inside the process in embedded mode, no queued admission in distributed mode)", str(&c.NATSURL)},
		{"queue-name", "FLASHSALE_QUEUE_NAME", "flashsale", "queued admission: start of the NATS stream's, consumer's and bucket's names, so deployments can share a NATS", func(v string) error {
			if v == "" || strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
				return fmt.Errorf("%q: letters, digits, - and _ only", v)
			}
			c.QueueName = v
			return nil
		}},
		{"queue-capacity", "FLASHSALE_QUEUE_CAPACITY", "100000", "queued admission: most requests waiting; one more is 503 overloaded", func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || strconv.FormatInt(n, 10) != v {
				return fmt.Errorf("%q is not a whole number of at least 1", v)
			}
			c.QueueCapacity = n
			return nil
		}},
		{"queue-rate", "FLASHSALE_QUEUE_RATE", "1000", "queued admission: requests this instance's order workers settle per second", atLeast(&c.QueueRate, 1)},
		{"rate-limit-order-user", "FLASHSALE_RATE_LIMIT_ORDER_USER", "1/s,10/m", "place-order limits per user, or off", policy(&c.RateLimitOrderUser)},
		{"rate-limit-ip", "FLASHSALE_RATE_LIMIT_IP", "10/s", "limits per client IP on every route (an IPv6 client by its /64), or off", policy(&c.RateLimitIP)},
		{"rate-limit-shared", "FLASHSALE_RATE_LIMIT_SHARED", "orders", "distributed mode: which limits every instance shares through Redis: orders (the per-user place-order limits; per-IP limits are kept by each instance) or all", func(v string) error {
			if v != "orders" && v != "all" {
				return fmt.Errorf("%q is not orders or all", v)
			}
			c.RateLimitShared = v
			return nil
		}},
		{"throttle", "FLASHSALE_THROTTLE", "off", "progressive throttling: requests/s of this process above which the per-user order limits are scaled, e.g. 5000:0.5,20000:0.2; or off", func(v string) (err error) {
			c.Throttle, err = http.ParseThrottle(v)
			return err
		}},
		{"max-inflight", "FLASHSALE_MAX_INFLIGHT", "4096", "most API requests in flight: browsing may fill 60 % of them, place-order 85 %, payments and order status all; 0 or off disables load shedding", bound(&c.MaxInflight)},
		{"shed-wait", "FLASHSALE_SHED_WAIT", "20ms", "how long a request over its class's share waits for a slot before 503 overloaded", dur(&c.ShedWait)},
		// 256 reservations in flight: a healthy inventory answers in
		// microseconds (memory) to about a millisecond (a Redis round
		// trip), so 256 at once is more than one Redis can execute (about
		// 100,000 scripts/s) and the bound never binds while it keeps up.
		// It binds when the inventory stalls (an fsync, a failover), and
		// then it stops thousands of requests piling up on it.
		{"inventory-concurrency", "FLASHSALE_INVENTORY_CONCURRENCY", "256", "reservations in flight to the inventory at once; 0 or off: no bound", bound(&c.InventoryConcurrency)},
		{"inventory-wait", "FLASHSALE_INVENTORY_WAIT", "50ms", "how long a place-order waits for an inventory slot before 503 overloaded", func(v string) error {
			if err := dur(&c.InventoryWait)(v); err != nil || c.InventoryWait == 0 {
				return fmt.Errorf("%q is not a positive duration such as 50ms", v)
			}
			return nil
		}},
		{"reaction-time", "FLASHSALE_REACTION_TIME", "150ms", "challenges under policy suspicious: a press sooner than this after the shopper could first have seen the button (the start, or a signed-in fetch of the sale's page after it) is faster than a person; from 10ms to 2s", func(v string) error {
			if err := dur(&c.ReactionTime)(v); err != nil || c.ReactionTime < 10*time.Millisecond || c.ReactionTime > 2*time.Second {
				return fmt.Errorf("%q is not a duration from 10ms to 2s", v)
			}
			return nil
		}},
		{"trusted-proxies", "FLASHSALE_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed", func(v string) error {
			c.TrustedProxies = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				p, err := netip.ParsePrefix(s)
				if err != nil {
					return fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", s)
				}
				c.TrustedProxies = append(c.TrustedProxies, p.Masked())
			}
			return nil
		}},
		{"payment-provider", "FLASHSALE_PAYMENT_PROVIDER", "simulator", "payment provider: simulator or stripe", func(v string) error {
			if v != "simulator" && v != "stripe" {
				return fmt.Errorf("unknown payment provider %q (available: simulator, stripe)", v)
			}
			c.PaymentProvider = v
			return nil
		}},
		{"stripe-secret-key", "FLASHSALE_STRIPE_SECRET_KEY", "", "Stripe's secret API key (sk_live_..., sk_test_...); required with the stripe provider", str(&c.StripeSecretKey)},
		{"stripe-webhook-secret", "FLASHSALE_STRIPE_WEBHOOK_SECRET", "", "signing secret (whsec_...) of the Stripe webhook endpoint POST /webhooks/payments (unset: no endpoint; the sweep settles lost answers)", str(&c.StripeWebhookSecret)},
		{"stripe-api-url", "FLASHSALE_STRIPE_API_URL", "https://api.stripe.com", "Stripe's API, or stripe-mock's", str(&c.StripeAPIURL)},
		{"payment-latency", "FLASHSALE_PAYMENT_LATENCY", "0s", "simulated payment provider latency", dur(&c.PaymentLatency)},
		{"payment-timeout", "FLASHSALE_PAYMENT_TIMEOUT", "10s", "how long one charge may take before its outcome is settled", dur(&c.PaymentTimeout)},
		{"payment-attempts", "FLASHSALE_PAYMENT_ATTEMPTS", "3", "declined payments an order survives before it fails", func(v string) error {
			n, err := fmt.Sscanf(v, "%d", &c.PaymentAttempts)
			if err != nil || n != 1 || c.PaymentAttempts < 1 || fmt.Sprint(c.PaymentAttempts) != v {
				return fmt.Errorf("%q is not a whole number of at least 1", v)
			}
			return nil
		}},
		{"store-timeout", "FLASHSALE_STORE_TIMEOUT", "2s", "how long any call of a shopper's request to the order store (PostgreSQL, SQLite), a reservation's commit included, may take before the request answers 503 unavailable; a commit cut off keeps its units until the orphan grace tells", dur(&c.StoreTimeout)},
		{"orphan-grace", "FLASHSALE_ORPHAN_GRACE", "30s", "how long a reservation may sit in the inventory with no order in the store (its commit failed, or its instance died between the two) before its units return; a commit is given at most half of it", dur(&c.OrphanGrace)},
		{"expiry-tick", "FLASHSALE_EXPIRY_TICK", "250ms", "how often the timeout handler looks for expired reservations", dur(&c.ExpiryTick)},
		{"shutdown-timeout", "FLASHSALE_SHUTDOWN_TIMEOUT", "30s", "how long a graceful shutdown waits for in-flight requests", dur(&c.ShutdownTimeout)},
		{"drain-wait", "FLASHSALE_DRAIN_WAIT", "0s", "on shutdown, how long /readyz answers 503 before the listener closes, so that a load balancer stops sending first (behind one: its probe interval times its failure threshold)", dur(&c.DrainWait)},
		{"pprof-addr", "FLASHSALE_PPROF_ADDR", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060; never on a public one (unset: off)", str(&c.PprofAddr)},
		{"metrics-addr", "FLASHSALE_METRICS_ADDR", "", "serve /metrics on this address alone, e.g. 10.0.0.5:9090 on a network the public cannot reach; the API's address then answers 404 for it (unset: /metrics on the API's address, without a token)", str(&c.MetricsAddr)},
		{"otlp-endpoint", "FLASHSALE_OTLP_ENDPOINT", "", "send traces of the API's requests to this OpenTelemetry collector's OTLP/HTTP URL, e.g. http://127.0.0.1:4318 (spans go to its /v1/traces; OTEL_EXPORTER_OTLP_HEADERS and the like apply); unset: off, and nothing of it on the requests' path", func(v string) error {
			if v != "" {
				if _, err := otel.TracesURL(v); err != nil {
					return err
				}
			}
			c.OTLPEndpoint = v
			return nil
		}},
		{"trace-sample", "FLASHSALE_TRACE_SAMPLE", "0.01", "with an OTLP endpoint, the share of requests traced, 0 to 1; a request whose W3C traceparent says its caller traces it is traced whatever this says", func(v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0 && f <= 1) {
				return fmt.Errorf("%q is not a share from 0 to 1 such as 0.01", v)
			}
			c.TraceSample = f
			return nil
		}},
		{"log-level", "FLASHSALE_LOG_LEVEL", "info", "debug, info, warn or error", func(v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("%q is not one of debug, info, warn, error", v)
		}},
		{"log-format", "FLASHSALE_LOG_FORMAT", "text", "text (key=value) or json (a JSON object per line, for a log collector)", func(v string) error {
			switch v {
			case "text", "json":
				c.LogFormat = v
				return nil
			}
			return fmt.Errorf("%q is not text or json", v)
		}},
		{"access-log", "FLASHSALE_ACCESS_LOG", "off", "write a line per request (method, route, status, time taken, client, request id echoed in X-Request-Id): on or off; off by default, a rush's lines cost more than its answers", func(v string) error {
			switch strings.ToLower(v) {
			case "on":
				c.AccessLog = true
			case "off":
				c.AccessLog = false
			default:
				return fmt.Errorf("%q is not on or off", v)
			}
			return nil
		}},
		{"notify-log", "FLASHSALE_NOTIFY_LOG", "on", "write a line per order event (reserved, confirmed, expired, ...) to the log: on or off", func(v string) error {
			switch strings.ToLower(v) {
			case "on":
				c.NotifyLog = true
			case "off":
				c.NotifyLog = false
			default:
				return fmt.Errorf("%q is not on or off", v)
			}
			return nil
		}},
		{"smtp-url", "FLASHSALE_SMTP_URL", "", "email each order event to its user: smtp://user:pass@host:587?from=shop@example.com&tls=starttls|tls|none (unset: no email)", str(&c.SMTPURL)},
		{"webhook-urls", "FLASHSALE_WEBHOOK_URLS", "", "comma-separated URLs that receive every order event as signed JSON", func(v string) error {
			c.WebhookURLs = nil
			for _, u := range strings.Split(v, ",") {
				if u = strings.TrimSpace(u); u != "" {
					c.WebhookURLs = append(c.WebhookURLs, u)
				}
			}
			return nil
		}},
		{"webhook-secret", "FLASHSALE_WEBHOOK_SECRET", "", "key of the webhooks' Flashsale-Signature and Standard Webhooks Webhook-Signature (HMAC-SHA256); required with webhook URLs", str(&c.WebhookSecret)},
		{"events-heartbeat", "FLASHSALE_EVENTS_HEARTBEAT", "15s", "how often a GET /events stream sends a heartbeat comment", func(v string) error {
			if err := dur(&c.EventsHeartbeat)(v); err != nil || c.EventsHeartbeat == 0 {
				return fmt.Errorf("%q is not a positive duration such as 15s", v)
			}
			return nil
		}},
		{"events-per-user", "FLASHSALE_EVENTS_PER_USER", "3", "most GET /events streams one user may hold open", atLeast(&c.EventsPerUser, 1)},
	}
}

// parseConfig reads defaults, then the environment, then the flags.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("flashsale serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, s := range c.settings() {
		value := s.def
		if v := getenv(s.env); v != "" {
			value = v
		} else if path := getenv(s.env + "_FILE"); path != "" && secretSettings[s.env] {
			v, err := readSecret(path)
			if err != nil {
				return nil, fmt.Errorf("%s_FILE: %w", s.env, err)
			}
			value = v
		}
		if err := s.parse(value); err != nil {
			return nil, fmt.Errorf("%s: %w", s.env, err)
		}
		fs.Func(s.flag, s.help+" ($"+s.env+", default "+quoteEmpty(s.def)+")", s.parse)
	}
	fs.BoolVar(&c.Demo, "demo", false, "create a demo sale that starts a minute later and print tokens and curl lines")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c, nil
}

// secretSettings may also come from a file named by <variable>_FILE, as
// container secrets are mounted, so that they appear in no environment
// listing.
var secretSettings = map[string]bool{
	"FLASHSALE_JWT_SECRET": true, "FLASHSALE_REDIS_URL": true, "FLASHSALE_POSTGRES_URL": true,
	"FLASHSALE_SMTP_URL": true, "FLASHSALE_WEBHOOK_SECRET": true,
	"FLASHSALE_STRIPE_SECRET_KEY": true, "FLASHSALE_STRIPE_WEBHOOK_SECRET": true,
}

// readSecret is a secret file's content without its final newline, which
// editors and echo add.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// roles are the parts of the service one process runs. A fleet may run
// them apart, to scale each on its own; every process serves /healthz,
// /readyz and /metrics whatever its roles.
type roles struct {
	API, Orders, Timeouts, Notifications bool
}

func parseRoles(v string) (roles, error) {
	if v == "all" {
		return roles{API: true, Orders: true, Timeouts: true, Notifications: true}, nil
	}
	var r roles
	for _, name := range strings.Split(v, ",") {
		switch strings.TrimSpace(name) {
		case "api":
			r.API = true
		case "orders":
			r.Orders = true
		case "timeouts":
			r.Timeouts = true
		case "notifications":
			r.Notifications = true
		default:
			return roles{}, fmt.Errorf("%q is not all or a list of api, orders, timeouts, notifications", v)
		}
	}
	return r, nil
}
