package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// heldInventory holds one user's reservations inside Reserve until the test
// opens the gate, so the inventory can be caught busy.
type heldInventory struct {
	*memory.Inventory
	user    string
	entered chan struct{}
	gate    chan struct{}
}

func (h *heldInventory) Reserve(ctx context.Context, r flashsale.ReserveRequest) (flashsale.Reservation, error) {
	if r.UserID == h.user {
		h.entered <- struct{}{}
		<-h.gate
	}
	return h.Inventory.Reserve(ctx, r)
}

func TestABusyInventoryAnswersOverloadedAndReservesNothing(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	inv := &heldInventory{Inventory: memory.NewInventory(), user: "alice",
		entered: make(chan struct{}, 1), gate: make(chan struct{})}
	// The wait is short only to keep the test quick: while alice holds the
	// one slot, no wait is long enough for bob.
	svc, err := checkout.New(checkout.Config{Inventory: inv, Store: store, Payments: paysim.New(paysim.Options{}),
		InventoryConcurrency: 1, InventoryWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: now.Add(-time.Minute), EndTime: now.Add(time.Hour),
		Items: []flashsale.Item{
			{ProductID: "p", Name: "phone", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 5, PerUserLimit: 1},
			{ProductID: "q", Name: "watch", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 1, PerUserLimit: 1},
		}})
	if err != nil {
		t.Fatal(err)
	}
	phone, watch := sale.Items[0].ID, sale.Items[1].ID
	place := func(user, item string) error {
		_, err := svc.SubmitOrder(ctx, checkout.PlaceOrder{UserID: user, SaleID: sale.ID, ItemID: item, Quantity: 1})
		return err
	}
	if err := place("carol", watch); err != nil {
		t.Fatal(err)
	}

	alice := make(chan error, 1)
	go func() { alice <- place("alice", phone) }()
	<-inv.entered // alice holds the only slot

	err = place("bob", phone)
	var e *flashsale.Error
	if !errors.As(err, &e) || e.Code != flashsale.EOverloaded || e.RetryAfter != time.Second {
		t.Fatalf("bob while the inventory is busy: %v, want overloaded with RetryAfter 1s", err)
	}
	// The sold-out answer is decided before the slot: it must not come
	// back overloaded after a wait.
	if err := place("dave", watch); !flashsale.IsCode(err, flashsale.ESoldOut) {
		t.Fatalf("sold-out item while the inventory is busy: %v, want sold_out", err)
	}
	wantStock(t, svc, sale.ID, phone, flashsale.Stock{Total: 5, Available: 5})

	close(inv.gate)
	if err := <-alice; err != nil {
		t.Fatalf("alice: %v", err)
	}
	if err := place("bob", phone); err != nil {
		t.Fatalf("bob once the slot is free: %v", err)
	}
	wantStock(t, svc, sale.ID, phone, flashsale.Stock{Total: 5, Available: 3, Reserved: 2})
	stats, err := svc.Stats(ctx, sale.ID)
	if err != nil || stats[0].Rejections[flashsale.EOverloaded] != 1 {
		t.Fatalf("stats %+v %v, want one overloaded rejection", stats, err)
	}
}

// wantStock checks the item's stock and the invariant
// available + reserved + sold == total.
func wantStock(t *testing.T, svc *checkout.Service, saleID, itemID string, want flashsale.Stock) {
	t.Helper()
	stats, err := svc.Stats(context.Background(), saleID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range stats {
		if !it.Stock.Consistent() {
			t.Fatalf("invariant broken for item %s: %+v", it.ItemID, it.Stock)
		}
		if it.ItemID == itemID && it.Stock != want {
			t.Fatalf("stock %+v, want %+v", it.Stock, want)
		}
	}
}
