package http_test

import (
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkSoldOutPlaceOrder is the rush's common request in process:
// place-order on a sold-out item by users cycling through their tokens, as
// bench/soldout.sh drives it over the network. It measures the handler
// chain's CPU and allocations without the sockets.
// With a challenge policy (suspicious, the default) the answer must cost
// the same: the sold-out check comes before the risk score.
func BenchmarkSoldOutPlaceOrder(b *testing.B) {
	for _, policy := range []string{"none", "suspicious"} {
		b.Run(policy, func(b *testing.B) { benchmarkSoldOutPlaceOrder(b, policy) })
	}
}

func benchmarkSoldOutPlaceOrder(b *testing.B, policy string) {
	h := newHarness(b, harnessOptions{})
	spec := saleSpec{items: []itemSpec{{stock: 1, limit: 1}}}
	if policy != "none" {
		spec.challenge = map[string]any{"policy": policy}
	}
	s := h.createSale(spec)
	h.clock.Advance(time.Second) // past the reaction time of the start
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
