package http_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/stripe"
	"github.com/flashsale/flashsale/web"
)

// TestOWASPAPITop10 is one list, with totals, of the abuse the OWASP API
// Security Top 10 (2023) says an API must refuse, sent to the real handler
// chain on each deployment kind: per category a table of attacks, each
// with the status and error code docs/API.md gives it, then the stock's
// invariant and a count of what the attacks must not have changed
// (orders, charges, refunds). Many attacks repeat a single request of a
// dedicated test elsewhere: this suite is where they are counted together
// (docs/RELIABILITY.md, "OWASP API Top 10").
func TestOWASPAPITop10(t *testing.T) {
	provider := &untrustedProvider{Simulator: paysim.New(paysim.Options{})}
	// The payment timeout bounds a charge the provider never answers
	// (tok_timeout) in real time; paysim answers every other at once.
	h := newHarness(t, harnessOptions{events: true, queue: true, payments: provider, paymentTimeout: 500 * time.Millisecond})
	// The rate limits run on a harness of their own: every request of the
	// suite comes from one IP, and the limits' windows pass on a clock the
	// test moves.
	limitClock := testclock.New(time.Now())
	perIP, err := ratelimit.ParsePolicy("10/m")
	if err != nil {
		t.Fatal(err)
	}
	perUser, err := ratelimit.ParsePolicy("1/m")
	if err != nil {
		t.Fatal(err)
	}
	limited := newHarness(t, harnessOptions{limits: &http.Limits{Limiter: ratelimit.NewMemoryAt(limitClock.Now), IP: perIP, OrderUser: perUser}})
	limits := &limitedHarness{harness: limited, clock: limitClock}

	categories := []struct {
		name string
		run  func(t *testing.T, c *owaspCategory)
	}{
		{"API1 Broken Object Level Authorization", func(t *testing.T, c *owaspCategory) { owaspAPI1(t, h, c) }},
		{"API2 Broken Authentication", func(t *testing.T, c *owaspCategory) { owaspAPI2(t, h, limits, c) }},
		{"API3 Broken Object Property Level Authorization", func(t *testing.T, c *owaspCategory) { owaspAPI3(t, h, provider, c) }},
		{"API4 Unrestricted Resource Consumption", func(t *testing.T, c *owaspCategory) { owaspAPI4(t, h, limits, c) }},
		{"API5 Broken Function Level Authorization", func(t *testing.T, c *owaspCategory) { owaspAPI5(t, h, provider, c) }},
		{"API6 Unrestricted Access to Sensitive Business Flows", func(t *testing.T, c *owaspCategory) { owaspAPI6(t, h, provider, c) }},
		{"API7 Server Side Request Forgery", func(t *testing.T, c *owaspCategory) { owaspAPI7(t, h, c) }},
		{"API8 Security Misconfiguration", func(t *testing.T, c *owaspCategory) { owaspAPI8(t, h, provider, c) }},
		{"API9 Improper Inventory Management", func(t *testing.T, c *owaspCategory) { owaspAPI9(t, h, c) }},
		{"API10 Unsafe Consumption of APIs", func(t *testing.T, c *owaspCategory) { owaspAPI10(t, h, provider, c) }},
	}
	tally := make([]*owaspCategory, len(categories))
	for i, cat := range categories {
		tally[i] = &owaspCategory{name: cat.name}
		t.Run(cat.name, func(t *testing.T) { cat.run(t, tally[i]) })
	}

	t.Logf("OWASP API Security Top 10 (2023), %s deployment:", deploymentKind())
	t.Logf("| category | attacks | answered as the contract says |")
	t.Logf("|---|---:|---:|")
	var attacks, answered int
	for _, c := range tally {
		t.Logf("| %s | %d | %d |", c.name, c.attacks, c.answered)
		attacks += c.attacks
		answered += c.answered
	}
	t.Logf("| all | %d | %d |", attacks, answered)
}

// owaspCategory counts one category's attacks and those answered as the
// contract says.
type owaspCategory struct {
	name              string
	attacks, answered int
}

// attack is one abusive request and the contract's answer to it.
type attack struct {
	name   string
	send   func(t *testing.T) *response
	status int
	code   string // "" for an answer that is not an error
	// check, when set, looks further at the answer: a reason, a header,
	// something that must not leak.
	check func(t *testing.T, r *response)
}

// run sends each attack in a subtest of its own, so that one wrong answer
// is counted and the others are still tried.
func (c *owaspCategory) run(t *testing.T, attacks ...attack) {
	t.Helper()
	for _, a := range attacks {
		c.attacks++
		if t.Run(a.name, func(t *testing.T) {
			r := a.send(t)
			expect(t, r, a.status, a.code)
			if a.check != nil {
				a.check(t, r)
			}
		}) {
			c.answered++
		}
	}
}

// send is an attack's request through the harness.
func send(h *harness, method, path, token string, body any, headers ...string) func(*testing.T) *response {
	return func(*testing.T) *response { return h.do(method, path, token, body, headers...) }
}

// wantField checks the field an invalid_request names.
func wantField(field string) func(t *testing.T, r *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		if got, _ := r.JSON(t)["error"].(map[string]any)["field"].(string); got != field {
			t.Errorf("field %q, want %q: %s", got, field, r.Body)
		}
	}
}

// wantReason checks the reason beside an error.
func wantReason(reason string) func(t *testing.T, r *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		if got, _ := r.JSON(t)["error"].(map[string]any)["reason"].(string); got != reason {
			t.Errorf("reason %q, want %q: %s", got, reason, r.Body)
		}
	}
}

// wantRetryAfter checks that a refusal says when to come back.
func wantRetryAfter(t *testing.T, r *response) {
	t.Helper()
	if r.Header.Get("Retry-After") == "" {
		t.Errorf("%d without Retry-After: %s", r.Status, r.Body)
	}
}

// notMentioning fails when the answer's body holds any of words: another
// user's id, a token, a provider's internal words.
func notMentioning(words ...string) func(t *testing.T, r *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		for _, w := range words {
			if strings.Contains(string(r.Body), w) {
				t.Errorf("the answer mentions %q: %s", w, r.Body)
			}
		}
	}
}

// both runs two checks.
func both(a, b func(t *testing.T, r *response)) func(t *testing.T, r *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		a(t, r)
		b(t, r)
	}
}

// saleOrders counts a sale's orders, in every status, as its operators
// list them.
func saleOrders(t *testing.T, h *harness, saleID string) int {
	t.Helper()
	r := h.do("GET", "/admin/flash-sales/"+saleID+"/orders?limit=1000", h.admin(), nil)
	expect(t, r, 200, "")
	orders, _ := r.JSON(t)["orders"].([]any)
	return len(orders)
}

// wantOrders checks the number of a sale's orders after a category's
// attacks: an attack that made one would show here.
func wantOrders(t *testing.T, h *harness, saleID string, n int) {
	t.Helper()
	if got := saleOrders(t, h, saleID); got != n {
		t.Errorf("sale %s has %d orders, want %d", saleID, got, n)
	}
}

// orderStatus is an order's status as its owner reads it.
func orderStatus(t *testing.T, h *harness, orderID, user string) string {
	t.Helper()
	r := h.do("GET", "/orders/"+orderID, h.token(user, false), nil)
	expect(t, r, 200, "")
	status, _ := r.JSON(t)["status"].(string)
	return status
}

// limitedHarness is a harness whose per-IP and per-user limits are on,
// their windows on clock.
type limitedHarness struct {
	*harness
	clock *testclock.Clock
}

// fresh lets every limit's window pass, so that what follows starts with
// a full allowance.
func (l *limitedHarness) fresh() { l.clock.Advance(time.Hour) }

// untrustedProvider is the payment simulator behind a provider that
// misbehaves as a real one can: it loses a charge's answer after charging,
// does not answer a look-up, a card's fingerprint or a refund, or panics
// in the middle of a charge. Its errors carry words a client must never
// read (an internal address, a Go type). Each fault holds until it is
// set back.
type untrustedProvider struct {
	*paysim.Simulator
	mu                                                      sync.Mutex
	loseAnswers, lookupsDown, fingerprintsDown, refundsDown bool
	panics                                                  bool
}

// providerSecret is what the provider's errors carry that no answer of
// the API may repeat.
const providerSecret = "10.0.0.7:8443 *paysim.charge"

var errProviderDown = errors.New("provider unreachable at " + providerSecret)

// faults returns the faults in force.
func (p *untrustedProvider) faults() (loseAnswers, lookupsDown, fingerprintsDown, refundsDown, panics bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loseAnswers, p.lookupsDown, p.fingerprintsDown, p.refundsDown, p.panics
}

// set changes the faults under the lock.
func (p *untrustedProvider) set(change func(p *untrustedProvider)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change(p)
}

func (p *untrustedProvider) Charge(ctx context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	loseAnswers, _, _, _, panics := p.faults()
	if panics {
		panic("provider answered garbage: " + providerSecret)
	}
	res, err := p.Simulator.Charge(ctx, req)
	if err == nil && loseAnswers {
		return flashsale.ChargeResult{}, errProviderDown // charged, and the answer lost
	}
	return res, err
}

func (p *untrustedProvider) Lookup(ctx context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	if _, lookupsDown, _, _, _ := p.faults(); lookupsDown {
		return flashsale.ChargeResult{}, errProviderDown
	}
	return p.Simulator.Lookup(ctx, req)
}

func (p *untrustedProvider) Fingerprint(ctx context.Context, token string) (string, error) {
	if _, _, fingerprintsDown, _, _ := p.faults(); fingerprintsDown {
		return "", errProviderDown
	}
	return p.Simulator.Fingerprint(ctx, token)
}

