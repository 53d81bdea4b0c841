package http_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// change sends an operator's change of a sale.
func (h *harness) change(s sale, body map[string]any) *response {
	h.t.Helper()
	return h.do("PATCH", "/admin/flash-sales/"+s.ID, h.admin(), body)
}

// A paused sale refuses new reservations with the reason, keeps the ones
// it holds and takes their payments; resumed, it sells again.
func TestPauseAndResume(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 5, limit: 1}}})
	held := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))

	r := h.change(s, map[string]any{"paused": true})
	expect(t, r, 200, "")
	if r.JSON(t)["paused"] != true {
		t.Fatalf("the paused sale's view: %s", r.Body)
	}
	refused := h.placeOrder(s.ID, s.Items[0], "bob", 1)
	expect(t, refused, 400, "sale_not_active")
	if reason := refused.JSON(t)["error"].(map[string]any)["reason"]; reason != "paused" {
		t.Fatalf("refused for %v, want paused: %s", reason, refused.Body)
	}
	expect(t, h.pay(held, "alice", "tok_visa"), 200, "")
	h.wantStock(s.ID, s.Items[0], 4, 0, 1)

	expect(t, h.change(s, map[string]any{"paused": false}), 200, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 201, "")
	h.wantStock(s.ID, s.Items[0], 3, 1, 1)
}

// A restock adds exactly its units to a sold-out item: they sell, and no
// more.
func TestRestock(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 2, limit: 1}}})
	for _, user := range []string{"u1", "u2"} {
		expect(t, h.placeOrder(s.ID, s.Items[0], user, 1), 201, "")
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "u3", 1), 409, "sold_out")

	r := h.change(s, map[string]any{"items": []map[string]any{{"item_id": s.Items[0], "add_quantity": 3}}})
	expect(t, r, 200, "")
	item := r.JSON(t)["items"].([]any)[0].(map[string]any)
	if item["total_quantity"] != 5.0 || item["remaining_quantity"] != 3.0 {
		t.Fatalf("the restocked item: %v", item)
	}
	for _, user := range []string{"u3", "u4", "u5"} {
		expect(t, h.placeOrder(s.ID, s.Items[0], user, 1), 201, "")
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "u6", 1), 409, "sold_out")
	h.wantStock(s.ID, s.Items[0], 0, 5, 0)
}

// Ending a sale now closes it at once, reservations running to their
// own expiry; an ended sale cannot change; extending one that runs moves
// its end.
func TestEndAndExtend(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	later := h.clock.Now().Add(5 * time.Hour).UTC()
	r := h.change(s, map[string]any{"end_time": later.Format(time.RFC3339)})
	expect(t, r, 200, "")
	if end, _ := time.Parse(time.RFC3339Nano, r.JSON(t)["end_time"].(string)); !end.Equal(later) {
		t.Fatalf("the extended sale's view: %s", r.Body)
	}
	h.clock.Advance(2 * time.Hour) // past the first end: still on
	held := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))

	expect(t, h.change(s, map[string]any{"end_time": h.clock.Now().Add(-time.Hour).Format(time.RFC3339)}), 200, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 400, "sale_not_active")
	expect(t, h.pay(held, "alice", "tok_visa"), 200, "")
	h.clock.Advance(time.Second)
	expect(t, h.change(s, map[string]any{"paused": true}), 409, "sale_ended")
	h.wantStock(s.ID, s.Items[0], 9, 0, 1)
}

