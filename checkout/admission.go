package checkout

import (
	"context"
	"time"

	"github.com/flashsale/flashsale"
)

// defaultInventoryWait is how long a request waits for a slot in front of
// the inventory unless told otherwise. A slot normally frees within a
// millisecond, so a request that waited 50 ms is behind a store at least
// 50 times slower than usual. Telling it to retry in a second keeps
// place-order's p99 within its 500 ms target instead of queueing it
// further. (How many slots: FLASHSALE_INVENTORY_CONCURRENCY says why 256.)
const defaultInventoryWait = 50 * time.Millisecond

// inventoryGate bounds the reservations in flight to the inventory: a
// request waits a short bounded time for a slot, then is told to retry.
type inventoryGate struct {
	slots chan struct{} // a token per reservation in flight; nil: no bound
	wait  time.Duration
}

func newInventoryGate(concurrency int, wait time.Duration) inventoryGate {
	if concurrency <= 0 {
		return inventoryGate{}
	}
	if wait <= 0 {
		wait = defaultInventoryWait
	}
	return inventoryGate{slots: make(chan struct{}, concurrency), wait: wait}
}

// errInventoryBusy is shared: under overload many requests get it at once,
// and allocating one each would add to the load it reports.
var errInventoryBusy = &flashsale.Error{Code: flashsale.EOverloaded, RetryAfter: time.Second,
	Message: "too many orders are being placed right now; nothing was reserved, please retry"}

// enter takes a slot, waiting at most the gate's wait; every successful
// enter must be matched by a leave.
func (g inventoryGate) enter(ctx context.Context) error {
	if g.slots == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	// Only a request that found the gate full pays for a timer.
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return errInventoryBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g inventoryGate) leave() {
	if g.slots != nil {
		<-g.slots
	}
}
