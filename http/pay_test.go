package http_test

import (
	"context"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/paysim"
)

func TestPayConfirmsOnceAndRepeatsWithoutCharging(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))

	paid := h.pay(id, "alice", "tok_visa")
	expect(t, paid, 200, "")
	b := paid.JSON(t)
	if b["status"] != "confirmed" || b["amount_charged"] != "499.00" || b["currency"] != "USD" || b["payment_id"] == "" || b["confirmed_at"] == nil {
		t.Fatalf("pay body %s", paid.Body)
	}
	again := h.pay(id, "alice", "tok_visa")
	expect(t, again, 200, "")
	if again.JSON(t)["payment_id"] != b["payment_id"] {
		t.Fatal("second pay returned another payment")
	}
	if n := h.payments.Charges(); n != 1 {
		t.Fatalf("%d charges made, want 1", n)
	}
	h.wantStock(s.ID, s.Items[0], 9, 0, 1)
}

func TestDeclinedPaymentKeepsTheReservationForARetry(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))

	for _, c := range []struct{ token, reason string }{
		{"tok_chargeDeclined", "card_declined"}, {"tok_insufficientFunds", "insufficient_funds"},
	} {
		token, reason := c.token, c.reason
		r := h.pay(id, "alice", token)
		expect(t, r, 402, "payment_failed")
		if got := r.JSON(t)["error"].(map[string]any)["reason"]; got != reason {
			t.Fatalf("reason %v, want %s", got, reason)
		}
		h.wantStock(s.ID, s.Items[0], 9, 1, 0)
	}
	order := h.do("GET", "/orders/"+id, h.token("alice", false), nil).JSON(t)
	if order["status"] != "reserved" || order["payment_attempts"] != 2.0 || order["last_payment_error"] != "insufficient_funds" {
		t.Fatalf("after two declines: %v", order)
	}
	expect(t, h.pay(id, "alice", "tok_visa"), 200, "")
	h.wantStock(s.ID, s.Items[0], 9, 0, 1)
}

func TestThirdDeclineFailsTheOrderAndReturnsTheUnit(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	for range 3 {
		expect(t, h.pay(id, "alice", "tok_chargeDeclined"), 402, "payment_failed")
	}
	if st := h.do("GET", "/orders/"+id, h.token("alice", false), nil).JSON(t)["status"]; st != "payment_failed" {
		t.Fatalf("status %v, want payment_failed", st)
	}
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
	expect(t, h.pay(id, "alice", "tok_visa"), 409, "order_not_payable")
	// The limit is free again: alice may try once more.
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 201, "")
}

func TestPayAfterTheDeadlineIsGoneAndTheUnitReturns(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{ttl: 60})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	h.clock.Advance(61 * time.Second)
	expect(t, h.pay(id, "alice", "tok_visa"), 410, "reservation_expired")
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
	if h.payments.Charges() != 0 {
		t.Fatal("an expired reservation was charged")
	}
}

func TestTimeoutHandlerExpiresReservations(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{ttl: 30, items: []itemSpec{{stock: 2, limit: 1}}})
	early := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	h.clock.Advance(10 * time.Second)
	late := orderID(t, h.placeOrder(s.ID, s.Items[0], "bob", 1))
	expect(t, h.placeOrder(s.ID, s.Items[0], "carol", 1), 409, "sold_out")

	h.clock.Advance(21 * time.Second) // alice's deadline passed, bob's not
	n, err := h.service.ExpireDue(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
	}
	if st := h.do("GET", "/orders/"+early, h.token("alice", false), nil).JSON(t)["status"]; st != "expired" {
		t.Fatalf("alice's order is %v", st)
	}
	if st := h.do("GET", "/orders/"+late, h.token("bob", false), nil).JSON(t)["status"]; st != "reserved" {
		t.Fatalf("bob's order is %v", st)
	}
	h.wantStock(s.ID, s.Items[0], 1, 1, 0)
	expect(t, h.placeOrder(s.ID, s.Items[0], "carol", 1), 201, "")
	expect(t, h.pay(early, "alice", "tok_visa"), 410, "reservation_expired")
}

func TestSweepExpiresWhatTheIndexMissed(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{ttl: 5})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	h.clock.Advance(6 * time.Second)
	if err := h.service.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := h.do("GET", "/orders/"+id, h.token("alice", false), nil).JSON(t)["status"]; st != "expired" {
		t.Fatalf("status %v, want expired", st)
	}
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
}