// Only an admin changes a sale; bad input is refused with its field and
// changes nothing.
func TestChangeSaleRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	expect(t, h.do("PATCH", "/admin/flash-sales/"+s.ID, h.token("alice", false), map[string]any{"paused": true}), 403, "forbidden")
	for field, body := range map[string]map[string]any{
		"$":                     {},
		"end_time":              {"end_time": "tomorrow"},
		"items[0].add_quantity": {"items": []map[string]any{{"item_id": s.Items[0], "add_quantity": 0}}},
		"items[0].item_id":      {"items": []map[string]any{{"add_quantity": 1}}},
		"items[1].item_id":      {"items": []map[string]any{{"item_id": s.Items[0], "add_quantity": 1}, {"item_id": s.Items[0], "add_quantity": 1}}},
	} {
		r := h.change(s, body)
		expect(t, r, 400, "invalid_request")
		if got := r.JSON(t)["error"].(map[string]any)["field"]; got != field {
			t.Errorf("%v: field %v, want %s", body, got, field)
		}
	}
	expect(t, h.change(s, map[string]any{"items": []map[string]any{{"item_id": "no-such-item", "add_quantity": 1}}}), 404, "item_not_found")
	expect(t, h.do("PATCH", "/admin/flash-sales/no-such-sale", h.admin(), map[string]any{"paused": true}), 404, "sale_not_found")
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
	if v := h.do("GET", "/flash-sales/"+s.ID, "", nil).JSON(t); v["paused"] != nil {
		t.Fatalf("a refused change paused the sale: %v", v)
	}
}

