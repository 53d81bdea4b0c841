package storetest

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
)

// FailedWritesInABatch checks a store's group commit: writes that fail share
// a batch with writes that succeed, and each failure takes back only its own
// write, whatever its place in the batch. A batch in which every write
// succeeds comes first, since a store may run it otherwise (its orders in
// one statement). Each order stored has its own notification, on the
// store's channels. hold keeps the store's only committer busy until the
// function it returns is called, so that the writes queued meanwhile land
// in one batch; waiting says how many are queued. The store is opened with
// channels.
func FailedWritesInABatch(t *testing.T, s flashsale.OrderStore, channels []string, hold func() (release func()), waiting func() int) {
	t.Helper()
	sale := NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	taken := NewOrder(sale)
	if err := s.CreateOrder(t.Context(), taken); err != nil {
		t.Fatal(err)
	}

	const writes = 30
	for _, batch := range []struct {
		name  string
		fails func(i int) bool
	}{
		{"every write succeeds", func(int) bool { return false }},
		// The first, the last and two neighbours in the middle fail.
		{"four writes fail", func(i int) bool { return i == 0 || i == writes/2 || i == writes/2+1 || i == writes-1 }},
	} {
		orders := make([]*flashsale.Order, writes)
		for i := range orders {
			orders[i] = NewOrder(sale)
			orders[i].Quantity = int64(1 + i%3) // each notification must carry its own order's
			if batch.fails(i) {
				orders[i].UserID, orders[i].IdempotencyKey = taken.UserID, taken.IdempotencyKey
			}
		}
		errs := createInOneBatch(t, s, orders, hold, waiting)
		for i, o := range orders {
			_, err := s.Order(t.Context(), o.ID)
			if batch.fails(i) {
				if !flashsale.IsCode(errs[i], flashsale.EIdempotencyKeyReused) {
					t.Errorf("%s: order %d with a taken key: %v, want idempotency_key_reused", batch.name, i, errs[i])
				}
				if !flashsale.IsCode(err, flashsale.EOrderNotFound) {
					t.Errorf("%s: order %d with a taken key was stored: %v", batch.name, i, err)
				}
				continue
			}
			if errs[i] != nil || err != nil {
				t.Errorf("%s: order %d: create %v, read %v", batch.name, i, errs[i], err)
				continue
			}
			checkOwnNotification(t, s, o, channels)
		}
	}
}

// createInOneBatch creates the orders concurrently while the store's
// committer is held, so that they are committed in one batch, and returns
// each one's outcome.
func createInOneBatch(t *testing.T, s flashsale.OrderStore, orders []*flashsale.Order, hold func() (release func()), waiting func() int) []error {
	release := hold()
	errs := make([]error, len(orders))
	var wg sync.WaitGroup
	for i := range orders {
		wg.Go(func() { errs[i] = s.CreateOrder(t.Context(), orders[i]) })
	}
	for waiting() < len(orders) {
		runtime.Gosched()
	}
	release()
	wg.Wait()
	return errs
}

// checkOwnNotification checks that the order's user was told of it once,
// with its own figures, and that the telling is owed to each channel.
func checkOwnNotification(t *testing.T, s flashsale.OrderStore, o *flashsale.Order, channels []string) {
	t.Helper()
	outbox, ok := s.(flashsale.Outbox)
	if !ok {
		return
	}
	// A store may hold a committed notification back while an older
	// transaction is open (other tests' too, on a shared database), so
	// that a reader never skips one: it comes, later.
	var told []flashsale.Notification
	testenv.Eventually(t, 30*time.Second, "order "+o.ID+"'s notification to be visible", func() bool {
		var err error
		if told, err = outbox.NotificationsAfter(t.Context(), o.UserID, "", 10); err != nil {
			t.Fatal(err)
		}
		return len(told) > 0
	})
	if len(told) != 1 {
		t.Errorf("order %s: its user was told %d times, want once", o.ID, len(told))
		return
	}
	n := told[0]
	if n.OrderID != o.ID || n.Event != flashsale.EventOrderReserved || n.Quantity != o.Quantity ||
		n.ItemID != o.ItemID || n.OccurredAt.Sub(o.ReservedAt).Abs() >= time.Microsecond {
		t.Errorf("order %s (%d units of %s, reserved at %s): told %+v", o.ID, o.Quantity, o.ItemID, o.ReservedAt, n)
	}
	deliveries, err := outbox.Deliveries(t.Context(), n.ID)
	if err != nil {
		t.Fatal(err)
	}
	owed := map[string]bool{}
	for _, d := range deliveries {
		owed[d.Channel] = d.Pending()
	}
	for _, channel := range channels {
		if !owed[channel] {
			t.Errorf("order %s: its notification is not owed to %s: %+v", o.ID, channel, deliveries)
		}
	}
	if len(deliveries) != len(channels) {
		t.Errorf("order %s: deliveries %+v, want one on each of %v", o.ID, deliveries, channels)
	}
}
