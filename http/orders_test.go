package http_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPlaceOrderReservesAndDoubleClickReturnsTheSameOrder(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 5, limit: 1, price: "499.00"}}})

	first := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, first, 201, "")
	body := first.JSON(t)
	for field, want := range map[string]any{
		"sale_id": s.ID, "item_id": s.Items[0], "quantity": 1.0, "status": "reserved",
		"total_amount": "499.00", "currency": "USD",
	} {
		if body[field] != want {
			t.Errorf("%s = %v, want %v", field, body[field], want)
		}
	}
	id := orderID(t, first)
	if body["payment_url"] != "/orders/"+id+"/pay" {
		t.Errorf("payment_url = %v", body["payment_url"])
	}
	reserved, _ := time.Parse(time.RFC3339, body["reserved_at"].(string))
	expires, _ := time.Parse(time.RFC3339, body["reservation_expires_at"].(string))
	if expires.Sub(reserved) != 600*time.Second {
		t.Errorf("reservation window %v, want 600s", expires.Sub(reserved))
	}

	again := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, again, 200, "")
	if orderID(t, again) != id {
		t.Fatalf("double click made a second order")
	}
	h.wantStock(s.ID, s.Items[0], 4, 1, 0)
}

func TestPlaceOrderErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 1, limit: 1}, {stock: 5, limit: 2}}})
	upcoming := h.createSale(saleSpec{start: h.clock.Now().Add(time.Hour), end: h.clock.Now().Add(2 * time.Hour)})
	ended := h.createSale(saleSpec{start: h.clock.Now().Add(-2 * time.Hour), end: h.clock.Now().Add(-time.Hour)})
	path := "/flash-sales/" + s.ID + "/orders"
	alice := h.token("alice", false)

	cases := []struct {
		name   string
		r      *response
		status int
		code   string
	}{
		{"no token", h.do("POST", path, "", map[string]any{"item_id": s.Items[0], "quantity": 1}), 401, "unauthenticated"},
		{"garbage token", h.do("POST", path, "garbage", map[string]any{"item_id": s.Items[0], "quantity": 1}), 401, "unauthenticated"},
		{"zero quantity", h.placeOrder(s.ID, s.Items[0], "alice", 0), 400, "invalid_quantity"},
		{"negative quantity", h.placeOrder(s.ID, s.Items[0], "alice", -1), 400, "invalid_quantity"},
		{"fractional quantity", h.placeOrder(s.ID, s.Items[0], "alice", 1.5), 400, "invalid_quantity"},
		{"string quantity", h.placeOrder(s.ID, s.Items[0], "alice", "1"), 400, "invalid_quantity"},
		{"missing quantity", h.do("POST", path, alice, map[string]any{"item_id": s.Items[0]}), 400, "invalid_quantity"},
		{"over the per-user limit", h.placeOrder(s.ID, s.Items[1], "alice", 3), 400, "quantity_exceeds_limit"},
		{"missing item_id", h.do("POST", path, alice, map[string]any{"quantity": 1}), 400, "invalid_request"},
		{"unknown field", h.do("POST", path, alice, map[string]any{"item_id": s.Items[0], "quantity": 1, "price": "0.01"}), 400, "invalid_request"},
		{"malformed JSON", h.do("POST", path, alice, `{"item_id":`), 400, "invalid_request"},
		{"two objects", h.do("POST", path, alice, `{"item_id":"x","quantity":1}{}`), 400, "invalid_request"},
		{"body over 64 KiB", h.do("POST", path, alice, `{"item_id":"`+strings.Repeat("x", 70<<10)+`","quantity":1}`), 413, "request_too_large"},
		{"unknown sale", h.placeOrder("no-such-sale", s.Items[0], "alice", 1), 404, "sale_not_found"},
		{"unknown item", h.placeOrder(s.ID, "no-such-item", "alice", 1), 404, "item_not_found"},
		{"before the start", h.placeOrder(upcoming.ID, upcoming.Items[0], "alice", 1), 400, "sale_not_active"},
		{"after the end", h.placeOrder(ended.ID, ended.Items[0], "alice", 1), 400, "sale_not_active"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expect(t, c.r, c.status, c.code) })
	}
	r := h.do("POST", path, alice, map[string]any{"quantity": 1, "item_id": s.Items[0], "extra": 1})
	if field := r.JSON(t)["error"].(map[string]any)["field"]; field != "extra" {
		t.Errorf("unknown field error names %v, want extra", field)
	}
	// Nothing was written by any rejected request.
	h.wantStock(s.ID, s.Items[0], 1, 0, 0)
	h.wantStock(s.ID, s.Items[1], 5, 0, 0)

	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "carol", 1), 409, "sold_out")
	h.wantStock(s.ID, s.Items[0], 0, 1, 0)
}

func TestPerUserLimitCountsReservedAndConfirmedUnits(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 2}}})
	first := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, first, 201, "")
	expect(t, h.pay(orderID(t, first), "alice", "tok_visa"), 200, "")
	second := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, second, 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 200, "") // double click on the live one
	expect(t, h.pay(orderID(t, second), "alice", "tok_visa"), 200, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 409, "already_purchased")
	h.wantStock(s.ID, s.Items[0], 8, 0, 2)
}

