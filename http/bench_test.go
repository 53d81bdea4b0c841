package http_test

import (
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkSoldOutPlaceOrder is the rush's common request in process:
// place-order on a sold-out item by users cycling through their tokens, as
// bench/soldout.sh drives it over the network. It measures the handler
// chain's CPU and allocations without the sockets.
func BenchmarkSoldOutPlaceOrder(b *testing.B) {
	h := newHarness(b, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 1, limit: 1}}})
	expect(b, h.placeOrder(s.ID, s.Items[0], "winner", 1), 201, "")
	tokens := make([]string, 1000)
	for i := range tokens {
		tokens[i] = "Bearer " + h.token(fmt.Sprint("user-", i), false)
	}
	handler := h.server.Config.Handler
	path := "/flash-sales/" + s.ID + "/orders"
	body := `{"item_id":"` + s.Items[0] + `","quantity":1}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", tokens[i%len(tokens)])
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if w.Code != nethttp.StatusConflict {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
