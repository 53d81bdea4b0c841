package http_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/ratelimit"
)

func TestOperationalEndpoints(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	expect(t, h.do("GET", "/healthz", "", nil), 200, "")
	expect(t, h.do("GET", "/readyz", "", nil), 200, "")
	h.createSale(saleSpec{})
	m := h.do("GET", "/metrics", "", nil)
	expect(t, m, 200, "")
	if !strings.Contains(string(m.Body), `flashsale_http_requests_total{code="201",route="admin_create_sale"} 1`) {
		t.Fatalf("metrics do not count the sale creation:\n%.2000s", m.Body)
	}
	doc := h.do("GET", "/openapi.json", "", nil)
	expect(t, doc, 200, "")
	if doc.JSON(t)["openapi"] == nil {
		t.Fatal("openapi document has no version")
	}
}

func TestReadyzFailsWhenTheStoreIsGone(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	h.store.Close()
	expect(t, h.do("GET", "/readyz", "", nil), 503, "unavailable")
	if deploymentKind() == deployment.DistributedRedisAck {
		// Reservations are acknowledged from Redis's AOF: they go on
		// while the store is away, and reach it when it is back.
		expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 201, "")
		return
	}
	r := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, r, 503, "unavailable")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if strings.Contains(string(r.Body), "goroutine") || strings.Contains(string(r.Body), ".go:") {
		t.Fatalf("a 503 leaks internals: %s", r.Body)
	}
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
}

func TestUnknownRoutesAndMethodsAnswerInJSON(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	expect(t, h.do("GET", "/no/such/thing", "", nil), 404, "not_found")
	r := h.do("DELETE", "/flash-sales", "", nil)
	expect(t, r, 405, "method_not_allowed")
	if !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Fatalf("Allow = %q", r.Header.Get("Allow"))
	}
	expect(t, h.do("GET", "/flash-sales/x/orders", "", nil), 405, "method_not_allowed")
}

func TestTokensThatMustBeRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	secret := []byte("test-secret-test-secret-test-secret")
	expired := sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-2 * time.Minute).Unix()})
	noExpiry := sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice"})
	otherSecret := sign(jwt.SigningMethodHS256, []byte("another-secret-another-secret!!"), jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	otherAlg := sign(jwt.SigningMethodHS512, secret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	// A user id that long reached PostgreSQL's index in distributed mode,
	// which refused it: 503 "please retry", forever.
	longSub := sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": strings.Repeat("u", 3000), "exp": time.Now().Add(time.Hour).Unix()})
	stringExp := sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)})
	critical := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	critical.Header["crit"] = []string{"x-unknown"}
	withCrit, err := critical.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	for name, header := range map[string]string{
		"sub of 3000 characters": "Bearer " + longSub,
		"exp as a string":        "Bearer " + stringExp,
		"unknown crit header":    "Bearer " + withCrit,
		"alg none":               "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.",
		"expired":                "Bearer " + expired,
		"no exp":                 "Bearer " + noExpiry,
		"other secret":           "Bearer " + otherSecret,
		"HS512":                  "Bearer " + otherAlg,
		"not bearer":             "Basic YWxpY2U6c2VjcmV0",
		"bearer only":            "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, h.do("GET", "/orders/x", "", nil, "Authorization", header), 401, "unauthenticated")
			expect(t, h.do("POST", "/flash-sales/"+s.ID+"/orders", "", map[string]any{"item_id": s.Items[0], "quantity": 1},
				"Authorization", header), 401, "unauthenticated")
		})
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 201, "")
}

