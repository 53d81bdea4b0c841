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
	"github.com/flashsale/flashsale/challenge"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/redis/redistest"
)

// harness is the real server (the payment simulator, a hand-moved clock)
// behind httptest, over the deployment that FLASHSALE_TEST_HTTP_DEPLOYMENT
// names (embedded when unset), opened by internal/deployment as serve
// opens it: in the distributed kinds with a Redis key prefix and a
// PostgreSQL schema per harness. TestMain runs the suite on every kind.
type harness struct {
	t          testing.TB
	server     *httptest.Server
	service    *checkout.Service
	deployment *deployment.Deployment
	store      deployment.Store
	payments   *paysim.Simulator
	clock      *testclock.Clock
	auth       *auth.Authenticator
}

type harnessOptions struct {
	limits         *http.Limits
	paymentTimeout time.Duration
	payments       flashsale.PaymentProvider
	// paymentEvents takes the provider's webhooks (POST /webhooks/payments).
	paymentEvents http.PaymentEvents
	shedding      *http.Shedder
	// events turns GET /events on: the store owes its notifications to
	// the live channel, which a dispatcher delivers through the
	// deployment's broker. heartbeat is the streams' (default 15 s).
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

// deploymentKind is the kind the suite runs on in this process.
func deploymentKind() deployment.Kind {
	return deployment.Kind(cmp.Or(os.Getenv("FLASHSALE_TEST_HTTP_DEPLOYMENT"), string(deployment.Embedded)))
}

// openDeployment opens the kind's deployment for one test, with live
// notifications when events is set, and runs it until the test ends.
func openDeployment(t testing.TB, events, queue bool) *deployment.Deployment {
	t.Helper()
	cfg := deployment.Config{Kind: deploymentKind(), DataDir: t.TempDir()}
	if events {
		cfg.Channels = func(broker flashsale.Broker) ([]notify.Channel, error) {
			return []notify.Channel{notify.NewLive(broker)}, nil
		}
	}
	switch cfg.Kind {
	case deployment.Embedded:
		if queue {
			cfg.Queue = deployment.QueueMemory // as FLASHSALE_QUEUE=memory
		}
	case deployment.Distributed, deployment.DistributedRedisAck:
		cfg.RedisURL = redistest.URL(t)
		if cfg.Kind == deployment.DistributedRedisAck {
			cfg.RedisURL = redistest.AOFURL(t)
		}
		cfg.RedisPrefix = redistest.Prefix(t, redistest.Connect(t, cfg.RedisURL))
		// Not the production deadline: under -race with every package's
		// tests at once a call can take over a second without Redis being
		// at fault (the fault tests of cmd/flashsale hold the deadline).
		cfg.RedisTimeout = 10 * time.Second
		cfg.PostgresURL = pgtest.Schema(t)
		if queue {
			cfg.Queue, cfg.NATSDir = deployment.QueueNATS, t.TempDir()
		}
	}
	d, err := deployment.Open(context.Background(), cfg, notify.NewHub())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	testenv.Background(t, d.Run)
	testenv.Eventually(t, 10*time.Second, "the deployment's subscriptions to be confirmed", d.Subscribed)
	return d
}

// harnessSecret keys the harness's bearer and admission tokens.
const harnessSecret = "test-secret-test-secret-test-secret"

func newHarness(t testing.TB, opts harnessOptions) *harness {
	t.Helper()
	d := openDeployment(t, opts.events, opts.queue)
	authenticator, err := auth.NewHS256([]byte(harnessSecret))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, deployment: d, store: d.Store, payments: paysim.New(paysim.Options{}),
		clock: testclock.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)), auth: authenticator}
	var provider flashsale.PaymentProvider = h.payments
	if opts.payments != nil {
		provider = opts.payments
	}
	h.service, err = d.Service(context.Background(), checkout.Config{
		Payments: provider, Now: h.clock.Now, PaymentTimeout: opts.paymentTimeout,
		Admissions: auth.NewAdmissionSigner([]byte(harnessSecret)),
		Challenges: challenge.NewIssuer([]byte(harnessSecret)),
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
			Outbox: d.Store, Channels: d.Channels, Now: h.clock.Now, PollInterval: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Background(t, dispatcher.Run)
		events = &http.Events{Outbox: d.Store, Broker: d.Broker, Heartbeat: opts.heartbeat}
	}
	limits := opts.limits
	if limits == nil {
		limits = &http.Limits{Limiter: d.Limiter} // policies off
	}
	h.server = httptest.NewUnstartedServer(reportRoute(http.NewServer(http.Deps{
		Checkout: h.service,
		Audit:    d.Store,
		Verify: func(token string) (http.Identity, error) {
			c, err := h.auth.Verify(token)
			return http.Identity{UserID: c.UserID, Admin: c.Admin, Account: c.Account}, err
		},
		Limits:         limits,
		Ready:          func(r *nethttp.Request) error { return d.Ping(r.Context()) },
		Shedding:       opts.shedding,
		Events:         events,
		TrustedProxies: opts.trustedProxies,
		PaymentEvents:  opts.paymentEvents,
	})))
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
// (sent as JSON). headers are name, value pairs. Every response is held to
// openapi.json (checkContract).
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
	req.Header.Set(routeProbe, "1")
	resp, err := h.server.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	route := resp.Header.Get(routeHeader)
	resp.Header.Del(routeHeader)
	r := &response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	h.checkContract(method, path, route, r)
	return r
}

