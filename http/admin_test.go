package http_test

import (
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

func validSale(now time.Time) map[string]any {
	return map[string]any{
		"name": "Summer Phone Launch", "start_time": now.Format(time.RFC3339), "end_time": now.Add(time.Hour).Format(time.RFC3339),
		"items": []map[string]any{{"product_id": "p1", "name": "Phone X", "original_price": "999.00",
			"sale_price": "499.00", "currency": "USD", "total_quantity": 10, "per_user_limit": 1}},
	}
}

func TestCreateSale(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.do("POST", "/admin/flash-sales", h.admin(), validSale(h.clock.Now()))
	expect(t, r, 201, "")
	b := r.JSON(t)
	if b["status"] != "active" || b["mode"] != "fcfs" || b["reservation_ttl_seconds"] != 600.0 || b["sale_id"] == "" {
		t.Fatalf("created sale %s", r.Body)
	}
	item := b["items"].([]any)[0].(map[string]any)
	if item["discount_percent"] != 50.0 || item["remaining_quantity"] != 10.0 || item["sold_out"] != false || item["sale_price"] != "499.00" {
		t.Fatalf("created item %v", item)
	}
	got := h.do("GET", "/flash-sales/"+b["sale_id"].(string), "", nil)
	expect(t, got, 200, "")
}

func TestCreateSaleRejectsBadInputNamingTheField(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	now := h.clock.Now()
	mutate := func(f func(m map[string]any)) map[string]any {
		m := validSale(now)
		f(m)
		return m
	}
	item := func(m map[string]any) map[string]any { return m["items"].([]map[string]any)[0] }
	cases := map[string]map[string]any{
		"end_time":                mutate(func(m map[string]any) { m["end_time"] = now.Add(-time.Hour).Format(time.RFC3339) }),
		"start_time":              mutate(func(m map[string]any) { m["start_time"] = "tomorrow" }),
		"name":                    mutate(func(m map[string]any) { m["name"] = " " }),
		"reservation_ttl_seconds": mutate(func(m map[string]any) { m["reservation_ttl_seconds"] = 0 }),
		"mode":                    mutate(func(m map[string]any) { m["mode"] = "auction" }),
		"items":                   mutate(func(m map[string]any) { m["items"] = []map[string]any{} }),
		"items[0].total_quantity": mutate(func(m map[string]any) { item(m)["total_quantity"] = -1 }),
		"items[0].sale_price":     mutate(func(m map[string]any) { item(m)["sale_price"] = "1999.00" }),
		"items[0].original_price": mutate(func(m map[string]any) { item(m)["original_price"] = "9.999" }),
		"items[0].currency":       mutate(func(m map[string]any) { item(m)["currency"] = "dollars" }),
		"items[0].per_user_limit": mutate(func(m map[string]any) { item(m)["per_user_limit"] = 0 }),
		"items[0].unknown":        mutate(func(m map[string]any) { item(m)["unknown"] = true }),
	}
	for field, body := range cases {
		t.Run(field, func(t *testing.T) {
			r := h.do("POST", "/admin/flash-sales", h.admin(), body)
			expect(t, r, 400, "invalid_request")
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != field {
				t.Fatalf("field %v, want %s (%s)", got, field, r.Body)
			}
		})
	}
	r := h.do("POST", "/admin/flash-sales", h.admin(), `{"name":"x","items":[{"total_quantity":"ten"}]}`)
	expect(t, r, 400, "invalid_request")
	if got := r.JSON(t)["error"].(map[string]any)["field"]; got != "items[0].total_quantity" {
		t.Fatalf("type error names %v", got)
	}
	if list := h.do("GET", "/flash-sales", "", nil).JSON(t)["sales"].([]any); len(list) != 0 {
		t.Fatalf("a rejected sale was stored: %v", list)
	}
}

func TestAdminEndpointsNeedTheAdminRole(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	alice := h.token("alice", false)
	expect(t, h.do("POST", "/admin/flash-sales", alice, validSale(h.clock.Now())), 403, "forbidden")
	expect(t, h.do("GET", "/admin/flash-sales/"+s.ID+"/stats", alice, nil), 403, "forbidden")
	expect(t, h.do("POST", "/admin/flash-sales/"+s.ID+"/reconcile", alice, nil), 403, "forbidden")
	expect(t, h.do("POST", "/admin/flash-sales", "", validSale(h.clock.Now())), 401, "unauthenticated")
	expect(t, h.do("GET", "/admin/flash-sales/no-such-sale/stats", h.admin(), nil), 404, "sale_not_found")
}

func TestStatsCountAttemptsAndRejections(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 1, limit: 1}}})
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 409, "sold_out")
	expect(t, h.placeOrder(s.ID, s.Items[0], "carol", 1), 409, "sold_out")
	b := h.do("GET", "/admin/flash-sales/"+s.ID+"/stats", h.admin(), nil).JSON(t)
	it := b["items"].([]any)[0].(map[string]any)
	if it["attempts"] != 3.0 || it["rejections"].(map[string]any)["sold_out"] != 2.0 || it["reserved"] != 1.0 {
		t.Fatalf("stats %v", b)
	}
}

