package http_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// pollRequest polls a status URL until the request is settled.
func (h *harness) pollRequest(statusURL, token string) *response {
	h.t.Helper()
	var r *response
	testenv.Eventually(h.t, 10*time.Second, statusURL+" to leave the queue", func() bool {
		r = h.do("GET", statusURL, token, nil)
		return r.Status != 202
	})
	return r
}

// A queued sale answers 202 with a status URL, which ends in the outcome
// place-order would have given: exactly the stock reserved, the rest sold
// out (at once, once the workers have sold out), each only to its own user.
func TestQueuedAdmissionEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{queue: true})
	s := h.createSale(saleSpec{admission: "queued", items: []itemSpec{{stock: 3, limit: 1}}})

	const users = 8
	statusURLs := map[string]string{}
	for i := range users {
		user := fmt.Sprintf("shopper-%d", i)
		r := h.placeOrder(s.ID, s.Items[0], user, 1)
		if r.Status == 409 && r.ErrorCode(t) == "sold_out" {
			continue // the workers sold out already: said at once, nothing queued
		}
		expect(t, r, 202, "")
		body := r.JSON(t)
		url, _ := body["status_url"].(string)
		if body["status"] != "queued" || url != "/order-requests/"+body["request_id"].(string) || r.Header.Get("Location") != url {
			t.Fatalf("202 body %s, Location %q", r.Body, r.Header.Get("Location"))
		}
		if r.Header.Get("Retry-After") == "" {
			t.Error("202 without Retry-After")
		}
		statusURLs[user] = url
	}
	won := 0
	for user, url := range statusURLs {
		if other := h.do("GET", url, h.token("intruder", false), nil); other.Status != 404 || other.ErrorCode(t) != "not_found" {
			t.Errorf("another user's status URL: %d %s", other.Status, other.Body)
		}
		r := h.pollRequest(url, h.token(user, false))
		switch {
		case r.Status == 201:
			won++
			if r.JSON(t)["status"] != "reserved" {
				t.Errorf("%s's settled order: %s", user, r.Body)
			}
		case r.Status == 409 && r.ErrorCode(t) == "sold_out":
		default:
			t.Errorf("%s's outcome: %d %s", user, r.Status, r.Body)
		}
	}
	if won != 3 {
		t.Errorf("%d reservations through the queue for a stock of 3", won)
	}
	h.wantStock(s.ID, s.Items[0], 0, 3, 0)
}

// A request resent with its Idempotency-Key is the same request; what
// needs no inventory is refused at once.
func TestQueuedAdmissionDeduplicatesAndRefusesAtOnce(t *testing.T) {
	// The workers start once both presses are queued: after the first is
	// settled, the second would be a double click, answered 200.
	h := newHarness(t, harnessOptions{queue: true, idleWorkers: true})
	s := h.createSale(saleSpec{admission: "queued", items: []itemSpec{{stock: 3, limit: 1}}})
	tok := h.token("alice", false)
	body := map[string]any{"item_id": s.Items[0], "quantity": 1}
	first := h.do("POST", "/flash-sales/"+s.ID+"/orders", tok, body, "Idempotency-Key", "click-1")
	again := h.do("POST", "/flash-sales/"+s.ID+"/orders", tok, body, "Idempotency-Key", "click-1")
	expect(t, first, 202, "")
	expect(t, again, 202, "")
	if first.JSON(t)["request_id"] != again.JSON(t)["request_id"] {
		t.Fatalf("the same Idempotency-Key made two requests: %s %s", first.Body, again.Body)
	}
	h.startWorkers()
	expect(t, h.pollRequest(first.JSON(t)["status_url"].(string), tok), 201, "")
	// Settled, the press again is a double click: the reservation, 200.
	expect(t, h.do("POST", "/flash-sales/"+s.ID+"/orders", tok, body, "Idempotency-Key", "click-1"), 200, "")
	h.wantStock(s.ID, s.Items[0], 2, 1, 0)

	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 2), 400, "quantity_exceeds_limit")
	expect(t, h.do("GET", "/order-requests/no-such-request", tok, nil), 404, "not_found")
}

// Without an order queue, a queued sale is refused when it is created.
func TestQueuedSaleNeedsAnOrderQueue(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.do("POST", "/admin/flash-sales", h.admin(), map[string]any{
		"name": "Queued", "start_time": h.clock.Now().Format(time.RFC3339), "end_time": h.clock.Now().Add(time.Hour).Format(time.RFC3339),
		"admission": "queued",
		"items": []map[string]any{{"product_id": "p", "name": "n", "original_price": "2.00", "sale_price": "1.00",
			"currency": "USD", "total_quantity": 1, "per_user_limit": 1}},
	})
	expect(t, r, 400, "invalid_request")
	if field := r.JSON(t)["error"].(map[string]any)["field"]; field != "admission" {
		t.Errorf("field = %v, want admission", field)
	}
}

// Each queued request's outcome reaches its user's event stream: a
// reservation as its order's order.reserved, a refusal as
// order_request.refused with the reason.
func TestQueuedOutcomesReachTheEventStream(t *testing.T) {
	h := newHarness(t, harnessOptions{queue: true, idleWorkers: true, events: true})
	s := h.createSale(saleSpec{admission: "queued", items: []itemSpec{{stock: 1, limit: 1}}})
	streams := map[string]*stream{}
	statusURLs := map[string]string{}
	requestIDs := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		streams[user] = h.openStream(user, h.bearer(user)...)
		r := h.placeOrder(s.ID, s.Items[0], user, 1)
		expect(t, r, 202, "")
		statusURLs[user], requestIDs[user] = r.JSON(t)["status_url"].(string), r.JSON(t)["request_id"].(string)
	}
	// Both requests are queued before any is settled; they settle in one
	// batch, so either may get the unit.
	h.startWorkers()

	outcomes := map[int]int{}
	for user, url := range statusURLs {
		r := h.pollRequest(url, h.token(user, false))
		outcomes[r.Status]++
		switch r.Status {
		case 201:
			streams[user].want("order.reserved", orderID(t, r))
		case 409:
			e := streams[user].next()
			request, _ := e.Data["request"].(map[string]any)
			if e.Type != "order_request.refused" || e.Data["id"] != e.ID || request["request_id"] != requestIDs[user] ||
				request["reason"] != "sold_out" || request["item_name"] != "Phone 0" || e.Data["order"] != nil {
				t.Fatalf("%s's event %+v, want order_request.refused of %s", user, e, requestIDs[user])
			}
		default:
			t.Fatalf("%s's outcome: %d %s", user, r.Status, r.Body)
		}
		streams[user].wantQuiet()
	}
	if outcomes[201] != 1 || outcomes[409] != 1 {
		t.Fatalf("outcomes %v, want one reservation and one refusal", outcomes)
	}
}