func (p *untrustedProvider) Refund(ctx context.Context, key, paymentID string, amount flashsale.Money) (string, error) {
	if _, _, _, refundsDown, _ := p.faults(); refundsDown {
		return "", errProviderDown
	}
	return p.Simulator.Refund(ctx, key, paymentID, amount)
}

// forgedToken is a JWT with the header and claims given as JSON, signed
// with HMAC-SHA256 under key whatever the header says, as an attacker who
// writes any header sends it; a nil key leaves the signature empty.
func forgedToken(header, claims string, key []byte) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	if key == nil {
		return signing + "."
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// API1: another user's objects, named by their ids, are answered as if
// they did not exist (404, never 403, so ids cannot be probed), and a
// shopper's listing holds only their own.
func owaspAPI1(t *testing.T, h *harness, c *owaspCategory) {
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}}})
	alices := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	bobs := orderID(t, h.placeOrder(s.ID, s.Items[0], "bob", 1))
	queued := h.createSale(saleSpec{admission: "queued"})
	placed := h.placeOrder(queued.ID, queued.Items[0], "alice", 1)
	expect(t, placed, 202, "")
	statusURL, _ := placed.JSON(t)["status_url"].(string)
	lottery := h.lotterySale(5)
	expect(t, h.enter(lottery, "alice"), 201, "")
	room := h.createSale(saleSpec{waitingRoom: map[string]any{"admit_per_minute": 60}})
	h.queue("POST", room.ID, "alice", 201, "")
	bob := h.token("bob", false)
	charges := h.payments.Charges()

	// The answer to another user's order is the answer to an id that does
	// not exist, the id itself aside: nothing tells that it does.
	unknown := h.do("GET", "/orders/ord_no_such_order", bob, nil)
	sameAsUnknown := func(t *testing.T, r *response) {
		t.Helper()
		notMentioning("alice")(t, r)
		got, _ := r.JSON(t)["error"].(map[string]any)["message"].(string)
		want, _ := unknown.JSON(t)["error"].(map[string]any)["message"].(string)
		if strings.ReplaceAll(got, alices, "ID") != strings.ReplaceAll(want, "ord_no_such_order", "ID") {
			t.Errorf("another user's order is told %q, an unknown one %q: the difference tells that the id exists", got, want)
		}
	}
	c.run(t,
		attack{"GET another user's order", send(h, "GET", "/orders/"+alices, bob, nil), 404, "order_not_found", sameAsUnknown},
		attack{"pay another user's order", send(h, "POST", "/orders/"+alices+"/pay", bob,
			map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card"}), 404, "order_not_found", sameAsUnknown},
		attack{"cancel another user's order", send(h, "POST", "/orders/"+alices+"/cancel", bob, nil), 404, "order_not_found", sameAsUnknown},
		attack{"another user's order id in capitals", send(h, "GET", "/orders/"+strings.ToUpper(alices), bob, nil), 404, "order_not_found", nil},
		attack{"another user's order through a dot-dot path", send(h, "POST", "/orders/"+bobs+"/../"+alices+"/cancel", bob, nil), 404, "not_found", nil},
		attack{"another user's queued request", send(h, "GET", statusURL, bob, nil), 404, "not_found", notMentioning("alice")},
		attack{"another user's lottery entries", send(h, "GET", "/flash-sales/"+lottery.ID+"/entries", bob, nil), 200, "",
			func(t *testing.T, r *response) {
				if entries, _ := r.JSON(t)["entries"].([]any); len(entries) != 0 {
					t.Errorf("bob, who never entered, is shown entries: %s", r.Body)
				}
			}},
		attack{"another user's waiting-room ticket", send(h, "GET", "/flash-sales/"+room.ID+"/queue", bob, nil), 404, "ticket_not_found", nil},
		attack{"leave another user's place", send(h, "DELETE", "/flash-sales/"+room.ID+"/queue", bob, nil), 404, "ticket_not_found", nil},
		attack{"list the sale's orders as a shopper", send(h, "GET", "/admin/flash-sales/"+s.ID+"/orders", bob, nil), 403, "forbidden", notMentioning("alice")},
		attack{"refund another user's order as a shopper", send(h, "POST", "/admin/orders/"+alices+"/refund", bob, nil), 403, "forbidden", nil},
	)

	// Nothing of alice's changed: her order, her place, her entry, her request.
	if st := orderStatus(t, h, alices, "alice"); st != "reserved" {
		t.Errorf("alice's order is %s after bob's attempts", st)
	}
	h.queue("GET", room.ID, "alice", 200, "")
	if len(h.entriesOf(lottery, "alice")) != 1 {
		t.Error("alice's lottery entry is gone")
	}
	expect(t, h.pollRequest(statusURL, h.token("alice", false)), 201, "")
	h.wantStock(s.ID, s.Items[0], 8, 2, 0)
	h.wantStock(queued.ID, queued.Items[0], 9, 1, 0)
	wantOrders(t, h, s.ID, 2)
	if got := h.payments.Charges(); got != charges {
		t.Errorf("%d charges made", got-charges)
	}
}

// API2: every token the service did not sign as it signs, or that breaks
// a rule of the contract's, is 401 unauthenticated; guessing tokens is
// bounded by the per-IP limit.
func owaspAPI2(t *testing.T, h *harness, limits *limitedHarness, c *owaspCategory) {
	s := h.createSale(saleSpec{})
	orders := "/flash-sales/" + s.ID + "/orders"
	body := map[string]any{"item_id": s.Items[0], "quantity": 1}
	now := time.Now().Unix()
	claims := func(extra string) string {
		return fmt.Sprintf(`{"sub":"mallory","exp":%d,"iat":%d%s}`, now+3600, now, extra)
	}
	hs256 := `{"alg":"HS256","typ":"JWT"}`
	secret := []byte(harnessSecret)
	// The forgeries below are refused for what they change, not for a
	// flaw of forgedToken: signed as the service signs, the same claims pass.
	control := forgedToken(hs256, claims(""), secret)
	expect(t, h.do("GET", "/orders/ord_none", control, nil), 404, "order_not_found")

	hs384, err := jwt.NewWithClaims(jwt.SigningMethodHS384, jwt.MapClaims{"sub": "mallory", "exp": now + 3600}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	valid := h.token("mallory", false)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims(`,"role":"admin"`))) + "." + parts[2]
	refused := func(name string, token string, headers ...string) attack {
		return attack{name, send(h, "POST", orders, token, body, headers...), 401, "unauthenticated",
			func(t *testing.T, r *response) {
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: %v", r.Header)
				}
			}}
	}
	c.run(t,
		refused("no token", ""),
		refused("Basic credentials", "", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("admin:admin"))),
		refused("alg none", forgedToken(`{"alg":"none","typ":"JWT"}`, claims(""), nil)),
		refused("alg None, signed", forgedToken(`{"alg":"None","typ":"JWT"}`, claims(""), secret)),
		refused("HS384 with the right secret", hs384),
		refused("RS256 header over an HMAC of the secret (key confusion)", forgedToken(`{"alg":"RS256","typ":"JWT"}`, claims(""), secret)),
		refused("ES256 header", forgedToken(`{"alg":"ES256","typ":"JWT"}`, claims(""), secret)),
		refused("another secret", forgedToken(hs256, claims(""), []byte("guessed-secret-guessed-secret-guessed"))),
		refused("an empty secret", forgedToken(hs256, claims(""), []byte{})),
		refused("claims changed under a valid signature", tampered),
		refused("signature stripped", parts[0]+"."+parts[1]+"."),
		refused("expired an hour ago", forgedToken(hs256, fmt.Sprintf(`{"sub":"mallory","exp":%d}`, now-3600), secret)),
		refused("nbf an hour ahead", forgedToken(hs256, claims(fmt.Sprintf(`,"nbf":%d`, now+3600)), secret)),
		refused("iat an hour ahead", forgedToken(hs256, fmt.Sprintf(`{"sub":"mallory","exp":%d,"iat":%d}`, now+7200, now+3600), secret)),
		refused("no exp", forgedToken(hs256, `{"sub":"mallory"}`, secret)),
		refused("exp as a string", forgedToken(hs256, fmt.Sprintf(`{"sub":"mallory","exp":"%d"}`, now+3600), secret)),
		refused("no sub", forgedToken(hs256, fmt.Sprintf(`{"exp":%d}`, now+3600), secret)),
		refused("empty sub", forgedToken(hs256, fmt.Sprintf(`{"sub":"","exp":%d}`, now+3600), secret)),
		refused("sub of 129 bytes", forgedToken(hs256, fmt.Sprintf(`{"sub":"%s","exp":%d}`, strings.Repeat("m", 129), now+3600), secret)),
		refused("sub of 16 KiB", forgedToken(hs256, fmt.Sprintf(`{"sub":"%s","exp":%d}`, strings.Repeat("m", 16<<10), now+3600), secret)),
		refused("sub with a control character", forgedToken(hs256, fmt.Sprintf(`{"sub":"mal\nlory","exp":%d}`, now+3600), secret)),
		refused("sub as a number", forgedToken(hs256, fmt.Sprintf(`{"sub":42,"exp":%d}`, now+3600), secret)),
		refused("phone_number of 33 bytes", forgedToken(hs256, claims(`,"phone_number":"+`+strings.Repeat("1", 32)+`"`), secret)),
		refused("account_created_at as a string", forgedToken(hs256, claims(`,"account_created_at":"0"`), secret)),
		refused("crit header", forgedToken(`{"alg":"HS256","typ":"JWT","crit":["exp"]}`, claims(""), secret)),
		refused("not a JWT", "not.a.jwt"),
		refused("two tokens", valid+" "+valid),
		attack{"valid token in the query string of place-order", send(h, "POST", orders+"?access_token="+valid, "", body), 401, "unauthenticated", nil},
		attack{"valid token in the query string of GET /orders", send(h, "GET", "/orders/ord_none?access_token="+valid, "", nil), 401, "unauthenticated", nil},
		attack{"valid token in a cookie", send(h, "GET", "/orders/ord_none", "", nil, "Cookie", "token="+valid), 401, "unauthenticated", nil},
	)
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
	wantOrders(t, h, s.ID, 0)

	// Guessing: one IP that sends token after token is cut off by the
	// per-IP limit (10 a minute here) before the eleventh is even read.
	limits.fresh()
	c.run(t, attack{"brute force of tokens from one IP", func(t *testing.T) *response {
		for i := range 10 {
			guess := forgedToken(hs256, claims(""), fmt.Appendf(nil, "guess-%d", i))
			expect(t, limits.do("GET", "/orders/ord_none", guess, nil), 401, "unauthenticated")
		}
		return limits.do("GET", "/orders/ord_none", forgedToken(hs256, claims(""), []byte("guess-10")), nil)
	}, 429, "rate_limited", wantRetryAfter})
	limits.fresh()
}

