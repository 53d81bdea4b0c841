package checkout_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// switchLease is a lease the test hands to the service or takes away. It
// counts the handler's tries, one a tick.
type switchLease struct {
	held     atomic.Bool
	released atomic.Bool
	tries    atomic.Int64
}

func (l *switchLease) Hold(context.Context, time.Duration) (bool, error) {
	l.tries.Add(1)
	return l.held.Load(), nil
}
func (l *switchLease) Release(context.Context) error {
	l.released.Store(true)
	return nil
}

// Only the instance holding the timeout lease scans the expiry index.
func TestTimeoutHandlerRunsOnlyWithTheLease(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var clock atomic.Pointer[time.Time]
	start := time.Now()
	clock.Store(&start)
	lease := &switchLease{}
	svc, err := checkout.New(checkout.Config{
		Inventory: memory.NewInventory(), Store: store, Payments: paysim.New(paysim.Options{}),
		Now: func() time.Time { return *clock.Load() }, TimeoutLease: lease,
	})
	if err != nil {
		t.Fatal(err)
	}
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: start.Add(-time.Minute), EndTime: start.Add(time.Hour),
		ReservationTTL: time.Minute,
		Items:          []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 1, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	order, _, err := svc.PlaceOrder(ctx, checkout.PlaceOrder{UserID: "u", SaleID: sale.ID, ItemID: sale.Items[0].ID, Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	past := start.Add(2 * time.Minute)
	clock.Store(&past)

	run, stop := context.WithCancel(ctx)
	var handler sync.WaitGroup
	handler.Go(func() { svc.RunTimeouts(run, 5*time.Millisecond, time.Hour) })
	status := func() flashsale.OrderStatus {
		o, err := svc.Order(ctx, "u", order.ID)
		if err != nil {
			t.Fatal(err)
		}
		return o.Status
	}

	testenv.Eventually(t, time.Minute, "twenty ticks without the lease", func() bool { return lease.tries.Load() >= 20 })
	if got := status(); got != flashsale.OrderReserved {
		t.Fatalf("without the lease the order became %s; the handler must leave it to the leader", got)
	}
	if svc.LeadingTimeouts() {
		t.Fatal("LeadingTimeouts without the lease")
	}

	lease.held.Store(true)
	stock := func() flashsale.Stock {
		st, err := svc.Stock(ctx, sale.Items[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Consistent() {
			t.Fatalf("stock %+v", st)
		}
		return st
	}
	// The store expires the order first; the inventory follows a moment
	// later.
	testenv.Eventually(t, time.Minute, "the order expired and its unit back, with the lease", func() bool {
		return status() == flashsale.OrderExpired && stock().Available == 1
	})
	if !svc.LeadingTimeouts() {
		t.Fatal("not LeadingTimeouts with the lease")
	}

	stop()
	handler.Wait()
	if !lease.released.Load() {
		t.Error("the leader did not release the lease when it stopped")
	}
}