func TestRateLimits(t *testing.T) {
	perUser, err := ratelimit.ParsePolicy("1/s,10/m")
	if err != nil {
		t.Fatal(err)
	}
	perIP, err := ratelimit.ParsePolicy("20/s")
	if err != nil {
		t.Fatal(err)
	}
	// The limits' windows pass on a clock of the test's own.
	clock := testclock.New(time.Now())
	h := newHarness(t, harnessOptions{limits: &http.Limits{Limiter: ratelimit.NewMemoryAt(clock.Now), IP: perIP, OrderUser: perUser}})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}, {stock: 10, limit: 1}}})

	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 201, "")
	limited := h.placeOrder(s.ID, s.Items[1], "alice", 1)
	expect(t, limited, 429, "rate_limited")
	if limited.Header.Get("Retry-After") != "1" || limited.Header.Get("RateLimit-Policy") == "" || limited.Header.Get("RateLimit") == "" {
		t.Fatalf("429 headers %v", limited.Header)
	}
	// Another user is not limited by alice's attempts.
	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 201, "")

	// The page storm from one IP hits the per-IP limit.
	statuses := map[int]int{}
	for range 40 {
		statuses[h.do("GET", "/flash-sales/"+s.ID, "", nil).Status]++
	}
	if statuses[429] == 0 || statuses[200] == 0 {
		t.Fatalf("refresh storm statuses %v", statuses)
	}
	clock.Advance(1100 * time.Millisecond) // the IP limit refills for the admin's check
	h.wantStock(s.ID, s.Items[0], 8, 2, 0)
}

// The per-IP limits count an IPv6 client by its /64, which one host may
// fill with addresses of its choosing, and an IPv4 client by its address;
// an IPv4-mapped IPv6 address is its IPv4 address.
func TestPerIPLimitsCountIPv6ByItsSlash64(t *testing.T) {
	perIP, _ := ratelimit.ParsePolicy("1/m")
	h := newHarness(t, harnessOptions{
		limits:         &http.Limits{Limiter: ratelimit.NewMemory(), IP: perIP},
		trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
	})
	for _, c := range []struct {
		client string
		status int
	}{
		{"2001:db8:1:2::1", 200},
		{"2001:db8:1:2::2", 429},
		{"2001:db8:1:2:ffff:ffff:ffff:fffe", 429},
		{"2001:db8:1:3::1", 200}, // the next /64
		{"2001:db8:1:3:1:2:3:4", 429},
		{"198.51.100.1", 200},
		{"198.51.100.2", 200},
		{"198.51.100.1", 429},
		{"::ffff:198.51.100.2", 429},
	} {
		r := h.do("GET", "/flash-sales", "", nil, "X-Forwarded-For", c.client)
		if r.Status != c.status {
			t.Errorf("client %s: %d, want %d", c.client, r.Status, c.status)
		}
	}
}

// countingLimiter counts the keys it is asked about.
type countingLimiter struct {
	ratelimit.Limiter
	mu   sync.Mutex
	keys map[string]int
}

func (c *countingLimiter) Allow(ctx context.Context, key string, p ratelimit.Policy) (ratelimit.Decision, error) {
	c.mu.Lock()
	c.keys[strings.SplitN(key, ":", 2)[0]]++
	c.mu.Unlock()
	return c.Limiter.Allow(ctx, key, p)
}

// With an IPLimiter the per-IP limits are kept there (a fleet's local
// one), and the per-user limits in the shared Limiter.
func TestIPLimiterKeepsThePerIPLimits(t *testing.T) {
	perUser, _ := ratelimit.ParsePolicy("10/m")
	perIP, _ := ratelimit.ParsePolicy("100/m")
	shared := &countingLimiter{Limiter: ratelimit.NewMemory(), keys: map[string]int{}}
	local := &countingLimiter{Limiter: ratelimit.NewMemory(), keys: map[string]int{}}
	h := newHarness(t, harnessOptions{limits: &http.Limits{Limiter: shared, IPLimiter: local, IP: perIP, OrderUser: perUser}})
	s := h.createSale(saleSpec{})
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 201, "")
	if shared.keys["ip"] != 0 || shared.keys["order"] != 1 || local.keys["ip"] == 0 || local.keys["order"] != 0 {
		t.Errorf("shared limiter asked %v, local %v; want ip keys local, order keys shared", shared.keys, local.keys)
	}
}