// API3: a client writes only the properties the contract lets it write
// (any other key is 400 invalid_request naming it, and nothing is
// written), and reads no other user's: the public draw lists entry ids,
// never user ids.
func owaspAPI3(t *testing.T, h *harness, provider *untrustedProvider, c *owaspCategory) {
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}}})
	item := s.Items[0]
	orders := "/flash-sales/" + s.ID + "/orders"
	mallory := h.token("mallory", false)
	reserved := orderID(t, h.placeOrder(s.ID, item, "victim", 1))
	paid := orderID(t, h.placeOrder(s.ID, item, "buyer", 1))
	expect(t, h.pay(paid, "buyer", "tok_visa"), 200, "")
	room := h.createSale(saleSpec{waitingRoom: map[string]any{"admit_per_minute": 60}})
	lottery := h.lotterySale(1)
	charges, refunds := provider.Charges(), provider.Refunds()
	admin := h.admin()
	victim := h.token("victim", false)
	placeWith := func(key string, value any) map[string]any {
		return map[string]any{"item_id": item, "quantity": 1, key: value}
	}
	payWith := func(key string, value any) map[string]any {
		return map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card", key: value}
	}
	newSale := validSale(h.clock.Now())
	newSale["sale_id"] = "chosen-by-the-client"
	soldItems := validSale(h.clock.Now())
	soldItems["items"].([]map[string]any)[0]["sold"] = 5
	remaining := validSale(h.clock.Now())
	remaining["items"].([]map[string]any)[0]["remaining_quantity"] = 1000
	massAssignment := func(name, method, path, token string, body any, field string) attack {
		return attack{name, send(h, method, path, token, body), 400, "invalid_request", wantField(field)}
	}
	c.run(t,
		massAssignment("place-order with status", "POST", orders, mallory, placeWith("status", "confirmed"), "status"),
		massAssignment("place-order with order_id", "POST", orders, mallory, placeWith("order_id", reserved), "order_id"),
		massAssignment("place-order for another user_id", "POST", orders, mallory, placeWith("user_id", "victim"), "user_id"),
		massAssignment("place-order with its own total_amount", "POST", orders, mallory, placeWith("total_amount", "0.01"), "total_amount"),
		massAssignment("place-order with a unit_price", "POST", orders, mallory, placeWith("unit_price", "0.01"), "unit_price"),
		massAssignment("place-order with role admin", "POST", orders, mallory, placeWith("role", "admin"), "role"),
		massAssignment("place-order with per_user_limit", "POST", orders, mallory, placeWith("per_user_limit", 100), "per_user_limit"),
		massAssignment("pay with its own amount", "POST", "/orders/"+reserved+"/pay", victim, payWith("amount", "0.01"), "amount"),
		massAssignment("pay with status confirmed", "POST", "/orders/"+reserved+"/pay", victim, payWith("status", "confirmed"), "status"),
		massAssignment("pay with a payment_id", "POST", "/orders/"+reserved+"/pay", victim, payWith("payment_id", "pay_forged"), "payment_id"),
		massAssignment("cancel with status refunded", "POST", "/orders/"+reserved+"/cancel", victim, map[string]any{"status": "refunded"}, "status"),
		massAssignment("join the line at position 1", "POST", "/flash-sales/"+room.ID+"/queue", mallory, map[string]any{"position": 1}, "position"),
		massAssignment("join the line admitted", "POST", "/flash-sales/"+room.ID+"/queue", mallory, map[string]any{"status": "admitted"}, "status"),
		massAssignment("enter the lottery as won", "POST", "/flash-sales/"+lottery.ID+"/entries", mallory,
			map[string]any{"item_id": lottery.Items[0], "status": "won"}, "status"),
		massAssignment("enter the lottery with rank 1", "POST", "/flash-sales/"+lottery.ID+"/entries", mallory,
			map[string]any{"item_id": lottery.Items[0], "rank": 1}, "rank"),
		massAssignment("create a sale with its own sale_id", "POST", "/admin/flash-sales", admin, newSale, "sale_id"),
		massAssignment("create a sale with units already sold", "POST", "/admin/flash-sales", admin, soldItems, "items[0].sold"),
		massAssignment("create a sale with remaining_quantity", "POST", "/admin/flash-sales", admin, remaining, "items[0].remaining_quantity"),
		massAssignment("change a sale's status", "PATCH", "/admin/flash-sales/"+s.ID, admin, map[string]any{"status": "ended"}, "status"),
		massAssignment("change an item's total_quantity", "PATCH", "/admin/flash-sales/"+s.ID, admin,
			map[string]any{"items": []map[string]any{{"item_id": item, "total_quantity": 1}}}, "items[0].total_quantity"),
		massAssignment("change the line's admitted_total", "PATCH", "/admin/flash-sales/"+room.ID+"/queue", admin, map[string]any{"admitted_total": 0}, "admitted_total"),
		massAssignment("refund with an amount", "POST", "/admin/orders/"+paid+"/refund", admin, map[string]any{"restock": true, "amount": "1.00"}, "amount"),
		massAssignment("reconcile with instructions", "POST", "/admin/flash-sales/"+s.ID+"/reconcile", admin, map[string]any{"sold": 0}, "sold"),
		attack{"the public sale page names no buyer", send(h, "GET", "/flash-sales/"+s.ID, "", nil), 200, "", notMentioning("victim", "buyer", reserved, paid)},
		attack{"the public sale list names no buyer", send(h, "GET", "/flash-sales", "", nil), 200, "", notMentioning("victim", "buyer", reserved, paid)},
		attack{"the order names no payment card", send(h, "GET", "/orders/"+paid, h.token("buyer", false), nil), 200, "", notMentioning("tok_visa", "fp_")},
	)
	if st := orderStatus(t, h, reserved, "victim"); st != "reserved" {
		t.Errorf("the victim's order is %s", st)
	}
	if st := orderStatus(t, h, paid, "buyer"); st != "confirmed" {
		t.Errorf("the paid order is %s", st)
	}
	h.wantStock(s.ID, item, 8, 1, 1)
	wantOrders(t, h, s.ID, 2)
	if list := h.do("GET", "/flash-sales", "", nil).JSON(t)["sales"].([]any); slices.ContainsFunc(list, func(v any) bool {
		return v.(map[string]any)["sale_id"] == "chosen-by-the-client"
	}) {
		t.Error("a sale was created with the client's own id")
	}
	if provider.Charges() != charges || provider.Refunds() != refunds {
		t.Errorf("charges %d→%d, refunds %d→%d", charges, provider.Charges(), refunds, provider.Refunds())
	}

	// The draw's public documents: entry ids, never the users behind them.
	for _, user := range []string{"entrant-alice", "entrant-bob"} {
		expect(t, h.enter(lottery, user), 201, "")
	}
	h.clock.Advance(time.Hour + time.Second) // entries close
	h.tickLotteries()
	noEntrant := notMentioning("entrant-alice", "entrant-bob")
	c.run(t,
		attack{"the public draw names no entrant", send(h, "GET", "/flash-sales/"+lottery.ID+"/draw", "", nil), 200, "", noEntrant},
		attack{"the public entry list names no entrant", send(h, "GET", "/flash-sales/"+lottery.ID+"/draw/"+lottery.Items[0]+"/entries", "", nil), 200, "",
			both(noEntrant, func(t *testing.T, r *response) {
				if lines := strings.Split(strings.TrimSuffix(string(r.Body), "\n"), "\n"); len(lines) != 2 {
					t.Errorf("the entry list %q does not hold the 2 entry ids", r.Body)
				}
			})},
	)
	h.stats(lottery.ID, lottery.Items[0])
}

