package storetest

import (
	"runtime"
	"sync"
	"testing"

	"github.com/flashsale/flashsale"
)

// FailedWritesInABatch checks a store's group commit: writes that fail share
// a batch with writes that succeed, and each failure takes back only its own
// write, whatever its place in the batch. hold keeps the store's only
// committer busy until the function it returns is called, so that the
// writes queued meanwhile land in one batch; waiting says how many are
// queued.
func FailedWritesInABatch(t *testing.T, s flashsale.OrderStore, hold func() (release func()), waiting func() int) {
	t.Helper()
	sale := NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	taken := NewOrder(sale)
	if err := s.CreateOrder(t.Context(), taken); err != nil {
		t.Fatal(err)
	}

	release := hold()
	const writes = 30
	// The first, the last and two neighbours in the middle fail.
	fails := func(i int) bool { return i == 0 || i == writes/2 || i == writes/2+1 || i == writes-1 }
	orders := make([]*flashsale.Order, writes)
	errs := make([]error, writes)
	var wg sync.WaitGroup
	for i := range orders {
		orders[i] = NewOrder(sale)
		if fails(i) {
			orders[i].UserID, orders[i].IdempotencyKey = taken.UserID, taken.IdempotencyKey
		}
		wg.Go(func() { errs[i] = s.CreateOrder(t.Context(), orders[i]) })
	}
	for waiting() < writes {
		runtime.Gosched()
	}
	release()
	wg.Wait()

	for i, o := range orders {
		_, err := s.Order(t.Context(), o.ID)
		if fails(i) {
			if !flashsale.IsCode(errs[i], flashsale.EIdempotencyKeyReused) {
				t.Errorf("order %d with a taken key: %v, want idempotency_key_reused", i, errs[i])
			}
			if !flashsale.IsCode(err, flashsale.EOrderNotFound) {
				t.Errorf("order %d with a taken key was stored: %v", i, err)
			}
			continue
		}
		if errs[i] != nil || err != nil {
			t.Errorf("order %d: create %v, read %v", i, errs[i], err)
		}
	}
}
