package http_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/auth"
)

// Fifty accounts of one farm, one card among them, pay at once under
// per_card 1: one is confirmed, the others are told the card's limit and
// keep their reservation, which another card pays.
func TestOneCardAcrossAccounts(t *testing.T) {
	const accounts = 50
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: accounts + 10, limit: 1}}, limits: map[string]any{"per_card": 1}})
	if l, _ := h.do("GET", "/flash-sales/"+s.ID, "", nil).JSON(t)["limits"].(map[string]any); l["per_card"] != 1.0 {
		t.Fatalf("the sale view shows the limits as %v", l)
	}
	orders := make([]string, accounts)
	for i := range orders {
		orders[i] = h.reserve(s, fmt.Sprintf("farm-%d", i))
	}

	paid := make([]*response, accounts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() {
			<-start
			paid[i] = retried(func() *response { return h.pay(orders[i], fmt.Sprintf("farm-%d", i), "tok_visa_farm") })
		})
	}
	close(start)
	wg.Wait()

	confirmed, refused := 0, -1
	for i, r := range paid {
		switch r.Status {
		case 200:
			confirmed++
		case 409:
			expect(t, r, 409, "purchase_limit_exceeded")
			if reason, _ := r.JSON(t)["error"].(map[string]any)["reason"].(string); reason != "card" {
				t.Fatalf("refused for %q, want card: %s", reason, r.Body)
			}
			refused = i
		default:
			t.Fatalf("payment %d: %d %s", i, r.Status, r.Body)
		}
	}
	if confirmed != 1 || refused < 0 {
		t.Fatalf("%d of %d accounts paid with one card, limit 1", confirmed, accounts)
	}
	h.wantStock(s.ID, s.Items[0], 10, accounts-1, 1)

	// The refused reservation is still there, and no attempt was spent on
	// it: another card pays it.
	order := h.do("GET", "/orders/"+orders[refused], h.token(fmt.Sprintf("farm-%d", refused), false), nil).JSON(t)
	if order["status"] != "reserved" || order["payment_attempts"] != 0.0 {
		t.Fatalf("a reservation refused for its card: %v", order)
	}
	expect(t, h.pay(orders[refused], fmt.Sprintf("farm-%d", refused), "tok_visa_own"), 200, "")
	h.wantStock(s.ID, s.Items[0], 10, accounts-2, 2)
}

// A sale without a per_card limit lets one card pay for every account.
func TestNoCardLimitWithoutLimits(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 3, limit: 1}}, limits: map[string]any{"per_phone": 0}})
	for i := range 3 {
		user := fmt.Sprintf("user-%d", i)
		id := h.reserve(s, user)
		expect(t, h.pay(id, user, "tok_visa"), 200, "")
	}
	h.wantStock(s.ID, s.Items[0], 0, 0, 3)
}

// Limits that no sale could apply are refused with the field named.
func TestInvalidLimits(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for field, limits := range map[string]map[string]any{
		"limits.per_card":             {"per_card": -1},
		"limits.per_phone":            {"per_phone": -1},
		"limits.per_address":          {"per_address": -2},
		"limits.min_account_age_days": {"min_account_age_days": 4000},
	} {
		body := map[string]any{
			"name": "Bad limits", "start_time": h.clock.Now().Format(time.RFC3339),
			"end_time": h.clock.Now().Add(time.Hour).Format(time.RFC3339), "limits": limits,
			"items": []map[string]any{{"product_id": "p", "name": "Phone", "original_price": "9.00",
				"sale_price": "5.00", "currency": "USD", "total_quantity": 1}},
		}
		r := h.do("POST", "/admin/flash-sales", h.admin(), body)
		expect(t, r, 400, "invalid_request")
		if got, _ := r.JSON(t)["error"].(map[string]any)["field"].(string); got != field {
			t.Errorf("%v: field %q, want %q", limits, got, field)
		}
	}
}

// reserve places user's order of one unit of the sale's first item and
// returns its id.
func (h *harness) reserve(s sale, user string) string {
	h.t.Helper()
	r := h.placeOrder(s.ID, s.Items[0], user, 1)
	expect(h.t, r, 201, "")
	id, _ := r.JSON(h.t)["order_id"].(string)
	return id
}