func TestReconcileReportsAConsistentSale(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	id := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	expect(t, h.pay(id, "alice", "tok_visa"), 200, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1), 201, "")
	r := h.do("POST", "/admin/flash-sales/"+s.ID+"/reconcile", h.admin(), nil)
	expect(t, r, 200, "")
	it := r.JSON(t)["items"].([]any)[0].(map[string]any)
	if it["consistent"] != true || len(it["released"].([]any)) != 0 || it["store"].(map[string]any)["sold"] != 1.0 {
		t.Fatalf("reconcile %s", r.Body)
	}
}

func TestSalePagesAreCacheableAndFiltered(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	active := h.createSale(saleSpec{})
	h.createSale(saleSpec{start: h.clock.Now().Add(time.Hour), end: h.clock.Now().Add(2 * time.Hour)})

	r := h.do("GET", "/flash-sales/"+active.ID, "", nil)
	expect(t, r, 200, "")
	etag := r.Header.Get("ETag")
	if etag == "" || !strings.Contains(r.Header.Get("Cache-Control"), "max-age=1") {
		t.Fatalf("headers %v", r.Header)
	}
	b := r.JSON(t)
	if b["status"] != "active" || b["server_time"] == nil {
		t.Fatalf("sale %s", r.Body)
	}
	notModified := h.do("GET", "/flash-sales/"+active.ID, "", nil, "If-None-Match", etag)
	if notModified.Status != 304 || len(notModified.Body) != 0 {
		t.Fatalf("If-None-Match: %d %q", notModified.Status, notModified.Body)
	}
	expect(t, h.do("GET", "/flash-sales/no-such-sale", "", nil), 404, "sale_not_found")

	for status, n := range map[string]int{"": 2, "active": 1, "upcoming": 1, "ended": 0} {
		r := h.do("GET", "/flash-sales?status="+status, "", nil)
		expect(t, r, 200, "")
		if got := len(r.JSON(t)["sales"].([]any)); got != n {
			t.Errorf("status=%s lists %d sales, want %d", status, got, n)
		}
	}
	expect(t, h.do("GET", "/flash-sales?status=soon", "", nil), 400, "invalid_request")
}

func TestRemainingQuantityFollowsTheStockWithinTheCacheWindow(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 1, limit: 1}}})
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 201, "")
	testenv.Eventually(t, 2*time.Second, "the sale page to show the sell-out (it may be a second stale)", func() bool {
		item := h.do("GET", "/flash-sales/"+s.ID, "", nil).JSON(t)["items"].([]any)[0].(map[string]any)
		return item["remaining_quantity"] == 0.0 && item["sold_out"] == true
	})
}
