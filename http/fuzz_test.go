package http_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// Any body sent to a route that reads one gets an answer below 500, and a
// refusal is the API's JSON error with a code and a message: the real
// server (newHarness) over the embedded deployment, with a sale and an
// order of alice's to act on. The fuzzer picks the route and the body.
// Run with -fuzz to search beyond the seeds (the requests go straight to
// the server's handler, not over a socket).
func FuzzRequestBodies(f *testing.F) {
	h := newHarness(f, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 1000, limit: 1000}}})
	order := orderID(f, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	admin, alice := h.admin(), h.token("alice", false)
	routes := []struct{ method, path, token string }{
		{"POST", "/admin/flash-sales", admin},
		{"PATCH", "/admin/flash-sales/" + s.ID, admin},
		{"POST", "/orders/" + order + "/pay", alice},
		{"POST", "/flash-sales/" + s.ID + "/orders", alice},
		{"POST", "/admin/orders/" + order + "/refund", admin},
		{"PATCH", "/admin/flash-sales/" + s.ID + "/queue", admin},
		{"POST", "/flash-sales/" + s.ID + "/entries", alice},
		{"POST", "/orders/" + order + "/cancel", alice},
		{"POST", "/flash-sales/" + s.ID + "/queue", alice},
	}
	seeds := [][]string{
		{`{"name":"Fuzz","start_time":"2026-06-01T11:00:00Z","end_time":"2026-06-01T13:00:00Z","reservation_ttl_seconds":600,` +
			`"items":[{"product_id":"p","name":"n","original_price":"999.00","sale_price":"499.00","currency":"USD","total_quantity":10,"per_user_limit":1}]}`,
			`{"name":"N\u0000UL","start_time":"2026-06-01T11:00:00Z","end_time":"2026-06-01T13:00:00Z",` +
				`"items":[{"product_id":"p\u0000","name":"n\u0000","original_price":"999.00","sale_price":"499.00","currency":"USD","total_quantity":10,"per_user_limit":1}]}`,
			`{"name":"Big","start_time":"0001-01-01T00:00:00Z","end_time":"9999-12-31T23:59:59.999999999Z","reservation_ttl_seconds":9223372036854775807,` +
				`"items":[{"product_id":"p","name":"n","original_price":"999999999.99","sale_price":"999999999.99","currency":"USD","total_quantity":9223372036854775807,"per_user_limit":9223372036854775807}]}`,
			`{"name":"x","start_time":"2026-06-01T11:00:00+14:00","end_time":"2026-06-01T13:00:00-12:00","items":[],` +
				`"waiting_room":{"admit_per_minute":-1,"overbook":1e308},"challenge":{"policy":"always","max_number":-1},"mode":"lottery",` +
				`"lottery":{"entries_open":"2026-06-01T11:00:00Z","entries_close":"2026-06-01T10:00:00Z"},"admission":"queued"}`,
			`{"name":"x","items":[{"sale_price":"1.001"}]}`, `{"items":[{"ſale_price":"1.00"}]}`},
		{`{"paused":true}`, `{"paused":false,"end_time":"2026-06-01T13:00:00Z"}`, `{"items":[{"item_id":"nope","add_quantity":1}]}`,
			`{"items":[{"add_quantity":-9223372036854775808}]}`, `{"end_time":"2026-06-01T12:00:00Z"}`},
		{`{"payment_token":"tok_visa","payment_method":"credit_card"}`, `{"payment_token":"","payment_method":""}`, `{"payment_token":1}`},
		{`{"item_id":"` + s.Items[0] + `","quantity":1}`, `{"item_id":"` + s.Items[0] + `","quantity":9223372036854775808}`,
			`{"item_id":"x","quantity":-1}`, `{"item_id":"x","quantity":{"a":1,"a":2}}`},
		{``, `{"restock":true}`, `{"restock":"yes"}`},
		{`{"admit_per_minute":10,"max_active":5,"paused":false}`, `{"max_active":-1}`},
		{`{"item_id":"` + s.Items[0] + `"}`, `{"item_id":"x","shipping_address":{}}`},
		{``, `{}`, `{"x":1}`},
		{``, `{}`, `[]`},
	}
	for route, bodies := range seeds {
		for _, body := range append(bodies, "", "{", "null", `"x"`, "\xff", `{"a":1}`) {
			f.Add(uint8(route), []byte(body))
		}
	}
	handler := h.server.Config.Handler
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		r := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+rt.token)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, rt.path, body, w.Code, w.Body)
		}
		if w.Code < 400 {
			return
		}
		var v struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v.Error == nil || v.Error.Code == "" || v.Error.Message == "" ||
			!strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s %q: %d %s (%s), not the API's JSON error with a code and a message",
				rt.method, rt.path, body, w.Code, w.Body, w.Header().Get("Content-Type"))
		}
	})
}