// accountToken is a shopper's token that says what it says of the account.
func (h *harness) accountToken(user string, account flashsale.Account) string {
	h.t.Helper()
	tok, err := h.auth.MintClaims(auth.Claims{UserID: user, Account: account}, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// A sale for verified phones and month-old accounts refuses the others
// with the reason, before the line and before the stock, and sells to
// the eligible.
func TestAccountEligibility(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	limits := map[string]any{"require_verified_phone": true, "min_account_age_days": 30}
	s := h.createSale(saleSpec{limits: limits})
	month := 30 * 24 * time.Hour
	old := h.clock.Now().Add(-month)
	for reason, account := range map[string]flashsale.Account{
		"verified_phone": {Phone: "+15550100", CreatedAt: old},
		"account_age":    {Phone: "+15550101", PhoneVerified: true, CreatedAt: old.Add(time.Hour)},
	} {
		r := h.do("POST", "/flash-sales/"+s.ID+"/orders", h.accountToken("u-"+reason, account),
			map[string]any{"item_id": s.Items[0], "quantity": 1})
		expect(t, r, 403, "account_not_eligible")
		if got, _ := r.JSON(t)["error"].(map[string]any)["reason"].(string); got != reason {
			t.Errorf("refused for %q, want %q: %s", got, reason, r.Body)
		}
	}
	eligible := h.accountToken("eligible", flashsale.Account{Phone: "+15550102", PhoneVerified: true, CreatedAt: old})
	expect(t, h.do("POST", "/flash-sales/"+s.ID+"/orders", eligible, map[string]any{"item_id": s.Items[0], "quantity": 1}), 201, "")
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)

	// A place in a waiting room's line is for an account that may buy.
	queued := h.createSale(saleSpec{limits: limits, waitingRoom: map[string]any{"admit_per_minute": 60}})
	expect(t, h.do("POST", "/flash-sales/"+queued.ID+"/queue", h.token("no-claims", false), nil), 403, "account_not_eligible")
	expect(t, h.do("POST", "/flash-sales/"+queued.ID+"/queue", eligible, nil), 201, "")
}

// Fifty accounts of one farm, one phone or one address among them
// (spelled as people spell them), order at once under a limit of one: one
// reservation; the others are refused for the phone or the address and
// take no unit. A cancelled order frees the phone or the address.
func TestOneIdentityAcrossAccounts(t *testing.T) {
	const accounts = 50
	phones := []string{"+1 555 0100", "+1-555-0100", "+1 (555) 0100", "+15550100"}
	addresses := []map[string]any{
		{"line1": "12 Main St.", "city": "Springfield", "postal_code": "62701", "country": "US"},
		{"line1": "12  main st", "city": "SPRINGFIELD", "postal_code": "62701", "country": "us"},
		{"line1": "12, Main St", "city": "Springfield.", "postal_code": "62701", "country": "U.S."},
	}
	for _, reason := range []string{"phone", "address"} {
		t.Run(reason, func(t *testing.T) {
			h := newHarness(t, harnessOptions{})
			s := h.createSale(saleSpec{items: []itemSpec{{stock: accounts, limit: 1}}, limits: map[string]any{"per_" + reason: 1}})
			// press is account i's order: its token and body.
			press := func(user string, i int) (string, map[string]any) {
				body := map[string]any{"item_id": s.Items[0], "quantity": 1}
				if reason == "address" {
					body["shipping_address"] = addresses[i%len(addresses)]
					return h.token(user, false), body
				}
				return h.accountToken(user, flashsale.Account{Phone: phones[i%len(phones)], PhoneVerified: true}), body
			}
			results := make([]*response, accounts)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range results {
				token, body := press(fmt.Sprintf("farm-%d", i), i)
				wg.Go(func() {
					<-start
					results[i] = retried(func() *response { return h.do("POST", "/flash-sales/"+s.ID+"/orders", token, body) })
				})
			}
			close(start)
			wg.Wait()
			winner := onePassed(t, results, reason)
			h.wantStock(s.ID, s.Items[0], accounts-1, 1, 0)

			cancel := h.do("POST", "/orders/"+orderID(t, results[winner])+"/cancel", h.token(fmt.Sprintf("farm-%d", winner), false), nil)
			expect(t, cancel, 200, "")
			token, body := press("next", 0)
			expect(t, h.do("POST", "/flash-sales/"+s.ID+"/orders", token, body), 201, "")
			h.wantStock(s.ID, s.Items[0], accounts-1, 1, 0)
		})
	}
}

// A sale that counts phones sells to verified phones only.
func TestPhoneLimitNeedsAVerifiedPhone(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{limits: map[string]any{"per_phone": 1}})
	expect(t, h.placeOrder(s.ID, s.Items[0], "no-phone", 1), 403, "account_not_eligible")
	unverified := h.accountToken("unverified", flashsale.Account{Phone: "+15550100"})
	expect(t, h.do("POST", "/flash-sales/"+s.ID+"/orders", unverified, map[string]any{"item_id": s.Items[0], "quantity": 1}), 403, "account_not_eligible")
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
}