// A sold-out answer consumes nothing of the per-user limit: it grants
// nothing, and in a fleet the limit's check is a Redis call.
func TestSoldOutAnswersDoNotCountAgainstTheLimit(t *testing.T) {
	perUser, _ := ratelimit.ParsePolicy("1/m")
	h := newHarness(t, harnessOptions{limits: &http.Limits{Limiter: ratelimit.NewMemory(), OrderUser: perUser}})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 1, limit: 1}}})
	won := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, won, 201, "")
	for range 3 {
		expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 409, "sold_out")
	}
	expect(t, h.do("POST", "/orders/"+orderID(t, won)+"/cancel", h.token("alice", false), nil), 200, "")
	// bob's first attempt that could win is his first counted one.
	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "carol", 1), 409, "sold_out")
}

// /readyz logs when readiness changes, not at every probe.
func TestReadyzLogsChangesOnly(t *testing.T) {
	var logs bytes.Buffer
	var down atomic.Bool
	down.Store(true)
	handler := http.NewServer(http.Deps{
		OpsOnly: true,
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Ready: func(*nethttp.Request) error {
			if down.Load() {
				return errors.New("the store does not answer")
			}
			return nil
		},
	})
	probe := func(want int) {
		t.Helper()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != want {
			t.Fatalf("readyz: %d, want %d", rec.Code, want)
		}
	}
	for range 3 {
		probe(503)
	}
	down.Store(false)
	for range 3 {
		probe(200)
	}
	if n := strings.Count(logs.String(), "not ready"); n != 1 {
		t.Errorf("%d 'not ready' lines for one outage:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "ready again"); n != 1 {
		t.Errorf("%d 'ready again' lines for one recovery:\n%s", n, logs.String())
	}
}

// A double click gets the reservation back, however fast, without
// spending the user's limit; a press before the start spends nothing
// either.
func TestADoubleClickSpendsNoLimit(t *testing.T) {
	perUser, err := ratelimit.ParsePolicy("1/s,10/m")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{limits: &http.Limits{Limiter: ratelimit.NewMemory(), OrderUser: perUser}})
	upcoming := h.createSale(saleSpec{start: h.clock.Now().Add(time.Hour), end: h.clock.Now().Add(2 * time.Hour)})
	for range 3 {
		expect(t, h.placeOrder(upcoming.ID, upcoming.Items[0], "alice", 1), 400, "sale_not_active")
	}
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}, {stock: 10, limit: 1}}})

	first := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, first, 201, "")
	for range 3 { // the same instant: within the 1/s limit's second
		again := h.placeOrder(s.ID, s.Items[0], "alice", 1)
		expect(t, again, 200, "")
		if orderID(t, again) != orderID(t, first) {
			t.Fatalf("double click: order %s, want %s", orderID(t, again), orderID(t, first))
		}
	}
	// The limit was spent once, by the first press: another item is
	// refused by it.
	expect(t, h.placeOrder(s.ID, s.Items[1], "alice", 1), 429, "rate_limited")
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)
}

// A path with an empty or dot segment is the API's 404, not ServeMux's
// bare redirect to another route.
func TestUncleanPathsAre404(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, path := range []string{"/orders//pay", "/flash-sales//orders", "/flash-sales/./x", "/orders/x/../y/pay", "/flash-sales/.."} {
		r := h.do("POST", path, h.token("alice", false), map[string]any{})
		expect(t, r, 404, "not_found")
	}
	expect(t, h.do("GET", "/flash-sales", "", nil), 200, "")
}

// A NUL in a path names nothing, and in a query parameter is refused
// naming it: PostgreSQL cannot hold the character, so it must not reach a
// query as an id.
func TestNULInAPathOrQueryIsRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for _, path := range []string{"/flash-sales/%00", "/orders/a%00b", "/flash-sales/x%00/queue"} {
		expect(t, h.do("GET", path, h.token("alice", false), nil), 404, "not_found")
	}
	r := h.do("GET", "/admin/audit?sale_id=%00", h.admin(), nil)
	expect(t, r, 400, "invalid_request")
	if field := r.JSON(t)["error"].(map[string]any)["field"]; field != "sale_id" {
		t.Errorf("a NUL in sale_id: field %v", field)
	}
}
