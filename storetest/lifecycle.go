package storetest

import (
	"sync"
	"sync/atomic"

	"github.com/flashsale/flashsale"
)

func testPing(tt *tester) {
	if err := tt.store.Ping(tt.Context()); err != nil {
		tt.Fatalf("ping: %v", err)
	}
}

// Close in the middle of a burst of creates: every create that succeeded,
// before or during Close, is there when the store is opened again, and a
// create after Close fails.
func testCloseFlushes(tt *tester) {
	const orders = 200
	s := tt.harness.Open(tt.T)
	closed := false
	tt.Cleanup(func() {
		if !closed {
			s.Close()
		}
	})
	sale := newSale()
	if err := s.CreateSale(tt.Context(), sale); err != nil {
		tt.Fatalf("create sale: %v", err)
	}

	var (
		mu       sync.Mutex
		acked    = make(map[string]bool)
		finished atomic.Int32
		wg       sync.WaitGroup
	)
	created := make(map[string]*flashsale.Order, orders)
	quarter := make(chan struct{})
	for i := range orders {
		o := newOrder(&sale.Items[i%len(sale.Items)], user(i), now)
		created[o.ID] = o
		wg.Go(func() {
			if err := s.CreateOrder(tt.Context(), o); err == nil {
				mu.Lock()
				acked[o.ID] = true
				mu.Unlock()
			}
			if finished.Add(1) == orders/4 {
				close(quarter)
			}
		})
	}
	<-quarter
	closed = true
	if err := s.Close(); err != nil {
		tt.Fatalf("close: %v", err)
	}
	wg.Wait()
	if err := s.CreateOrder(tt.Context(), newOrder(&sale.Items[0], user(0), now)); err == nil {
		tt.Fatalf("create order after close succeeded")
	}

	reopened := tt.harness.Reopen(tt.T, s)
	tt.Cleanup(func() {
		if err := reopened.Close(); err != nil {
			tt.Errorf("close: %v", err)
		}
	})
	tt.store = reopened
	if len(acked) < orders/4 {
		tt.Fatalf("%d creates succeeded before close, want at least %d", len(acked), orders/4)
	}
	for id := range acked {
		tt.wantStoredOrder(created[id])
	}
}
