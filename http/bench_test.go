package http_test

import (
	"encoding/json"
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
// With a challenge policy (suspicious, the default) or a waiting room the
// answer must cost the same: the sold-out check comes before the risk
// score and the admission token.
func BenchmarkSoldOutPlaceOrder(b *testing.B) {
	for name, spec := range map[string]saleSpec{
		"plain":        {},
		"suspicious":   {challenge: map[string]any{"policy": "suspicious"}},
		"waiting_room": {waitingRoom: map[string]any{"admit_per_minute": 6000}},
	} {
		b.Run(name, func(b *testing.B) { benchmarkSoldOutPlaceOrder(b, spec) })
	}
}

func benchmarkSoldOutPlaceOrder(b *testing.B, spec saleSpec) {
	h := newHarness(b, harnessOptions{})
	spec.items = []itemSpec{{stock: 1, limit: 1}}
	s := h.createSale(spec)
	if spec.waitingRoom != nil {
		// The winner was admitted: the stock goes through the line.
		h.clock.Advance(time.Second)
		h.do("POST", "/flash-sales/"+s.ID+"/queue", h.token("winner", false), nil)
		h.clock.Advance(time.Second)
		if err := h.service.TickWaitingRooms(b.Context()); err != nil {
			b.Fatal(err)
		}
		var ticket struct {
			Token string `json:"admission_token"`
		}
		if err := json.Unmarshal(h.do("GET", "/flash-sales/"+s.ID+"/queue", h.token("winner", false), nil).Body, &ticket); err != nil {
			b.Fatal(err)
		}
		expect(b, h.placeOrder(s.ID, s.Items[0], "winner", 1, "Flashsale-Admission", ticket.Token), 201, "")
	}
	h.clock.Advance(time.Second) // past the reaction time of the start
	if spec.waitingRoom == nil {
		expect(b, h.placeOrder(s.ID, s.Items[0], "winner", 1), 201, "")
	}
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
