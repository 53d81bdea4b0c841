package http_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/auth"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/nats"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/postgres"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/sqlite"
)

// harness is the real server (memory inventory, SQLite store, payment
// simulator) behind httptest, with a hand-moved clock. With
// FLASHSALE_TEST_HTTP_DEPLOYMENT=distributed the inventory is Redis and the
// store PostgreSQL (a key prefix and a schema per harness), so that both
// deployments pass the same HTTP tests; distributed-redis-ack adds the
// journal (FLASHSALE_ACK=redis). .ci/run runs them all three ways.
type harness struct {
	t        testing.TB
	server   *httptest.Server
	service  *checkout.Service
	store    orderStore
	payments *paysim.Simulator
	clock    *testclock.Clock
	auth     *auth.Authenticator
	// journaled is set when reservations are acknowledged from a journal.
	journaled bool
}

type harnessOptions struct {
	limits         *http.Limits
	paymentTimeout time.Duration
	payments       flashsale.PaymentProvider
	shedding       *http.Shedder
	// events turns GET /events on: the store owes its notifications to
	// the live channel, which a dispatcher delivers through an
	// in-process hub. heartbeat is the streams' (default 15 s).
	events    bool
	heartbeat time.Duration
	// writeTimeout is the server's WriteTimeout; 0: none.
	writeTimeout time.Duration
	// queue gives the service an order queue (in process for the
	// embedded kind, an embedded NATS server for the others) and runs its
	// order workers, so that queued sales can be created.
	queue bool
	// idleWorkers leaves the order workers to the test (startWorkers), so
	// that it can queue requests before any is settled.
	idleWorkers bool
	// trustedProxies are the peers whose X-Forwarded-For is believed.
	trustedProxies []netip.Prefix
}

type orderStore interface {
	flashsale.OrderStore
	flashsale.Outbox
}

