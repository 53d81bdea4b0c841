package checkout_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/memory"

	"github.com/flashsale/flashsale/internal/testenv"
)

// losableInventory is an inventory whose whole state can vanish, as Redis's
// does when it restarts without persistence.
type losableInventory struct {
	mu     sync.Mutex
	inner  *memory.Inventory
	intact bool
	locked bool
}

func (l *losableInventory) current() *memory.Inventory {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inner
}

func (l *losableInventory) lose() {
	l.mu.Lock()
	l.inner, l.intact = memory.NewInventory(), false
	l.mu.Unlock()
}

func (l *losableInventory) Load(ctx context.Context, s flashsale.ItemSnapshot) error {
	return l.current().Load(ctx, s)
}
func (l *losableInventory) Reserve(ctx context.Context, r flashsale.ReserveRequest) (flashsale.Reservation, error) {
	return l.current().Reserve(ctx, r)
}
func (l *losableInventory) Confirm(ctx context.Context, item, order string) error {
	return l.current().Confirm(ctx, item, order)
}
func (l *losableInventory) Release(ctx context.Context, item, order string) error {
	return l.current().Release(ctx, item, order)
}
func (l *losableInventory) Adjust(ctx context.Context, itemID string, w flashsale.ItemWindow) error {
	return l.current().Adjust(ctx, itemID, w)
}

func (l *losableInventory) Stock(ctx context.Context, item string) (flashsale.Stock, error) {
	return l.current().Stock(ctx, item)
}
func (l *losableInventory) Expiring(ctx context.Context, now time.Time, limit int) ([]flashsale.Reservation, error) {
	return l.current().Expiring(ctx, now, limit)
}
func (l *losableInventory) Intact(context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.intact, nil
}
func (l *losableInventory) MarkIntact(context.Context) error {
	l.mu.Lock()
	l.intact = true
	l.mu.Unlock()
	return nil
}
func (l *losableInventory) MarkLost(context.Context) error {
	l.mu.Lock()
	l.intact = false
	l.mu.Unlock()
	return nil
}
func (l *losableInventory) LockRebuild(context.Context, time.Duration) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locked {
		return nil, false, nil
	}
	l.locked = true
	return func() { l.mu.Lock(); l.locked = false; l.mu.Unlock() }, true, nil
}

func TestLostInventoryPausesSalesAndIsRebuiltFromTheStore(t *testing.T) {
	ctx := context.Background()
	inv := &losableInventory{inner: memory.NewInventory(), intact: true}
	svc, sale, place := newSale(t, inv, 5)
	item := sale.Items[0].ID
	kept, _, err := place("alice")
	if err != nil {
		t.Fatal(err)
	}
	paid, _, err := place("bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Pay(ctx, checkout.Pay{UserID: "bob", OrderID: paid.ID, Token: "tok_visa", Method: "card"}); err != nil {
		t.Fatal(err)
	}

	inv.lose()
	if _, _, err := place("carol"); !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Fatalf("a reservation against a lost inventory: %v, want unavailable", err)
	}

	watch, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.WatchHotState(watch, inv, 10*time.Millisecond, 50*time.Millisecond); close(done) }()
	defer func() { stop(); <-done }()
	testenv.Eventually(t, time.Minute, "the inventory to be rebuilt", func() bool {
		ok, _ := inv.Intact(ctx)
		return ok
	})
	stock, err := svc.Stock(ctx, item)
	if err != nil || stock != (flashsale.Stock{Total: 5, Available: 3, Reserved: 1, Sold: 1}) {
		t.Fatalf("rebuilt stock %+v, %v", stock, err)
	}
	again, created, err := place("alice")
	if err != nil || created || again.ID != kept.ID {
		t.Fatalf("alice's double click after the rebuild: %v created=%v %v", again, created, err)
	}
	for i := range 3 {
		if _, _, err := place(fmt.Sprintf("late-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := place("too-late"); !flashsale.IsCode(err, flashsale.ESoldOut) {
		t.Fatalf("after the rebuild the stock is not what the store says: %v", err)
	}
}