// API4: every resource a request can make the service spend is bounded:
// the body, its nesting, the numbers in it, the headers it carries, the
// pages it asks for, the streams it holds, and the requests per IP and per
// user.
func owaspAPI4(t *testing.T, h *harness, limits *limitedHarness, c *owaspCategory) {
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}}})
	item := s.Items[0]
	orders := "/flash-sales/" + s.ID + "/orders"
	mallory := h.token("mallory", false)
	admin := h.admin()
	owned := orderID(t, h.placeOrder(s.ID, item, "owner", 1))
	quantity := func(q string) string { return `{"item_id":"` + item + `","quantity":` + q + `}` }
	deepArray := `{"item_id":` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + `,"quantity":1}`
	deepObject := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	// badSale is a valid sale but for one setting of an object of its own
	// (waiting_room, challenge) or of its first item.
	badSale := func(object, key string, value any) map[string]any {
		sale := validSale(h.clock.Now())
		switch object {
		case "items":
			sale["items"].([]map[string]any)[0][key] = value
		case "waiting_room":
			sale[object] = map[string]any{"admit_per_minute": 60, key: value}
		default:
			sale[object] = map[string]any{key: value}
		}
		return sale
	}
	c.run(t,
		attack{"body of 64 KiB and a byte", send(h, "POST", orders, mallory, `{"item_id":"`+strings.Repeat("x", 64<<10)+`","quantity":1}`), 413, "request_too_large", nil},
		attack{"create-sale body of 1 MiB", send(h, "POST", "/admin/flash-sales", admin, `{"name":"`+strings.Repeat("x", 1<<20)+`"}`), 413, "request_too_large", nil},
		attack{"arrays nested 30,000 deep", send(h, "POST", orders, mallory, deepArray), 400, "invalid_request", nil},
		attack{"objects nested 10,000 deep", send(h, "POST", orders, mallory, deepObject), 400, "invalid_request", nil},
		attack{"quantity 1e30", send(h, "POST", orders, mallory, quantity("1e30")), 400, "invalid_quantity", nil},
		attack{"quantity 2^63", send(h, "POST", orders, mallory, quantity("9223372036854775808")), 400, "invalid_quantity", nil},
		attack{"quantity 2^63-1", send(h, "POST", orders, mallory, quantity("9223372036854775807")), 400, "quantity_exceeds_limit", nil},
		attack{"quantity -1", send(h, "POST", orders, mallory, quantity("-1")), 400, "invalid_quantity", nil},
		attack{"quantity 0", send(h, "POST", orders, mallory, quantity("0")), 400, "invalid_quantity", nil},
		attack{"quantity 1.5", send(h, "POST", orders, mallory, quantity("1.5")), 400, "invalid_quantity", nil},
		attack{`quantity "1"`, send(h, "POST", orders, mallory, quantity(`"1"`)), 400, "invalid_quantity", nil},
		attack{"Idempotency-Key of 256 bytes", send(h, "POST", orders, mallory, quantity("1"), "Idempotency-Key", strings.Repeat("k", 256)), 400, "invalid_request", wantField("Idempotency-Key")},
		attack{"payment_token of 256 bytes", send(h, "POST", "/orders/"+owned+"/pay", h.token("owner", false),
			map[string]any{"payment_token": strings.Repeat("t", 256), "payment_method": "credit_card"}), 400, "invalid_request", wantField("payment_token")},
		attack{"order listing limit 1001", send(h, "GET", "/admin/flash-sales/"+s.ID+"/orders?limit=1001", admin, nil), 400, "invalid_request", wantField("limit")},
		attack{"order listing limit 2^64", send(h, "GET", "/admin/flash-sales/"+s.ID+"/orders?limit=18446744073709551616", admin, nil), 400, "invalid_request", wantField("limit")},
		attack{"order listing limit -1", send(h, "GET", "/admin/flash-sales/"+s.ID+"/orders?limit=-1", admin, nil), 400, "invalid_request", wantField("limit")},
		attack{"audit log limit 1001", send(h, "GET", "/admin/audit?sale_id="+s.ID+"&limit=1001", admin, nil), 400, "invalid_request", wantField("limit")},
		attack{"a sale of 10^15 units", send(h, "POST", "/admin/flash-sales", admin, badSale("items", "total_quantity", 1_000_000_000_000_000)), 400, "invalid_request", wantField("items[0].total_quantity")},
		attack{"a waiting room admitting 6,000,001 a minute", send(h, "POST", "/admin/flash-sales", admin, badSale("waiting_room", "admit_per_minute", 6_000_001)), 400, "invalid_request", wantField("waiting_room.admit_per_minute")},
		attack{"a challenge of difficulty 10,000,001", send(h, "POST", "/admin/flash-sales", admin, badSale("challenge", "max_number", 10_000_001)), 400, "invalid_request", wantField("challenge.max_number")},
		attack{"a restock of 100,000,001 units", send(h, "PATCH", "/admin/flash-sales/"+s.ID, admin,
			map[string]any{"items": []map[string]any{{"item_id": item, "add_quantity": 100_000_001}}}), 400, "invalid_request", wantField("items[0].add_quantity")},
		attack{"an event stream following 11 waiting rooms", send(h, "GET", "/events?queue=a&queue=b&queue=c&queue=d&queue=e&queue=f&queue=g&queue=h&queue=i&queue=j&queue=k",
			mallory, nil), 400, "invalid_request", wantField("queue")},
		attack{"a fourth event stream of one user", func(t *testing.T) *response {
			for range 3 {
				h.openStream("streamer", h.bearer("streamer")...)
			}
			return h.do("GET", "/events", h.token("streamer", false), nil)
		}, 429, "rate_limited", wantRetryAfter},
	)
	h.wantStock(s.ID, item, 9, 1, 0)
	wantOrders(t, h, s.ID, 1)

	// The request rate: per IP on every route, per user on place-order.
	limits.fresh()
	ls := limits.createSale(saleSpec{items: []itemSpec{{stock: 5, limit: 1}, {stock: 5, limit: 1}}})
	limits.fresh()
	c.run(t,
		attack{"a refresh storm from one IP", func(t *testing.T) *response {
			for range 10 {
				expect(t, limits.do("GET", "/flash-sales/"+ls.ID, "", nil), 200, "")
			}
			return limits.do("GET", "/flash-sales/"+ls.ID, "", nil)
		}, 429, "rate_limited", both(wantRetryAfter, func(t *testing.T, r *response) {
			if r.Header.Get("RateLimit-Policy") == "" || r.Header.Get("RateLimit") == "" {
				t.Errorf("429 without the RateLimit headers: %v", r.Header)
			}
		})},
	)
	limits.fresh()
	c.run(t,
		attack{"a second press of one user within the minute", func(t *testing.T) *response {
			expect(t, limits.placeOrder(ls.ID, ls.Items[0], "presser", 1), 201, "")
			return limits.placeOrder(ls.ID, ls.Items[1], "presser", 1)
		}, 429, "rate_limited", wantRetryAfter},
	)
	limits.fresh()
	limits.wantStock(ls.ID, ls.Items[0], 4, 1, 0)
	limits.wantStock(ls.ID, ls.Items[1], 5, 0, 0)
}

// adminOperations are the operations openapi.json, as served, tags admin:
// the list is the document's, not this test's.
func adminOperations(t *testing.T, h *harness) [][2]string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := h.do("GET", "/openapi.json", "", nil)
	expect(t, r, 200, "")
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	var ops [][2]string
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			var op struct {
				Tags []string `json:"tags"`
			}
			if json.Unmarshal(raw, &op) == nil && slices.Contains(op.Tags, "admin") {
				ops = append(ops, [2]string{strings.ToUpper(method), path})
			}
		}
	}
	slices.SortFunc(ops, func(a, b [2]string) int { return strings.Compare(a[1]+a[0], b[1]+b[0]) })
	if len(ops) == 0 {
		t.Fatal("openapi.json tags no operation admin")
	}
	return ops
}