// An address counts as people write it: case, spacing and punctuation
// aside. A sale that counts addresses needs one, and a malformed one is
// refused with its field.
func TestOneAddressAcrossAccounts(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{limits: map[string]any{"per_address": 1}})
	order := func(user string, address any) *response {
		body := map[string]any{"item_id": s.Items[0], "quantity": 1}
		if address != nil {
			body["shipping_address"] = address
		}
		return h.do("POST", "/flash-sales/"+s.ID+"/orders", h.token(user, false), body)
	}
	expect(t, order("alice", map[string]any{"line1": "12 Main St.", "city": "Springfield", "postal_code": "62701", "country": "US"}), 201, "")
	r := order("bob", map[string]any{"line1": "12  main st", "city": "SPRINGFIELD", "postal_code": "62701", "country": "us"})
	expect(t, r, 409, "purchase_limit_exceeded")
	if reason, _ := r.JSON(t)["error"].(map[string]any)["reason"].(string); reason != "address" {
		t.Fatalf("refused for %q, want address: %s", reason, r.Body)
	}
	expect(t, order("carol", map[string]any{"line1": "14 Main St.", "city": "Springfield", "postal_code": "62701", "country": "US"}), 201, "")
	for field, address := range map[string]any{
		"shipping_address":             nil,
		"shipping_address.line1":       map[string]any{"postal_code": "62701", "country": "US"},
		"shipping_address.country":     map[string]any{"line1": "1 Elm St", "postal_code": "62701", "country": " . "},
		"shipping_address.postal_code": map[string]any{"line1": "1 Elm St", "postal_code": strings.Repeat("9", 201), "country": "US"},
	} {
		r := order("dave", address)
		expect(t, r, 400, "invalid_request")
		if got, _ := r.JSON(t)["error"].(map[string]any)["field"].(string); got != field {
			t.Errorf("%v: field %q, want %q", address, got, field)
		}
	}
	h.wantStock(s.ID, s.Items[0], 8, 2, 0)
}

// A queued request carries the phone it was placed with to the order
// worker, whose order the store counts: of two accounts with one phone,
// one reserves and the other's outcome is the phone's limit.
func TestQueuedOrdersCountThePhone(t *testing.T) {
	h := newHarness(t, harnessOptions{queue: true})
	s := h.createSale(saleSpec{admission: "queued", limits: map[string]any{"per_phone": 1}})
	outcomes := map[int]int{}
	for i := range 2 {
		token := h.accountToken(fmt.Sprintf("farm-%d", i), flashsale.Account{Phone: "+15550100", PhoneVerified: true})
		r := h.do("POST", "/flash-sales/"+s.ID+"/orders", token, map[string]any{"item_id": s.Items[0], "quantity": 1})
		expect(t, r, 202, "")
		settled := h.pollRequest(r.JSON(t)["status_url"].(string), token)
		if settled.Status == 409 {
			expect(t, settled, 409, "purchase_limit_exceeded")
		}
		outcomes[settled.Status]++
	}
	if outcomes[201] != 1 || outcomes[409] != 1 {
		t.Fatalf("outcomes %v, want one 201 and one 409", outcomes)
	}
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)
}

// onePassed checks the answers to a farm's accounts that share one phone,
// address or card (reason), sent at once under a limit of one: exactly one
// passed (201) and every other was refused 409 purchase_limit_exceeded
// for that reason. It returns the index of the one.
func onePassed(t *testing.T, answers []*response, reason string) int {
	t.Helper()
	passed := -1
	for i, r := range answers {
		switch r.Status {
		case 201:
			if passed >= 0 {
				t.Fatalf("two accounts of one %s passed: %d and %d", reason, passed, i)
			}
			passed = i
		case 409:
			expect(t, r, 409, "purchase_limit_exceeded")
			if got, _ := r.JSON(t)["error"].(map[string]any)["reason"].(string); got != reason {
				t.Fatalf("refused for %q, want %s: %s", got, reason, r.Body)
			}
		default:
			t.Fatalf("account %d: %d %s", i, r.Status, r.Body)
		}
	}
	if passed < 0 {
		t.Fatalf("no account of the %s passed", reason)
	}
	return passed
}