// The operators' listing of a sale's orders: pages that follow their
// cursor list every order once, a status keeps its own, the CSV export has
// them all; bad parameters are named; shoppers are refused.
func TestSaleOrders(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 30, limit: 1}}})
	var placed, paid []string
	buyers := map[string]string{}
	for i := range 25 {
		user := fmt.Sprintf("user-%02d", i)
		id := orderID(t, h.placeOrder(s.ID, s.Items[0], user, 1))
		placed = append(placed, id)
		buyers[id] = user
		if i%4 == 0 {
			expect(t, h.pay(id, user, "tok_visa"), 200, "")
			paid = append(paid, id)
		}
	}
	list := func(query string) (ids []string, next string) {
		t.Helper()
		r := h.do("GET", "/admin/flash-sales/"+s.ID+"/orders"+query, h.admin(), nil)
		expect(t, r, 200, "")
		var v struct {
			Orders []struct {
				OrderID string `json:"order_id"`
				UserID  string `json:"user_id"`
			} `json:"orders"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatal(err)
		}
		for _, o := range v.Orders {
			ids = append(ids, o.OrderID)
			if want := buyers[o.OrderID]; o.UserID != want {
				t.Errorf("order %s listed as %q's, want %q's", o.OrderID, o.UserID, want)
			}
		}
		return ids, v.NextCursor
	}
	var all []string
	for query := "?limit=10"; ; {
		ids, next := list(query)
		all = append(all, ids...)
		if next == "" {
			break
		}
		query = "?limit=10&cursor=" + next
	}
	if !slices.Equal(all, placed) {
		t.Fatalf("the pages listed %v, want %v", all, placed)
	}
	if got, _ := list("?status=confirmed"); !slices.Equal(got, paid) {
		t.Fatalf("confirmed orders %v, want %v", got, paid)
	}

	r := h.do("GET", "/admin/flash-sales/"+s.ID+"/orders", h.admin(), nil, "Accept", "text/csv")
	expect(t, r, 200, "")
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil || len(rows) != len(placed)+1 || rows[0][0] != "order_id" {
		t.Fatalf("CSV export: %d rows, %v\n%s", len(rows), err, r.Body)
	}
	for i, row := range rows[1:] {
		if row[0] != placed[i] || (slices.Contains(paid, row[0]) != (row[4] == "confirmed")) {
			t.Fatalf("CSV row %d: %v", i, row)
		}
	}

	for field, query := range map[string]string{"status": "?status=shipped", "cursor": "?cursor=!!", "limit": "?limit=1001"} {
		r := h.do("GET", "/admin/flash-sales/"+s.ID+"/orders"+query, h.admin(), nil)
		expect(t, r, 400, "invalid_request")
		if got := r.JSON(t)["error"].(map[string]any)["field"]; got != field {
			t.Errorf("%s: field %v, want %s", query, got, field)
		}
	}
	expect(t, h.do("GET", "/admin/flash-sales/"+s.ID+"/orders", h.token("user-00", false), nil), 403, "forbidden")
	expect(t, h.do("GET", "/admin/flash-sales/no-such-sale/orders", h.admin(), nil), 404, "sale_not_found")
}

// Every admin action that changed something is in the sale's audit log,
// newest first, with its admin, body, and the sale before and after; a
// refused one is not.
func TestAuditLog(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	expect(t, h.change(s, map[string]any{"paused": true}), 200, "")
	expect(t, h.change(s, map[string]any{"end_time": "soon"}), 400, "invalid_request")
	expect(t, h.do("POST", "/admin/flash-sales/"+s.ID+"/reconcile", h.admin(), nil), 200, "")

	r := h.do("GET", "/admin/audit?sale_id="+s.ID, h.admin(), nil)
	expect(t, r, 200, "")
	var log struct {
		Entries []struct {
			Admin   string         `json:"admin"`
			Action  string         `json:"action"`
			Request map[string]any `json:"request"`
			Before  map[string]any `json:"before"`
			After   map[string]any `json:"after"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(r.Body, &log); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log.Entries {
		actions = append(actions, e.Action)
		if e.Admin != "admin" {
			t.Errorf("%s recorded for %q, want the admin token's sub", e.Action, e.Admin)
		}
	}
	if !slices.Equal(actions, []string{"reconcile", "change_sale", "create_sale"}) {
		t.Fatalf("audit log %v: %s", actions, r.Body)
	}
	change := log.Entries[1]
	if change.Request["paused"] != true || change.Before["paused"] != nil || change.After["paused"] != true {
		t.Fatalf("the pause's record: %+v", change)
	}
	if created := log.Entries[2]; created.After["sale_id"] != s.ID || created.Before != nil {
		t.Fatalf("the creation's record: %+v", created)
	}
	expect(t, h.do("GET", "/admin/audit?sale_id="+s.ID, h.token("alice", false), nil), 403, "forbidden")
	expect(t, h.do("GET", "/admin/audit", h.admin(), nil), 400, "invalid_request")
}

// A refund gives a confirmed order's payment back once, however often or
// concurrently it is asked; with restock its units go back on sale (the
// item's total grows by them); only a confirmed order is refunded.
func TestRefund(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 3, limit: 1}}})
	buy := func(user string) string {
		id := orderID(t, h.placeOrder(s.ID, s.Items[0], user, 1))
		expect(t, h.pay(id, user, "tok_visa"), 200, "")
		return id
	}
	refund := func(id string, body any) *response {
		return h.do("POST", "/admin/orders/"+id+"/refund", h.admin(), body)
	}

	alice := buy("alice")
	for range 2 {
		r := refund(alice, nil)
		expect(t, r, 200, "")
		if r.JSON(t)["status"] != "refunded" {
			t.Fatalf("a refunded order: %s", r.Body)
		}
	}
	h.wantStock(s.ID, s.Items[0], 2, 0, 1) // the unit stays sold
	listed := h.do("GET", "/admin/flash-sales/"+s.ID+"/orders?status=refunded", h.admin(), nil)
	expect(t, listed, 200, "")
	if orders := listed.JSON(t)["orders"].([]any); len(orders) != 1 || orders[0].(map[string]any)["order_id"] != alice {
		t.Fatalf("the refunded orders: %s, want alice's", listed.Body)
	}

	bob := buy("bob")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { refund(bob, map[string]any{"restock": true}) })
	}
	wg.Wait()
	if got := h.payments.Refunds(); got != 2 {
		t.Fatalf("%d refunds at the provider, want 2: one per order", got)
	}
	if st := h.stats(s.ID, s.Items[0]); st.Total != 4 || st.Available != 2 || st.Sold != 2 {
		t.Fatalf("after a refund with restock: %+v, want total 4, available 2, sold 2", st)
	}

	held := orderID(t, h.placeOrder(s.ID, s.Items[0], "carol", 1))
	expect(t, refund(held, nil), 409, "order_not_refundable")
	expect(t, refund("no-such-order", nil), 404, "order_not_found")
	expect(t, h.do("POST", "/admin/orders/"+alice+"/refund", h.token("alice", false), nil), 403, "forbidden")
}