func TestIdempotencyKeyReturnsTheSameOrder(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 5, limit: 1}, {stock: 5, limit: 1}}})
	first := h.placeOrder(s.ID, s.Items[0], "alice", 1, "Idempotency-Key", "k1")
	expect(t, first, 201, "")
	again := h.placeOrder(s.ID, s.Items[0], "alice", 1, "Idempotency-Key", "k1")
	expect(t, again, 200, "")
	if orderID(t, again) != orderID(t, first) {
		t.Fatal("same key, different order")
	}
	expect(t, h.placeOrder(s.ID, s.Items[1], "alice", 1, "Idempotency-Key", "k1"), 422, "idempotency_key_reused")
	h.wantStock(s.ID, s.Items[1], 5, 0, 0)
}

func TestOrdersAreVisibleOnlyToTheirOwner(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))

	mine := h.do("GET", "/orders/"+id, h.token("alice", false), nil)
	expect(t, mine, 200, "")
	if b := mine.JSON(t); b["status"] != "reserved" || b["payment_attempts"] != 0.0 || b["confirmed_at"] != nil {
		t.Fatalf("order body %s", mine.Body)
	}
	for _, r := range []*response{
		h.do("GET", "/orders/"+id, h.token("mallory", false), nil),
		h.pay(id, "mallory", "tok_visa"),
		h.do("POST", "/orders/"+id+"/cancel", h.token("mallory", false), nil),
		h.do("GET", "/orders/no-such-order", h.token("alice", false), nil),
	} {
		expect(t, r, 404, "order_not_found")
	}
	expect(t, h.do("GET", "/orders/"+id, "", nil), 401, "unauthenticated")
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)
}

func TestConcurrentHerdTakesExactlyTheStock(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const stock, users = 25, 1000
	s := h.createSale(saleSpec{items: []itemSpec{{stock: stock, limit: 1}}})
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = h.token(fmt.Sprintf("user-%d", i), false)
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	orders := map[string]bool{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range users {
		wg.Go(func() {
			<-start
			// A retry of a press whose reservation was made gets it back, 200.
			r := retried(func() *response {
				return h.do("POST", "/flash-sales/"+s.ID+"/orders", tokens[i], map[string]any{"item_id": s.Items[0], "quantity": 1})
			})
			mu.Lock()
			defer mu.Unlock()
			statuses[r.Status]++
			if r.Status == 201 || r.Status == 200 {
				orders[orderID(t, r)] = true
			} else if code := r.ErrorCode(t); code != "sold_out" {
				t.Errorf("unexpected rejection %d %s", r.Status, code)
			}
		})
	}
	close(start)
	wg.Wait()
	if statuses[201]+statuses[200] != stock || statuses[409] != users-stock || len(orders) != stock {
		t.Fatalf("statuses %v, %d distinct orders; want %d reservations", statuses, len(orders), stock)
	}
	h.wantStock(s.ID, s.Items[0], 0, stock, 0)
}

func TestOneUserFiringInParallelHoldsAtMostTheLimit(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 100, limit: 2}}})
	token := h.token("greedy", false)
	var wg sync.WaitGroup
	var mu sync.Mutex
	held := map[string]int64{}
	for range 200 {
		wg.Go(func() {
			r := h.do("POST", "/flash-sales/"+s.ID+"/orders", token, map[string]any{"item_id": s.Items[0], "quantity": 2})
			if r.Status == 200 || r.Status == 201 {
				mu.Lock()
				held[orderID(t, r)] = 2
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(held) != 1 {
		t.Fatalf("one user got %d distinct orders", len(held))
	}
	h.wantStock(s.ID, s.Items[0], 98, 2, 0)
}

// An order shows the same instants in its 201 as in every later read:
// the service records them in whole microseconds, as the stores keep them.
func TestOneTimestampPrecision(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	h.clock.Advance(123456789 * time.Nanosecond)
	placed := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, placed, 201, "")
	read := h.do("GET", "/orders/"+orderID(t, placed), h.token("alice", false), nil)
	expect(t, read, 200, "")
	for _, field := range []string{"reserved_at", "reservation_expires_at"} {
		if a, b := placed.JSON(t)[field], read.JSON(t)[field]; a != b {
			t.Errorf("%s: %v in the 201, %v when read again", field, a, b)
		}
	}
	if got := placed.JSON(t)["reserved_at"]; got != "2026-06-01T12:00:00.123456Z" {
		t.Errorf("reserved_at %v, want the microsecond", got)
	}
}

// A press before the start is told when the sale starts, and spends
// nothing of the per-user limit.
func TestPressBeforeTheStartIsToldTheStart(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	start := h.clock.Now().Add(90 * time.Second)
	s := h.createSale(saleSpec{start: start})
	r := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, r, 400, "sale_not_active")
	if got := r.JSON(t)["error"].(map[string]any)["starts_at"]; got != start.UTC().Format(time.RFC3339) {
		t.Fatalf("starts_at %v, want %s", got, start.UTC().Format(time.RFC3339))
	}
}