// checkContract holds the response to openapi.json (contract_test.go). A
// mismatch is an error, not fatal: do may be called off the test's
// goroutine, and the test's own checks still say what else went wrong.
func (h *harness) checkContract(method, path, route string, r *response) {
	h.t.Helper()
	c, err := loadContract()
	if err != nil {
		h.t.Errorf("openapi.json: %v", err)
		return
	}
	how, err := c.check(method, route, r)
	if how >= checkedStatus {
		http.ContractChecks.Responses.Add(1)
	}
	if how == checkedBody {
		http.ContractChecks.Bodies.Add(1)
	}
	if err != nil {
		body := r.Body
		if len(body) > 2048 {
			body = append(body[:2048:2048], "..."...)
		}
		h.t.Errorf("%s %s answered %d, which openapi.json does not allow: %v\nbody: %s", method, path, r.Status, err, body)
	}
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
	// waitingRoom is the sale's "waiting_room" object; nil: none.
	waitingRoom map[string]any
	// challenge is the sale's "challenge" object; nil: none.
	challenge map[string]any
	// limits is the sale's "limits" object; nil: none.
	limits map[string]any
	// lottery is a lottery sale's entries window; nil: an fcfs sale.
	lottery map[string]any
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
	body := map[string]any{
		"name": "Summer Phone Launch", "start_time": spec.start.Format(time.RFC3339Nano),
		"end_time": spec.end.Format(time.RFC3339Nano), "reservation_ttl_seconds": spec.ttl, "items": items,
		"admission": cmp.Or(spec.admission, "direct"),
	}
	if spec.waitingRoom != nil {
		body["waiting_room"] = spec.waitingRoom
	}
	if spec.challenge != nil {
		body["challenge"] = spec.challenge
	}
	if spec.limits != nil {
		body["limits"] = spec.limits
	}
	if spec.lottery != nil {
		body["mode"], body["lottery"] = "lottery", spec.lottery
	}
	r := h.do("POST", "/admin/flash-sales", h.admin(), body)
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

func orderID(t testing.TB, r *response) string {
	t.Helper()
	id, _ := r.JSON(t)["order_id"].(string)
	if id == "" {
		t.Fatalf("no order_id in %s", r.Body)
	}
	return id
}

// retried sends a request until its answer is not 503, as a client does:
// the bound in front of the inventory was full, or a dependency was slow
// to answer (a loaded machine under -race). The pause is a client's
// backoff, not an ordering of goroutines.
func retried(send func() *response) *response {
	r := send()
	for r.Status == 503 {
		time.Sleep(10 * time.Millisecond)
		r = send()
	}
	return r
}