// adapters opens the deployment's inventory and store; the store owes its
// notifications to channels. With FLASHSALE_TEST_HTTP_DEPLOYMENT=
// distributed-redis-ack it also returns a journal (on a Redis with WAITAOF)
// that acknowledges reservations, with its persister running, as serve
// runs it with FLASHSALE_ACK=redis; otherwise the journal is nil.
func adapters(t testing.TB, channels []string) (flashsale.Inventory, orderStore, flashsale.OrderJournal) {
	t.Helper()
	ctx := context.Background()
	switch deployment := os.Getenv("FLASHSALE_TEST_HTTP_DEPLOYMENT"); deployment {
	case "distributed", "distributed-redis-ack":
		url := redistest.URL(t)
		if deployment == "distributed-redis-ack" {
			url = redistest.AOFURL(t)
		}
		client := redistest.Connect(t, url)
		store, err := postgres.Open(ctx, pgtest.Schema(t), postgres.WithNotificationChannels(channels...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		inventory := redis.NewInventory(client, redis.Options{KeyPrefix: redistest.Prefix(t, client)})
		redistest.Run(t, inventory)
		if deployment == "distributed" {
			return inventory, store, nil
		}
		journal := redistest.Journal(t, inventory, redis.JournalOptions{Store: store})
		testenv.Background(t, journal.Run)
		return inventory, store, journal
	}
	store, err := sqlite.Open(ctx, t.TempDir()+"/flashsale.db", sqlite.WithNotificationChannels(channels...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return memory.NewInventory(), store, nil
}

func newHarness(t testing.TB, opts harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	hub := notify.NewHub()
	live := []notify.Channel{notify.NewLive(hub)}
	var channels []string
	if opts.events {
		channels = notify.Names(live)
	}
	inventory, store, journal := adapters(t, channels)
	authenticator, err := auth.NewHS256([]byte("test-secret-test-secret-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, payments: paysim.New(paysim.Options{}),
		clock: testclock.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)), auth: authenticator, journaled: journal != nil}
	var provider flashsale.PaymentProvider = h.payments
	if opts.payments != nil {
		provider = opts.payments
	}
	var queue flashsale.OrderQueue
	switch {
	case opts.queue && os.Getenv("FLASHSALE_TEST_HTTP_DEPLOYMENT") == "":
		// Embedded: the in-process queue, as FLASHSALE_QUEUE=memory.
		queue = memory.NewOrderQueue(memory.QueueOptions{})
	case opts.queue:
		server, err := nats.StartEmbedded(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(server.Close)
		if queue, err = nats.NewOrderQueue(ctx, server.Conn(), nats.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h.service, err = checkout.New(checkout.Config{
		Inventory: inventory, Store: store, Payments: provider,
		Now: h.clock.Now, PaymentTimeout: opts.paymentTimeout, OrderQueue: queue, Outbox: store, Journal: journal,
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.queue && !opts.idleWorkers {
		h.startWorkers()
	}
	var events *http.Events
	if opts.events {
		dispatcher, err := notify.NewDispatcher(notify.Config{
			Outbox: store, Channels: live, Now: h.clock.Now, PollInterval: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Background(t, dispatcher.Run)
		events = &http.Events{Outbox: store, Broker: hub, Heartbeat: opts.heartbeat}
	}
	limits := opts.limits
	if limits == nil {
		limits = &http.Limits{Limiter: ratelimit.NewMemory()} // policies off
	}
	h.server = httptest.NewUnstartedServer(http.NewServer(http.Deps{
		Checkout: h.service,
		Verify: func(token string) (http.Identity, error) {
			c, err := h.auth.Verify(token)
			return http.Identity{UserID: c.UserID, Admin: c.Admin}, err
		},
		Limits:         limits,
		Ready:          func(r *nethttp.Request) error { return store.Ping(r.Context()) },
		Shedding:       opts.shedding,
		Events:         events,
		TrustedProxies: opts.trustedProxies,
	}))
	h.server.Config.WriteTimeout = opts.writeTimeout
	h.server.Start()
	t.Cleanup(h.server.Close)
	return h
}

// startWorkers runs the order workers until the test ends.
func (h *harness) startWorkers() {
	testenv.Background(h.t, func(ctx context.Context) {
		if err := h.service.RunOrderWorkers(ctx, 1000); err != nil {
			h.t.Error(err)
		}
	})
}

func (h *harness) token(user string, admin bool) string {
	h.t.Helper()
	tok, err := h.auth.Mint(user, admin, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) admin() string { return h.token("admin", true) }

type response struct {
	Status int
	Header nethttp.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r *response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// ErrorCode returns error.code of an error body.
func (r *response) ErrorCode(t testing.TB) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error object in %s", r.Body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without a message: %s", r.Body)
	}
	code, _ := e["code"].(string)
	return code
}

// do sends a request; body may be nil, a string (sent as is) or a value
// (sent as JSON). headers are name, value pairs.
func (h *harness) do(method, path, token string, body any, headers ...string) *response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := nethttp.NewRequest(method, h.server.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.server.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// expect fails unless the response has the status (and, for errors, the code).
func expect(t testing.TB, r *response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if code != "" {
		if got := r.ErrorCode(t); got != code {
			t.Fatalf("error code %q, want %q; body %s", got, code, r.Body)
		}
	}
}

type saleSpec struct {
	start, end time.Time
	ttl        int64
	items      []itemSpec
	// admission is "direct" (the default) or "queued".
	admission string
}

type itemSpec struct {
	stock, limit int64
	price        string
}

type sale struct {
	ID    string
	Items []string
}

// createSale creates a sale through the admin API; by default active now,
// one item of 10 units, limit 1, TTL 600 s.
func (h *harness) createSale(spec saleSpec) sale {
	h.t.Helper()
	now := h.clock.Now()
	if spec.start.IsZero() {
		spec.start = now.Add(-time.Minute)
	}
	if spec.end.IsZero() {
		spec.end = now.Add(time.Hour)
	}
	if spec.ttl == 0 {
		spec.ttl = 600
	}
	if len(spec.items) == 0 {
		spec.items = []itemSpec{{stock: 10, limit: 1}}
	}
	items := []map[string]any{}
	for i, it := range spec.items {
		price := it.price
		if price == "" {
			price = "499.00"
		}
		items = append(items, map[string]any{
			"product_id": fmt.Sprintf("product-%d", i), "name": fmt.Sprintf("Phone %d", i),
			"original_price": "999.00", "sale_price": price, "currency": "USD",
			"total_quantity": it.stock, "per_user_limit": it.limit,
		})
	}
	r := h.do("POST", "/admin/flash-sales", h.admin(), map[string]any{
		"name": "Summer Phone Launch", "start_time": spec.start.Format(time.RFC3339Nano),
		"end_time": spec.end.Format(time.RFC3339Nano), "reservation_ttl_seconds": spec.ttl, "items": items,
		"admission": cmp.Or(spec.admission, "direct"),
	})
	expect(h.t, r, 201, "")
	var v struct {
		SaleID string `json:"sale_id"`
		Items  []struct {
			ItemID string `json:"item_id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		h.t.Fatal(err)
	}
	s := sale{ID: v.SaleID}
	for _, it := range v.Items {
		s.Items = append(s.Items, it.ItemID)
	}
	return s
}

func (h *harness) placeOrder(saleID, itemID, user string, quantity any, headers ...string) *response {
	h.t.Helper()
	return h.do("POST", "/flash-sales/"+saleID+"/orders", h.token(user, false),
		map[string]any{"item_id": itemID, "quantity": quantity}, headers...)
}

func (h *harness) pay(orderID, user, token string) *response {
	h.t.Helper()
	return h.do("POST", "/orders/"+orderID+"/pay", h.token(user, false),
		map[string]any{"payment_token": token, "payment_method": "credit_card"})
}

type stockCounts struct {
	Total, Available, Reserved, Sold int64
}

// stats reads an item's counts through the admin API and checks the
// invariant available + reserved + sold == total on every item.
func (h *harness) stats(saleID, itemID string) stockCounts {
	h.t.Helper()
	r := h.do("GET", "/admin/flash-sales/"+saleID+"/stats", h.admin(), nil)
	expect(h.t, r, 200, "")
	var v struct {
		Items []struct {
			ItemID string `json:"item_id"`
			stockCounts
		} `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		h.t.Fatal(err)
	}
	var found *stockCounts
	for i, it := range v.Items {
		s := it.stockCounts
		if s.Available+s.Reserved+s.Sold != s.Total || s.Sold > s.Total || s.Available < 0 || s.Reserved < 0 {
			h.t.Fatalf("invariant broken for item %s: %+v", it.ItemID, s)
		}
		if it.ItemID == itemID {
			found = &v.Items[i].stockCounts
		}
	}
	if found == nil {
		h.t.Fatalf("item %s not in stats %s", itemID, r.Body)
	}
	return *found
}

func (h *harness) wantStock(saleID, itemID string, available, reserved, sold int64) {
	h.t.Helper()
	got := h.stats(saleID, itemID)
	if got.Available != available || got.Reserved != reserved || got.Sold != sold {
		h.t.Fatalf("stock %+v, want available %d reserved %d sold %d", got, available, reserved, sold)
	}
}

func orderID(t *testing.T, r *response) string {
	t.Helper()
	id, _ := r.JSON(t)["order_id"].(string)
	if id == "" {
		t.Fatalf("no order_id in %s", r.Body)
	}
	return id
}
