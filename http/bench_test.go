package http_test

import (
	"encoding/json"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/storetest"
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
		"plain":      {},
		"suspicious": {challenge: map[string]any{"policy": "suspicious"}},
		// Paced: the pace is read only where a challenge is issued or
		// checked, after the sold-out answer.
		"suspicious_paced": {challenge: map[string]any{"policy": "suspicious", "pace": 50_000}},
		"waiting_room":     {waitingRoom: map[string]any{"admit_per_minute": 6000}},
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
	if spec.waitingRoom == nil {
		h.clock.Advance(time.Second) // past the reaction time of the start
		expect(b, h.placeOrder(s.ID, s.Items[0], "winner", 1), 201, "")
	}
	// A run lasts longer than the distributed inventory believes a
	// sold-out flag without reading it again (a second): the presses keep
	// it read (redis.Inventory.SoldOutFor), or in the waiting room, where
	// they never reach the inventory, they would be refused
	// admission_required from then on.
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

// BenchmarkSalePage is the sale page of a running sale, read by the herd:
// anonymously, signed in, and signed in on a sale under policy suspicious,
// whose signed-in reads record each shopper's first sight of the button.
func BenchmarkSalePage(b *testing.B) {
	for _, c := range []struct {
		name     string
		spec     saleSpec
		signedIn bool
	}{
		{"anonymous", saleSpec{}, false},
		{"signed_in", saleSpec{}, true},
		{"signed_in_suspicious", saleSpec{challenge: map[string]any{"policy": "suspicious"}}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newHarness(b, harnessOptions{})
			s := h.createSale(c.spec)
			h.clock.Advance(time.Second)
			tokens := make([]string, 1000)
			for i := range tokens {
				tokens[i] = "Bearer " + h.token(fmt.Sprint("user-", i), false)
			}
			handler := h.server.Config.Handler
			path := "/flash-sales/" + s.ID
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r := httptest.NewRequest("GET", path, nil)
				if c.signedIn {
					r.Header.Set("Authorization", tokens[i%len(tokens)])
				}
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, r)
				if w.Code != nethttp.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkOrderExport exports a sale of exportOrders orders as CSV (the
// orders written straight into the store) and reports the heap the
// export added at its peak, sampled while the answer streams: the export
// holds a page at a time, so the figure should not follow the sale's size.
func BenchmarkOrderExport(b *testing.B) {
	for _, orders := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(orders), func(b *testing.B) { benchmarkOrderExport(b, orders) })
	}
}

func benchmarkOrderExport(b *testing.B, orders int) {
	h := newHarness(b, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: int64(orders), limit: 1}}})
	sale, err := h.store.Sale(b.Context(), s.ID)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for range orders {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := h.store.CreateOrder(b.Context(), storetest.NewOrder(sale)); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	handler := h.server.Config.Handler
	var peak uint64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		r := httptest.NewRequest("GET", "/admin/flash-sales/"+s.ID+"/orders", nil)
		r.Header.Set("Authorization", "Bearer "+h.admin())
		r.Header.Set("Accept", "text/csv")
		w := &countingWriter{header: nethttp.Header{}, sample: func() {
			var now runtime.MemStats
			runtime.ReadMemStats(&now)
			if now.HeapInuse > before.HeapInuse {
				peak = max(peak, now.HeapInuse-before.HeapInuse)
			}
		}}
		handler.ServeHTTP(w, r)
		if w.lines != orders+1 {
			b.Fatalf("the export had %d lines, want %d", w.lines, orders+1)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// countingWriter counts the lines of an answer without keeping them, and
// samples the heap every 1,000 lines.
type countingWriter struct {
	header nethttp.Header
	lines  int
	sample func()
}

func (w *countingWriter) Header() nethttp.Header { return w.header }
func (w *countingWriter) WriteHeader(int)        {}
func (w *countingWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			w.lines++
			if w.lines%1000 == 0 {
				w.sample()
			}
		}
	}
	return len(p), nil
}