// API5: a shopper's token opens no admin function, whatever the route,
// the claim's spelling, the method override or the path's spelling.
func owaspAPI5(t *testing.T, h *harness, provider *untrustedProvider, c *owaspCategory) {
	s := h.createSale(saleSpec{waitingRoom: map[string]any{"admit_per_minute": 60}})
	plain := h.createSale(saleSpec{})
	order := orderID(t, h.placeOrder(plain.ID, plain.Items[0], "owner", 1))
	expect(t, h.pay(order, "owner", "tok_visa"), 200, "")
	charges, refunds := provider.Charges(), provider.Refunds()
	shopper := h.token("shopper", false)
	ids := strings.NewReplacer("{sale_id}", s.ID, "{order_id}", order)

	var attacks []attack
	for _, op := range adminOperations(t, h) {
		method, path := op[0], ids.Replace(op[1])
		var body any
		if method != "GET" {
			body = map[string]any{}
		}
		attacks = append(attacks, attack{"shopper on " + method + " " + op[1], send(h, method, path, shopper, body), 403, "forbidden", nil})
	}
	now := time.Now().Unix()
	stats := "/admin/flash-sales/" + s.ID + "/stats"
	roleClaim := func(claim string) string {
		return forgedToken(`{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(`{"sub":"shopper","exp":%d,%s}`, now+3600, claim), []byte(harnessSecret))
	}
	attacks = append(attacks,
		attack{`role "Admin"`, send(h, "GET", stats, roleClaim(`"role":"Admin"`), nil), 403, "forbidden", nil},
		attack{`role "administrator"`, send(h, "GET", stats, roleClaim(`"role":"administrator"`), nil), 403, "forbidden", nil},
		attack{`role "admin " with a space`, send(h, "GET", stats, roleClaim(`"role":"admin "`), nil), 403, "forbidden", nil},
		attack{`"admin": true claim`, send(h, "GET", stats, roleClaim(`"admin":true`), nil), 403, "forbidden", nil},
		attack{`"roles": ["admin"] claim`, send(h, "GET", stats, roleClaim(`"roles":["admin"]`), nil), 403, "forbidden", nil},
		attack{`"scope": "admin" claim`, send(h, "GET", stats, roleClaim(`"scope":"admin"`), nil), 403, "forbidden", nil},
		// A role that is not a string is no claim the service can read:
		// the token is malformed.
		attack{`"role": ["admin"]`, send(h, "GET", stats, roleClaim(`"role":["admin"]`), nil), 401, "unauthenticated", nil},
		attack{"X-HTTP-Method-Override: PATCH on a POST", send(h, "POST", "/admin/flash-sales/"+s.ID, shopper, map[string]any{"paused": true},
			"X-HTTP-Method-Override", "PATCH"), 405, "method_not_allowed", nil},
		attack{"X-Original-URL to an admin route", send(h, "GET", "/flash-sales", shopper, nil, "X-Original-URL", stats, "X-Rewrite-URL", stats), 200, "",
			notMentioning(`"available"`)},
		attack{"/ADMIN in capitals", send(h, "GET", "/ADMIN/flash-sales/"+s.ID+"/stats", shopper, nil), 404, "not_found", nil},
		attack{"dot-dot into /admin", send(h, "GET", "/flash-sales/../admin/flash-sales/"+s.ID+"/stats", shopper, nil), 404, "not_found", nil},
		attack{"an encoded slash into /admin", send(h, "GET", "/admin%2Fflash-sales/"+s.ID+"/stats", shopper, nil), 404, "not_found", nil},
		attack{"a trailing slash", send(h, "GET", stats+"/", shopper, nil), 404, "not_found", nil},
	)
	c.run(t, attacks...)

	// The sale is as it was: not paused, its line not changed, its order
	// not refunded, and only its creation in the audit log.
	if view := h.do("GET", "/flash-sales/"+s.ID, "", nil).JSON(t); view["paused"] != nil {
		t.Errorf("the sale was paused: %v", view)
	}
	if q := h.do("GET", "/admin/flash-sales/"+s.ID+"/queue", h.admin(), nil).JSON(t); q["admit_per_minute"] != 60.0 || q["paused"] == true {
		t.Errorf("the line was changed: %v", q)
	}
	if st := orderStatus(t, h, order, "owner"); st != "confirmed" {
		t.Errorf("the order is %s", st)
	}
	audit := h.do("GET", "/admin/audit?sale_id="+s.ID, h.admin(), nil).JSON(t)
	if entries, _ := audit["entries"].([]any); len(entries) != 1 {
		t.Errorf("the audit log holds %d entries, want the creation alone: %v", len(entries), audit)
	}
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
	h.wantStock(plain.ID, plain.Items[0], 9, 0, 1)
	wantOrders(t, h, plain.ID, 1)
	if provider.Charges() != charges || provider.Refunds() != refunds {
		t.Errorf("charges %d→%d, refunds %d→%d", charges, provider.Charges(), refunds, provider.Refunds())
	}
}

// API6: the flows a bot or a farm would abuse (buying many units,
// buying early, skipping the line or the challenge, paying twice) give
// nobody more than the sale's rules allow.
func owaspAPI6(t *testing.T, h *harness, provider *untrustedProvider, c *owaspCategory) {
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 50, limit: 1}, {stock: 10, limit: 2}}})
	first, second := s.Items[0], s.Items[1]
	alice := orderID(t, h.placeOrder(s.ID, first, "alice", 1, "Idempotency-Key", "alice-key"))
	paid := orderID(t, h.placeOrder(s.ID, first, "payer", 1))
	expect(t, h.pay(paid, "payer", "tok_visa"), 200, "")
	cancelled := orderID(t, h.placeOrder(s.ID, first, "canceller", 1))
	expect(t, h.do("POST", "/orders/"+cancelled+"/cancel", h.token("canceller", false), nil), 200, "")
	sameOrder := func(id string) func(t *testing.T, r *response) {
		return func(t *testing.T, r *response) {
			t.Helper()
			if got := orderID(t, r); got != id {
				t.Errorf("a second order %s, want %s again", got, id)
			}
		}
	}
	farm := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}}, limits: map[string]any{"per_phone": 1, "per_card": 1}})
	phone := func(user, number string) string {
		return h.accountToken(user, flashsale.Account{Phone: number, PhoneVerified: true})
	}
	expect(t, h.do("POST", "/flash-sales/"+farm.ID+"/orders", phone("farm-0", "+1 555 0100"), map[string]any{"item_id": farm.Items[0], "quantity": 1}), 201, "")
	farmCard := orderID(t, h.do("POST", "/flash-sales/"+farm.ID+"/orders", phone("farm-card-0", "+1 555 0200"), map[string]any{"item_id": farm.Items[0], "quantity": 1}))
	farmCard2 := orderID(t, h.do("POST", "/flash-sales/"+farm.ID+"/orders", phone("farm-card-1", "+1 555 0201"), map[string]any{"item_id": farm.Items[0], "quantity": 1}))
	expect(t, h.do("POST", "/orders/"+farmCard+"/pay", phone("farm-card-0", "+1 555 0200"),
		map[string]any{"payment_token": "tok_visa_farm", "payment_method": "credit_card"}), 200, "")
	address := h.createSale(saleSpec{limits: map[string]any{"per_address": 1}})
	at := func(line1 string) map[string]any {
		return map[string]any{"item_id": address.Items[0], "quantity": 1,
			"shipping_address": map[string]any{"line1": line1, "city": "Springfield", "postal_code": "62701", "country": "US"}}
	}
	expect(t, h.do("POST", "/flash-sales/"+address.ID+"/orders", h.token("addr-0", false), at("12 Main St.")), 201, "")
	early := h.createSale(saleSpec{start: h.clock.Now().Add(time.Hour), end: h.clock.Now().Add(2 * time.Hour)})
	paused := h.createSale(saleSpec{})
	expect(t, h.do("PATCH", "/admin/flash-sales/"+paused.ID, h.admin(), map[string]any{"paused": true}), 200, "")
	ended := h.createSale(saleSpec{})
	expect(t, h.do("PATCH", "/admin/flash-sales/"+ended.ID, h.admin(), map[string]any{"end_time": h.clock.Now().Format(time.RFC3339)}), 200, "")
	lottery := h.lotterySale(5)
	challenged := h.createSale(saleSpec{challenge: map[string]any{"policy": "always", "max_number": 1000}})
	room := h.createSale(saleSpec{waitingRoom: map[string]any{"admit_per_minute": 60}})
	// alice's admission, to be stolen: she joins a line whose sale has
	// started, and the next round admits her.
	h.queue("POST", room.ID, "alice", 201, "")
	h.clock.Advance(time.Second)
	h.tick()
	admission := h.queue("GET", room.ID, "alice", 200, "").AdmissionToken
	if admission == "" {
		t.Fatal("alice was not admitted")
	}
	charges, refunds := provider.Charges(), provider.Refunds()

	c.run(t,
		attack{"double click", func(*testing.T) *response { return h.placeOrder(s.ID, first, "alice", 1) }, 200, "", sameOrder(alice)},
		attack{"the same Idempotency-Key again", func(*testing.T) *response {
			return h.placeOrder(s.ID, first, "alice", 1, "Idempotency-Key", "alice-key")
		}, 200, "", sameOrder(alice)},
		attack{"the same Idempotency-Key for another item", func(*testing.T) *response {
			return h.placeOrder(s.ID, second, "alice", 1, "Idempotency-Key", "alice-key")
		}, 422, "idempotency_key_reused", nil},
		attack{"20 presses of one user at once", func(t *testing.T) *response {
			results := make([]*response, 20)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range results {
				wg.Go(func() {
					<-start
					results[i] = retried(func() *response { return h.placeOrder(s.ID, first, "clicker", 1) })
				})
			}
			close(start)
			wg.Wait()
			created, id := 0, ""
			for _, r := range results {
				switch r.Status {
				case 201:
					created++
					id = orderID(t, r)
				case 200:
				default:
					t.Fatalf("a press answered %d: %s", r.Status, r.Body)
				}
			}
			if created != 1 {
				t.Fatalf("%d presses made an order, want 1", created)
			}
			for _, r := range results {
				if got := orderID(t, r); got != id {
					t.Fatalf("presses answered orders %s and %s", id, got)
				}
			}
			return h.placeOrder(s.ID, first, "clicker", 1)
		}, 200, "", nil},
		attack{"more than the per-user limit at once", func(*testing.T) *response { return h.placeOrder(s.ID, second, "greedy", 3) }, 400, "quantity_exceeds_limit", nil},
		attack{"a second order past the per-user limit", func(*testing.T) *response { return h.placeOrder(s.ID, first, "payer", 1) }, 409, "already_purchased", nil},
		attack{"a farm account with the same phone", send(h, "POST", "/flash-sales/"+farm.ID+"/orders", phone("farm-1", "+1-555-0100"),
			map[string]any{"item_id": farm.Items[0], "quantity": 1}), 409, "purchase_limit_exceeded", wantReason("phone")},
		attack{"a farm account with the same card", send(h, "POST", "/orders/"+farmCard2+"/pay", phone("farm-card-1", "+1 555 0201"),
			map[string]any{"payment_token": "tok_visa_farm", "payment_method": "credit_card"}), 409, "purchase_limit_exceeded", wantReason("card")},
		attack{"a farm account with the same address", send(h, "POST", "/flash-sales/"+address.ID+"/orders", h.token("addr-1", false), at("12  main st")),
			409, "purchase_limit_exceeded", wantReason("address")},
		attack{"place-order before the start", func(*testing.T) *response { return h.placeOrder(early.ID, early.Items[0], "early-bird", 1) }, 400, "sale_not_active",
			func(t *testing.T, r *response) {
				if starts, _ := r.JSON(t)["error"].(map[string]any)["starts_at"].(string); starts == "" {
					t.Errorf("sale_not_active before the start without starts_at: %s", r.Body)
				}
			}},
		attack{"place-order while paused", func(*testing.T) *response { return h.placeOrder(paused.ID, paused.Items[0], "eager", 1) }, 400, "sale_not_active", wantReason("paused")},
		attack{"place-order after the end", func(*testing.T) *response { return h.placeOrder(ended.ID, ended.Items[0], "late", 1) }, 400, "sale_not_active", nil},
		attack{"place-order on a lottery", func(*testing.T) *response { return h.placeOrder(lottery.ID, lottery.Items[0], "skipper", 1) }, 400, "lottery_sale", nil},
		attack{"a second lottery entry", func(t *testing.T) *response {
			expect(t, h.enter(lottery, "entrant"), 201, "")
			return h.enter(lottery, "entrant")
		}, 200, "", nil},
		attack{"skip the challenge", func(*testing.T) *response { return h.placeOrder(challenged.ID, challenged.Items[0], "bot", 1) }, 403, "challenge_required", nil},
		attack{"replay a spent solution", func(t *testing.T) *response {
			solution := solve(t, challengeOf(t, h.placeOrder(challenged.ID, challenged.Items[0], "solver", 1)))
			expect(t, h.placeOrder(challenged.ID, challenged.Items[0], "solver", 1, "Flashsale-Challenge", solution), 201, "")
			expect(t, h.do("POST", "/orders/"+orderID(t, h.placeOrder(challenged.ID, challenged.Items[0], "solver", 1))+"/cancel", h.token("solver", false), nil), 200, "")
			return h.placeOrder(challenged.ID, challenged.Items[0], "solver", 1, "Flashsale-Challenge", solution)
		}, 403, "challenge_required", nil},
		attack{"another user's solution", func(t *testing.T) *response {
			solution := solve(t, challengeOf(t, h.placeOrder(challenged.ID, challenged.Items[0], "helper", 1)))
			return h.placeOrder(challenged.ID, challenged.Items[0], "bot", 1, "Flashsale-Challenge", solution)
		}, 403, "challenge_required", nil},
		attack{"skip the waiting room", func(*testing.T) *response { return h.placeOrder(room.ID, room.Items[0], "skipper", 1) }, 403, "admission_required", nil},
		attack{"another user's admission token", func(*testing.T) *response {
			return h.placeOrder(room.ID, room.Items[0], "skipper", 1, "Flashsale-Admission", admission)
		}, 403, "admission_required", nil},
		attack{"a forged admission token", func(*testing.T) *response {
			return h.placeOrder(room.ID, room.Items[0], "alice", 1, "Flashsale-Admission", admission[:len(admission)-2]+"AA")
		}, 403, "admission_required", nil},
		attack{"pay a cancelled order", func(*testing.T) *response { return h.pay(cancelled, "canceller", "tok_visa") }, 409, "order_not_payable", nil},
		attack{"pay a confirmed order again", func(*testing.T) *response { return h.pay(paid, "payer", "tok_visa") }, 200, "", nil},
		attack{"refund asked twice", func(t *testing.T) *response {
			expect(t, h.do("POST", "/admin/orders/"+paid+"/refund", h.admin(), nil), 200, "")
			return h.do("POST", "/admin/orders/"+paid+"/refund", h.admin(), nil)
		}, 200, "", nil},
	)
	// A reservation's deadline is its own: a payment after it charges
	// nothing.
	late := h.createSale(saleSpec{ttl: 60})
	lateOrder := orderID(t, h.placeOrder(late.ID, late.Items[0], "slow", 1))
	h.clock.Advance(61 * time.Second)
	c.run(t, attack{"pay after the deadline", func(*testing.T) *response { return h.pay(lateOrder, "slow", "tok_visa") }, 410, "reservation_expired", nil})

	// Units: alice, payer (refunded, still sold), clicker on the first
	// item; the canceller's came back.
	h.wantStock(s.ID, first, 47, 2, 1)
	h.wantStock(s.ID, second, 10, 0, 0)
	wantOrders(t, h, s.ID, 4)
	h.wantStock(farm.ID, farm.Items[0], 7, 2, 1)
	h.wantStock(address.ID, address.Items[0], 9, 1, 0)
	h.wantStock(early.ID, early.Items[0], 10, 0, 0)
	h.wantStock(paused.ID, paused.Items[0], 10, 0, 0)
	h.wantStock(ended.ID, ended.Items[0], 10, 0, 0)
	h.wantStock(challenged.ID, challenged.Items[0], 10, 0, 0)
	h.wantStock(room.ID, room.Items[0], 10, 0, 0)
	h.wantStock(late.ID, late.Items[0], 10, 0, 0)
	h.stats(lottery.ID, lottery.Items[0])
	if provider.Charges() != charges || provider.Refunds() != refunds+1 {
		t.Errorf("charges %d→%d (want no new one), refunds %d→%d (want one)", charges, provider.Charges(), refunds, provider.Refunds())
	}
}

// requestBodySchemas returns the request body schema of every operation
// of the served openapi.json that takes one, by "METHOD /path", and the
// document's component schemas.
func requestBodySchemas(t *testing.T, h *harness) (map[string]any, map[string]any) {
	t.Helper()
	r := h.do("GET", "/openapi.json", "", nil)
	expect(t, r, 200, "")
	doc := r.JSON(t)
	bodies := map[string]any{}
	for path, methods := range doc["paths"].(map[string]any) {
		for method, op := range methods.(map[string]any) {
			operation, ok := op.(map[string]any)
			if !ok {
				continue // a path's shared parameters
			}
			body, _ := operation["requestBody"].(map[string]any)
			content, _ := body["content"].(map[string]any)
			for _, media := range content {
				bodies[strings.ToUpper(method)+" "+path] = media.(map[string]any)["schema"]
			}
		}
	}
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	return bodies, schemas
}

// urlProperties lists the properties of schema, and of every schema it
// refers to or holds, that could carry a URL: a format of URI or host, or
// a name that says so.
func urlProperties(schema any, schemas map[string]any, seen map[string]bool) []string {
	var found []string
	switch v := schema.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			if !seen[name] {
				seen[name] = true
				found = append(found, urlProperties(schemas[name], schemas, seen)...)
			}
		}
		if props, ok := v["properties"].(map[string]any); ok {
			for name, prop := range props {
				lower := strings.ToLower(name)
				format, _ := prop.(map[string]any)["format"].(string)
				if slices.Contains([]string{"uri", "uri-reference", "iri", "iri-reference", "url", "hostname", "ipv4", "ipv6"}, format) ||
					strings.Contains(lower, "url") || strings.Contains(lower, "uri") || strings.Contains(lower, "host") ||
					strings.Contains(lower, "callback") || strings.Contains(lower, "webhook") || strings.Contains(lower, "redirect") {
					found = append(found, name)
				}
			}
		}
		for key, sub := range v {
			if key != "properties" && key != "$ref" && key != "examples" && key != "example" {
				found = append(found, urlProperties(sub, schemas, seen)...)
			}
		}
		if props, ok := v["properties"].(map[string]any); ok {
			for _, prop := range props {
				found = append(found, urlProperties(prop, schemas, seen)...)
			}
		}
	case []any:
		for _, sub := range v {
			found = append(found, urlProperties(sub, schemas, seen)...)
		}
	}
	return found
}

// API7: the API takes no URL from its clients (webhook URLs are the
// operator's configuration, FLASHSALE_WEBHOOK_URLS, read at start), so
// nothing a client sends can make the server fetch an address of the
// client's choosing. The suite holds that: no request schema of the
// served openapi.json has a URL-valued property, a URL-valued field sent
// anyway is refused as an unknown one, and the URLs the API answers with
// are paths, never built from a Host a client forged.
func owaspAPI7(t *testing.T, h *harness, c *owaspCategory) {
	bodies, schemas := requestBodySchemas(t, h)
	// The walk finds a URL where the document has one: in an answer.
	if found := urlProperties(schemas["LotteryDraw"], schemas, map[string]bool{}); !slices.Contains(found, "entries_url") {
		t.Fatalf("the schema walk misses LotteryDraw's entries_url (found %v)", found)
	}
	operations := slices.Sorted(func(yield func(string) bool) {
		for op := range bodies {
			if !yield(op) {
				return
			}
		}
	})
	var attacks []attack
	for _, op := range operations {
		attacks = append(attacks, attack{"openapi.json: " + op + " takes no URL", func(t *testing.T) *response {
			if found := urlProperties(bodies[op], schemas, map[string]bool{}); len(found) > 0 {
				t.Errorf("%s's request body has URL-valued properties %v: a server-side fetch to guard", op, found)
			}
			return &response{Status: 200}
		}, 200, "", nil})
	}
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}}})
	item := s.Items[0]
	order := orderID(t, h.placeOrder(s.ID, item, "owner", 1))
	mallory, admin := h.token("mallory", false), h.admin()
	withURL := validSale(h.clock.Now())
	withURL["webhook_url"] = "http://127.0.0.1:6379/"
	itemURL := validSale(h.clock.Now())
	itemURL["items"].([]map[string]any)[0]["image_url"] = "http://169.254.169.254/latest/meta-data/iam/"
	relative := func(t *testing.T, r *response) {
		t.Helper()
		for _, url := range []string{r.JSON(t)["payment_url"].(string), r.Header.Get("Location")} {
			if !strings.HasPrefix(url, "/") || strings.HasPrefix(url, "//") {
				t.Errorf("an answer's URL %q is not a path of this server", url)
			}
		}
	}
	attacks = append(attacks,
		attack{"place-order with a callback_url to the metadata service", send(h, "POST", "/flash-sales/"+s.ID+"/orders", mallory,
			map[string]any{"item_id": item, "quantity": 1, "callback_url": "http://169.254.169.254/latest/meta-data/"}), 400, "invalid_request", wantField("callback_url")},
		attack{"pay with a return_url to a file", send(h, "POST", "/orders/"+order+"/pay", h.token("owner", false),
			map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card", "return_url": "file:///etc/passwd"}), 400, "invalid_request", wantField("return_url")},
		attack{"create a sale with a webhook_url to Redis", send(h, "POST", "/admin/flash-sales", admin, withURL), 400, "invalid_request", wantField("webhook_url")},
		attack{"create a sale with an item image_url", send(h, "POST", "/admin/flash-sales", admin, itemURL), 400, "invalid_request", wantField("items[0].image_url")},
		attack{"change a sale with a notify_url", send(h, "PATCH", "/admin/flash-sales/"+s.ID, admin,
			map[string]any{"paused": false, "notify_url": "gopher://127.0.0.1:25/"}), 400, "invalid_request", wantField("notify_url")},
		attack{"refund with a callback", send(h, "POST", "/admin/orders/"+order+"/refund", admin,
			map[string]any{"callback": "http://[::1]:5432/"}), 400, "invalid_request", wantField("callback")},
		attack{"a forged X-Forwarded-Host and Proto", send(h, "POST", "/flash-sales/"+s.ID+"/orders", mallory,
			map[string]any{"item_id": item, "quantity": 1}, "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "gopher"), 201, "", relative},
	)
	c.run(t, attacks...)
	// The refund with a callback was refused before anything: the order
	// is still reserved; mallory's one order is the last attack's.
	if st := orderStatus(t, h, order, "owner"); st != "reserved" {
		t.Errorf("the order is %s", st)
	}
	h.wantStock(s.ID, item, 8, 2, 0)
	wantOrders(t, h, s.ID, 2)
}

// pageServer is the API with the pages of package web and a demo's token
// route, over h's service: what 'serve --demo' serves, where the harness
// serves the API alone.
func pageServer(t *testing.T, h *harness) (*httptest.Server, *web.Pages) {
	t.Helper()
	pages, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	demo := http.DemoPages{Handler: pages, Mint: func(user string) (string, error) { return h.auth.Mint(user, false, time.Hour) }}
	srv := httptest.NewServer(http.NewServer(http.Deps{
		Checkout: h.service,
		Audit:    h.store,
		Verify: func(string) (http.Identity, error) {
			return http.Identity{}, errors.New("this server checks no tokens")
		},
		Limits: &http.Limits{Limiter: h.deployment.Limiter},
		Pages:  demo,
		// Stripe's webhooks: no delivery here verifies, so Stripe is
		// never called.
		PaymentEvents: webhooksOnly(t),
	}))
	t.Cleanup(srv.Close)
	return srv, pages
}

// webhooksOnly is a Stripe provider for its webhook endpoint alone.
func webhooksOnly(t *testing.T) *stripe.Provider {
	t.Helper()
	p, err := stripe.New(stripe.Options{SecretKey: "sk_test_unused", WebhookSecret: webhookSecret, APIURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// get sends a request to srv with the headers given (name, value pairs).
func get(t *testing.T, srv *httptest.Server, method, path string, headers ...string) *response {
	t.Helper()
	req, err := nethttp.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// API8: what the server says by itself: no stack trace, Go type or
// dependency's words in an error, even a 500; the pages' security headers;
// no CORS grant; methods a route does not have (TRACE, OPTIONS included)
// 405 with Allow and nothing echoed; no redirect to a path the client did
// not name.
func owaspAPI8(t *testing.T, h *harness, provider *untrustedProvider, c *owaspCategory) {
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}}})
	item := s.Items[0]
	order := orderID(t, h.placeOrder(s.ID, item, "owner", 1))
	owner := h.token("owner", false)
	mallory := h.token("mallory", false)
	noInternals := notMentioning("goroutine", "panic", ".go:", "runtime.", "paysim", "10.0.0.7", "json: cannot", "http.", "flashsale.", "struct", "int64")
	jsonError := func(t *testing.T, r *response) {
		t.Helper()
		noInternals(t, r)
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("an error as %q, not JSON", ct)
		}
	}
	noCORS := func(t *testing.T, r *response) {
		t.Helper()
		for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods"} {
			if v := r.Header.Get(name); v != "" {
				t.Errorf("%s: %s granted to another origin", name, v)
			}
		}
	}
	allow := func(want string) func(t *testing.T, r *response) {
		return func(t *testing.T, r *response) {
			t.Helper()
			jsonError(t, r)
			if got := r.Header.Get("Allow"); got != want {
				t.Errorf("Allow %q, want %q", got, want)
			}
			notMentioning(mallory)(t, r)
		}
	}
	c.run(t,
		attack{"a provider that panics mid-charge: a 500", func(t *testing.T) *response {
			provider.set(func(p *untrustedProvider) { p.panics = true })
			defer provider.set(func(p *untrustedProvider) { p.panics = false })
			return h.pay(order, "owner", "tok_visa")
		}, 500, "internal", func(t *testing.T, r *response) {
			jsonError(t, r)
			if msg := r.JSON(t)["error"].(map[string]any)["message"]; msg != "internal error" {
				t.Errorf("a 500 says %q", msg)
			}
		}},
		attack{"a wrong JSON type", send(h, "POST", "/flash-sales/"+s.ID+"/orders", mallory, `{"item_id":{"$gt":""},"quantity":1}`), 400, "invalid_request", jsonError},
		attack{"a JSON number where a string goes", send(h, "POST", "/orders/"+order+"/pay", owner, `{"payment_token":5,"payment_method":"credit_card"}`), 400, "invalid_request", jsonError},
		attack{"malformed JSON", send(h, "POST", "/flash-sales/"+s.ID+"/orders", mallory, `{"item_id":`), 400, "invalid_request", jsonError},
		attack{"a body that is not JSON", send(h, "POST", "/flash-sales/"+s.ID+"/orders", mallory, `item_id=x&quantity=1`, "Content-Type", "application/x-www-form-urlencoded"), 400, "invalid_request", jsonError},
		attack{"markup in the path is not echoed as markup", send(h, "GET", "/<script>alert(1)</script>", "", nil), 404, "not_found",
			both(jsonError, notMentioning("<script>"))},
		attack{"CORS: a simple request from another origin", send(h, "GET", "/flash-sales", "", nil, "Origin", "https://evil.example"), 200, "", noCORS},
		attack{"CORS: a credentialed request from another origin", send(h, "GET", "/orders/"+order, owner, nil, "Origin", "https://evil.example"), 200, "", noCORS},
		attack{"CORS: a preflight from another origin", send(h, "OPTIONS", "/flash-sales/"+s.ID+"/orders", "", nil, "Origin", "https://evil.example",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization"), 405, "method_not_allowed", both(noCORS, allow("POST"))},
		attack{"TRACE echoes nothing", send(h, "TRACE", "/flash-sales", mallory, nil), 405, "method_not_allowed", allow("GET, HEAD")},
		attack{"TRACE on an order", send(h, "TRACE", "/orders/"+order, mallory, nil), 405, "method_not_allowed", allow("GET, HEAD")},
		attack{"DELETE an order", send(h, "DELETE", "/orders/"+order, owner, nil), 405, "method_not_allowed", allow("GET, HEAD")},
		attack{"PUT the sale list", send(h, "PUT", "/flash-sales", mallory, map[string]any{}), 405, "method_not_allowed", allow("GET, HEAD")},
		attack{"GET a POST-only route", send(h, "GET", "/flash-sales/"+s.ID+"/orders", mallory, nil), 405, "method_not_allowed", allow("POST")},
		attack{"PUT an admin route", send(h, "PUT", "/admin/flash-sales", h.admin(), map[string]any{}), 405, "method_not_allowed", allow("POST")},
		attack{"an unclean path is not redirected", send(h, "GET", "/flash-sales/./"+s.ID, "", nil), 404, "not_found", func(t *testing.T, r *response) {
			if loc := r.Header.Get("Location"); loc != "" {
				t.Errorf("redirected to %s", loc)
			}
		}},
		attack{"a double slash is not redirected", send(h, "GET", "//flash-sales", "", nil), 404, "not_found", nil},
	)
	// The panic left the order paying: the provider never charged, which
	// the sweep settles as not charged, and the reservation is back.
	h.clock.Advance(2 * time.Second)
	if err := h.service.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := orderStatus(t, h, order, "owner"); st != "reserved" {
		t.Errorf("after the panic and the sweep the order is %s, want reserved", st)
	}
	h.wantStock(s.ID, item, 9, 1, 0)
	wantOrders(t, h, s.ID, 1)

	// The pages, served as 'serve --demo' serves them.
	srv, pages := pageServer(t, h)
	pageHeaders := func(t *testing.T, r *response) {
		t.Helper()
		for name, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		} {
			if got := r.Header.Get(name); !strings.Contains(got, want) {
				t.Errorf("%s %q, want %q", name, got, want)
			}
		}
		noCORS(t, r)
	}
	var attacks []attack
	for _, path := range []string{"/", "/sales/" + s.ID, "/console/", "/docs"} {
		attacks = append(attacks, attack{"page " + path + " security headers", func(t *testing.T) *response {
			return get(t, srv, "GET", path, "Origin", "https://evil.example")
		}, 200, "", pageHeaders})
	}
	attacks = append(attacks,
		attack{"an asset is not sniffed", func(t *testing.T) *response { return get(t, srv, "GET", pages.Assets["app.js"]) }, 200, "",
			func(t *testing.T, r *response) {
				if r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
					t.Errorf("asset headers %v", r.Header)
				}
			}},
		attack{"a page in a frame", func(t *testing.T) *response { return get(t, srv, "GET", "/console/", "Sec-Fetch-Dest", "iframe") }, 200, "", pageHeaders},
	)
	c.run(t, attacks...)
}

// API9: what is served is what is documented: unknown paths (old
// versions, debug and profiling endpoints, other frameworks' documents)
// are 404 in the API's JSON, and every operation openapi.json lists is
// served. The other direction, no route served that the document lacks,
// is TestOpenAPIDocumentsEveryRoute's, over routes.go itself.
func owaspAPI9(t *testing.T, h *harness, c *owaspCategory) {
	s := h.createSale(saleSpec{})
	var attacks []attack
	for _, path := range []string{
		"/v1/flash-sales", "/api/flash-sales", "/api/v2/orders", "/admin", "/admin/", "/admin/users",
		"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=2", "/debug/pprof/cmdline", "/debug/vars", "/debug/requests",
		"/.env", "/.git/config", "/swagger.json", "/swagger-ui/", "/openapi.yaml", "/v3/api-docs", "/actuator/health",
		"/server-status", "/graphql", "/console/", "/sales/" + s.ID, "/flash-sales/" + s.ID + "/orders/all",
	} {
		attacks = append(attacks, attack{"GET " + path, send(h, "GET", path, h.admin(), nil), 404, "not_found", nil})
	}
	attacks = append(attacks,
		attack{"POST /demo/token outside a demo", send(h, "POST", "/demo/token", "", map[string]any{"user": "admin"}), 404, "not_found", nil},
		attack{"/metrics reveals no secret", send(h, "GET", "/metrics", "", nil), 200, "", notMentioning(harnessSecret, "password", "postgres://")},
	)

	// Every documented operation is served: on the demo's server (pages
	// and demo route included), without a token and with ids that do not
	// exist, each answers as the operation does, never as an unknown route.
	srv, pages := pageServer(t, h)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(h.do("GET", "/openapi.json", "", nil).Body, &doc); err != nil {
		t.Fatal(err)
	}
	ids := strings.NewReplacer("{sale_id}", "no-such-sale", "{order_id}", "no-such-order", "{request_id}", "no-such-request",
		"{item_id}", "no-such-item", "{file}", strings.TrimPrefix(pages.Assets["app.js"], "/assets/"))
	var documented []string
	for path, methods := range doc.Paths {
		for method := range methods {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(documented)
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		attacks = append(attacks, attack{"documented and served: " + op, func(t *testing.T) *response {
			r := get(t, srv, method, ids.Replace(path), "Content-Type", "application/json")
			if r.Status == 405 || (r.Status == 404 && strings.Contains(string(r.Body), `"not_found"`)) {
				t.Errorf("%s is documented but answered as no route: %d %s", op, r.Status, r.Body)
			}
			return &response{Status: 200}
		}, 200, "", nil})
	}
	c.run(t, attacks...)
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
	wantOrders(t, h, s.ID, 0)
}

// API10: the payment provider's answers are untrusted: a decline or a
// timeout is never taken for a success, an answer lost after a charge is
// settled with the provider and charges once, a provider that does not
// answer is a 503 with Retry-After that releases nothing, and its error
// text never reaches the client.
func owaspAPI10(t *testing.T, h *harness, provider *untrustedProvider, c *owaspCategory) {
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 20, limit: 1}}})
	item := s.Items[0]
	reserve := func(user string) string { return orderID(t, h.placeOrder(s.ID, item, user, 1)) }
	declined, poor, timedOut, forged := reserve("declined"), reserve("poor"), reserve("timed-out"), reserve("forged")
	lost, stuck := reserve("lost"), reserve("stuck")
	limited := h.createSale(saleSpec{limits: map[string]any{"per_card": 1}})
	noFingerprint := orderID(t, h.placeOrder(limited.ID, limited.Items[0], "unfingerprinted", 1))
	refunded := reserve("refunded")
	expect(t, h.pay(refunded, "refunded", "tok_visa"), 200, "")
	charges, refunds := provider.Charges(), provider.Refunds()
	stillReserved := func(id, user string) func(t *testing.T, r *response) {
		return func(t *testing.T, r *response) {
			t.Helper()
			notMentioning(providerSecret)(t, r)
			if st := orderStatus(t, h, id, user); st != "reserved" {
				t.Errorf("the order is %s after the provider's answer, want reserved", st)
			}
		}
	}
	unavailable := func(t *testing.T, r *response) {
		t.Helper()
		wantRetryAfter(t, r)
		notMentioning(providerSecret, "paysim")(t, r)
	}
	var lostPayment string
	c.run(t,
		attack{"a declined card", func(*testing.T) *response { return h.pay(declined, "declined", "tok_chargeDeclined") }, 402, "payment_failed",
			both(wantReason("card_declined"), stillReserved(declined, "declined"))},
		attack{"insufficient funds", func(*testing.T) *response { return h.pay(poor, "poor", "tok_insufficientFunds") }, 402, "payment_failed",
			both(wantReason("insufficient_funds"), stillReserved(poor, "poor"))},
		attack{"a token the provider does not know", func(*testing.T) *response { return h.pay(forged, "forged", "tok_forged_success") }, 402, "payment_failed",
			both(wantReason("invalid_payment_token"), stillReserved(forged, "forged"))},
		attack{"a provider that never answers (tok_timeout)", func(*testing.T) *response { return h.pay(timedOut, "timed-out", "tok_timeout") }, 402, "payment_failed",
			both(wantReason("payment_timeout"), stillReserved(timedOut, "timed-out"))},
		attack{"an answer lost after the charge", func(*testing.T) *response {
			provider.set(func(p *untrustedProvider) { p.loseAnswers = true })
			defer provider.set(func(p *untrustedProvider) { p.loseAnswers = false })
			return h.pay(lost, "lost", "tok_visa")
		}, 200, "", func(t *testing.T, r *response) {
			lostPayment, _ = r.JSON(t)["payment_id"].(string)
			if r.JSON(t)["status"] != "confirmed" || lostPayment == "" {
				t.Errorf("a charge settled by look-up: %s", r.Body)
			}
		}},
		attack{"the same payment again", func(*testing.T) *response { return h.pay(lost, "lost", "tok_visa") }, 200, "",
			func(t *testing.T, r *response) {
				if got := r.JSON(t)["payment_id"]; got != lostPayment {
					t.Errorf("payment %v, want %s again", got, lostPayment)
				}
			}},
		attack{"an answer lost and no look-up", func(*testing.T) *response {
			provider.set(func(p *untrustedProvider) { p.loseAnswers, p.lookupsDown = true, true })
			return h.pay(stuck, "stuck", "tok_visa")
		}, 503, "unavailable", unavailable},
		attack{"pay again while the charge is unsettled", func(*testing.T) *response { return h.pay(stuck, "stuck", "tok_visa") }, 409, "payment_in_progress",
			func(t *testing.T, r *response) {
				wantRetryAfter(t, r)
				// Nothing was released while the provider is silent.
				h.wantStock(s.ID, item, 13, 5, 2)
			}},
		attack{"the unsettled charge, settled once the provider answers", func(t *testing.T) *response {
			provider.set(func(p *untrustedProvider) { p.loseAnswers, p.lookupsDown = false, false })
			h.clock.Advance(2 * time.Second) // past twice the payment timeout
			if err := h.service.Sweep(t.Context()); err != nil {
				t.Fatal(err)
			}
			return h.pay(stuck, "stuck", "tok_visa")
		}, 200, "", func(t *testing.T, r *response) {
			if st := orderStatus(t, h, stuck, "stuck"); st != "confirmed" {
				t.Errorf("the charged order is %s", st)
			}
		}},
		attack{"no card fingerprint from the provider", func(*testing.T) *response {
			provider.set(func(p *untrustedProvider) { p.fingerprintsDown = true })
			defer provider.set(func(p *untrustedProvider) { p.fingerprintsDown = false })
			return h.pay(noFingerprint, "unfingerprinted", "tok_visa")
		}, 503, "unavailable", both(unavailable, func(t *testing.T, r *response) {
			order := h.do("GET", "/orders/"+noFingerprint, h.token("unfingerprinted", false), nil).JSON(t)
			if order["status"] != "reserved" || order["payment_attempts"] != 0.0 {
				t.Errorf("after a fingerprint that did not come: %v", order)
			}
		})},
		attack{"a refund the provider does not confirm", func(*testing.T) *response {
			provider.set(func(p *untrustedProvider) { p.refundsDown = true })
			defer provider.set(func(p *untrustedProvider) { p.refundsDown = false })
			return h.do("POST", "/admin/orders/"+refunded+"/refund", h.admin(), nil)
		}, 503, "unavailable", both(unavailable, func(t *testing.T, r *response) {
			if st := orderStatus(t, h, refunded, "refunded"); st != "confirmed" {
				t.Errorf("an unconfirmed refund left the order %s", st)
			}
		})},
		attack{"the refund asked again", func(*testing.T) *response { return h.do("POST", "/admin/orders/"+refunded+"/refund", h.admin(), nil) }, 200, "",
			func(t *testing.T, r *response) {
				if r.JSON(t)["status"] != "refunded" {
					t.Errorf("refund answer %s", r.Body)
				}
			}},
	)
	// Two charges made (lost, stuck), each once; one refund.
	if got := provider.Charges() - charges; got != 2 {
		t.Errorf("%d charges made, want 2", got)
	}
	if got := provider.Refunds() - refunds; got != 1 {
		t.Errorf("%d refunds made, want 1", got)
	}
	h.wantStock(s.ID, item, 13, 4, 3)
	wantOrders(t, h, s.ID, 7)
	h.wantStock(limited.ID, limited.Items[0], 9, 1, 0)
}