func TestCancel(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	r := h.do("POST", "/orders/"+id+"/cancel", h.token("alice", false), nil)
	expect(t, r, 200, "")
	if r.JSON(t)["status"] != "cancelled" {
		t.Fatalf("cancel body %s", r.Body)
	}
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
	expect(t, h.do("POST", "/orders/"+id+"/cancel", h.token("alice", false), nil), 409, "order_not_cancellable")
	expect(t, h.pay(id, "alice", "tok_visa"), 409, "order_not_payable")

	paid := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	expect(t, h.pay(paid, "alice", "tok_visa"), 200, "")
	expect(t, h.do("POST", "/orders/"+paid+"/cancel", h.token("alice", false), nil), 409, "order_not_cancellable")
	h.wantStock(s.ID, s.Items[0], 9, 0, 1)
}

func TestPaymentTimeoutIsSettledAsNotCharged(t *testing.T) {
	h := newHarness(t, harnessOptions{paymentTimeout: 100 * time.Millisecond})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	r := h.pay(id, "alice", "tok_timeout")
	expect(t, r, 402, "payment_failed")
	if reason := r.JSON(t)["error"].(map[string]any)["reason"]; reason != "payment_timeout" {
		t.Fatalf("reason %v", reason)
	}
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)
	expect(t, h.pay(id, "alice", "tok_visa"), 200, "")
}

// gatedProvider holds every charge until the test opens the gate, so a
// payment can be caught in flight.
type gatedProvider struct {
	*paysim.Simulator
	charging chan struct{}
	gate     chan struct{}
}

func (g *gatedProvider) Charge(ctx context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	g.charging <- struct{}{}
	<-g.gate
	return g.Simulator.Charge(ctx, req)
}

func TestPaymentRacingExpiryIsSettledFirst(t *testing.T) {
	for token, want := range map[string]struct {
		status int
		order  string
		stock  [3]int64
	}{
		"tok_visa":           {200, "confirmed", [3]int64{9, 0, 1}},
		"tok_chargeDeclined": {402, "expired", [3]int64{10, 0, 0}},
	} {
		t.Run(token, func(t *testing.T) {
			gated := &gatedProvider{Simulator: paysim.New(paysim.Options{}), charging: make(chan struct{}, 1), gate: make(chan struct{})}
			h := newHarness(t, harnessOptions{payments: gated})
			s := h.createSale(saleSpec{ttl: 10})
			id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
			result := make(chan *response, 1)
			go func() { result <- h.pay(id, "alice", token) }()
			<-gated.charging // the charge is in flight, the order is paying

			h.clock.Advance(11 * time.Second)
			if _, err := h.service.ExpireDue(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := h.service.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st := h.do("GET", "/orders/"+id, h.token("alice", false), nil).JSON(t)["status"]; st != "paying" {
				t.Fatalf("an order in payment was touched by expiry: %v", st)
			}
			h.wantStock(s.ID, s.Items[0], 9, 1, 0)

			close(gated.gate)
			r := <-result
			if r.Status != want.status {
				t.Fatalf("pay status %d, want %d: %s", r.Status, want.status, r.Body)
			}
			if st := h.do("GET", "/orders/"+id, h.token("alice", false), nil).JSON(t)["status"]; st != want.order {
				t.Fatalf("order %v, want %s", st, want.order)
			}
			h.wantStock(s.ID, s.Items[0], want.stock[0], want.stock[1], want.stock[2])
		})
	}
}

// A second payment while the first is being settled is told to wait, with
// a code of its own: order_not_payable would read as final.
func TestPayWhileAPaymentIsInProgressSaysWait(t *testing.T) {
	gated := &gatedProvider{Simulator: paysim.New(paysim.Options{}), charging: make(chan struct{}, 1), gate: make(chan struct{})}
	h := newHarness(t, harnessOptions{payments: gated})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	first := make(chan *response, 1)
	go func() { first <- h.pay(id, "alice", "tok_visa") }()
	<-gated.charging // the first charge is in flight, the order is paying

	second := h.pay(id, "alice", "tok_visa")
	expect(t, second, 409, "payment_in_progress")
	if second.Header.Get("Retry-After") == "" {
		t.Error("payment_in_progress without Retry-After")
	}
	close(gated.gate)
	expect(t, <-first, 200, "")
	expect(t, h.pay(id, "alice", "tok_visa"), 200, "")
}
