package http_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"
)

// A key twice in one object, or a key that matches a field only
// case-insensitively, is refused on every route that reads a body:
// encoding/json would take the last or the folded one, while nginx routes
// place-order on the first "item_id" it finds. The error names the key.
func TestBodiesWithARepeatedOrCaseVariantKeyAreRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 5, limit: 1}, {stock: 5, limit: 1}}})
	a, b := s.Items[0], s.Items[1]
	alice := h.token("alice", false)
	orders := "/flash-sales/" + s.ID + "/orders"
	order := orderID(t, h.placeOrder(s.ID, a, "bob", 1))
	pay := "/orders/" + order + "/pay"
	bob := h.token("bob", false)
	sale := `"name":"x","start_time":"2026-06-01T00:00:00Z","end_time":"2026-06-02T00:00:00Z"`
	item := `"product_id":"p","name":"P","original_price":"9.00","sale_price":"5.00","currency":"USD","total_quantity":1`

	cases := []struct {
		name, path, token, body, field string
	}{
		{"item_id twice", orders, alice, `{"item_id":"` + a + `","item_id":"` + b + `","quantity":1}`, "item_id"},
		{"item_id and ITEM_ID", orders, alice, `{"item_id":"` + a + `","ITEM_ID":"` + b + `","quantity":1}`, "ITEM_ID"},
		{"ITEM_ID alone", orders, alice, `{"ITEM_ID":"` + a + `","quantity":1}`, "ITEM_ID"},
		{"Quantity", orders, alice, `{"item_id":"` + a + `","Quantity":1}`, "Quantity"},
		{"quantity twice", orders, alice, `{"item_id":"` + a + `","quantity":1,"quantity":1}`, "quantity"},
		{"item_id twice, once escaped", orders, alice, `{"item_id":"` + a + `","item\u005fid":"` + b + `","quantity":1}`, "item_id"},
		{"payment_token twice", pay, bob, `{"payment_token":"tok_visa","payment_method":"credit_card","payment_token":"tok_visa"}`, "payment_token"},
		{"Payment_Method", pay, bob, `{"payment_token":"tok_visa","Payment_Method":"credit_card"}`, "Payment_Method"},
		{"name twice", "/admin/flash-sales", h.admin(), `{` + sale + `,"name":"y","items":[{` + item + `}]}`, "name"},
		{"an item's key twice", "/admin/flash-sales", h.admin(), `{` + sale + `,"items":[{` + item + `},{` + item + `,"total_quantity":2}]}`, "items[1].total_quantity"},
		{"an item's key in capitals", "/admin/flash-sales", h.admin(), `{` + sale + `,"items":[{` + item + `,"PER_USER_LIMIT":1}]}`, "items[0].PER_USER_LIMIT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", c.path, c.token, c.body)
			expect(t, r, 400, "invalid_request")
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != c.field {
				t.Errorf("field %v, want %s (%s)", got, c.field, r.Body)
			}
		})
	}
	// Nothing was written: no reservation, no payment, no sale.
	h.wantStock(s.ID, a, 4, 1, 0)
	h.wantStock(s.ID, b, 5, 0, 0)
	if n := h.payments.Charges(); n != 0 {
		t.Errorf("%d charges made", n)
	}
	if list := h.do("GET", "/flash-sales", "", nil).JSON(t)["sales"].([]any); len(list) != 1 {
		t.Errorf("%d sales, want 1", len(list))
	}
	// The same keys, each once and spelled as documented, are read.
	expect(t, h.do("POST", orders, alice, `{"quantity":1,"item_id":"`+b+`"}`), 201, "")
	expect(t, h.do("POST", pay, bob, `{"payment_method":"credit_card","payment_token":"tok_visa"}`), 200, "")
}

// A client that declares a body over 64 KiB and waits for 100 Continue
// before sending it is answered 413 at once, from the headers alone: no
// 100 Continue, no wait for a body that will never be read. A body of
// 64 KiB exactly is still asked for.
func TestOversizedBodyBehindExpectContinueIsRefusedAtOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	alice := h.token("alice", false)
	for _, c := range []struct {
		name, path, token string
		length            int
		status            int
	}{
		{"place-order, 64 KiB and a byte", "/flash-sales/" + s.ID + "/orders", alice, 64<<10 + 1, 413},
		{"place-order, 10 MiB", "/flash-sales/" + s.ID + "/orders", alice, 10 << 20, 413},
		{"create sale, 100 KiB", "/admin/flash-sales", h.admin(), 100 << 10, 413},
		{"place-order, 64 KiB", "/flash-sales/" + s.ID + "/orders", alice, 64 << 10, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := expectContinue(t, h, c.path, c.token, c.length)
			if resp.StatusCode != c.status {
				t.Fatalf("first answer %s, want %d", resp.Status, c.status)
			}
			if c.status != 413 {
				return
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r := &response{Status: resp.StatusCode, Header: resp.Header, Body: body}
			expect(t, r, 413, "request_too_large")
		})
	}
	h.wantStock(s.ID, s.Items[0], 10, 0, 0)
}

// expectContinue sends a POST's headers alone, with Expect: 100-continue
// and a Content-Length of length, over a connection of its own, and
// returns the first answer: 100 Continue, or the final one.
func expectContinue(t *testing.T, h *harness, path, token string, length int) *nethttp.Response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.server.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Only against a hang: an answer that never comes fails the read.
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: flashsale\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", path, token, length)
	resp, err := nethttp.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the headers: %v", err)
	}
	return resp
}

// A body in a content coding other than identity is refused with 415
// unsupported_media_type, naming the header, and Accept-Encoding says what
// would be read; nothing is written. The header was ignored: a gzipped
// body was a 400 for malformed JSON, and a plain body labelled gzip was
// read as if it were not.
func TestBodiesWithAContentEncodingAreRefused(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	body := `{"item_id":"` + s.Items[0] + `","quantity":1}`
	var gzipped bytes.Buffer
	zw := gzip.NewWriter(&gzipped)
	zw.Write([]byte(body))
	zw.Close()
	order := orderID(t, h.placeOrder(s.ID, s.Items[0], "bob", 1))
	orders := "/flash-sales/" + s.ID + "/orders"
	alice, bob := h.token("alice", false), h.token("bob", false)

	for _, c := range []struct {
		name, path, token, body, coding string
	}{
		{"gzipped place-order", orders, alice, gzipped.String(), "gzip"},
		{"plain place-order labelled gzip", orders, alice, body, "gzip"},
		{"identity, then gzip", orders, alice, gzipped.String(), "identity, gzip"},
		{"br on pay", "/orders/" + order + "/pay", bob, `{"payment_token":"tok_visa","payment_method":"credit_card"}`, "br"},
		{"deflate on cancel", "/orders/" + order + "/cancel", bob, "", "deflate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", c.path, c.token, c.body, "Content-Encoding", c.coding)
			expect(t, r, 415, "unsupported_media_type")
			if got := r.JSON(t)["error"].(map[string]any)["field"]; got != "Content-Encoding" {
				t.Errorf("field %v, want Content-Encoding", got)
			}
			if got := r.Header.Get("Accept-Encoding"); got != "identity" {
				t.Errorf("Accept-Encoding %q, want identity", got)
			}
		})
	}
	// bob's order is still reserved and unpaid; alice has none.
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)
	if n := h.payments.Charges(); n != 0 {
		t.Errorf("%d charges made", n)
	}
	expect(t, h.do("POST", orders, alice, body, "Content-Encoding", "identity"), 201, "")
}
