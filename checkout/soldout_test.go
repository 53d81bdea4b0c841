package checkout_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// countingInventory counts the reservations that reach the inventory.
type countingInventory struct {
	*memory.Inventory
	reserves atomic.Int64
}

func (c *countingInventory) Reserve(ctx context.Context, r flashsale.ReserveRequest) (flashsale.Reservation, error) {
	c.reserves.Add(1)
	return c.Inventory.Reserve(ctx, r)
}

func TestSoldOutIsAnsweredWithoutTheInventory(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	inv := &countingInventory{Inventory: memory.NewInventory()}
	svc, err := checkout.New(checkout.Config{Inventory: inv, Store: store, Payments: paysim.New(paysim.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: now.Add(-time.Minute), EndTime: now.Add(time.Hour),
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 2, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	item := sale.Items[0].ID
	place := func(user string) (*flashsale.Order, bool, error) {
		return svc.PlaceOrder(ctx, checkout.PlaceOrder{UserID: user, SaleID: sale.ID, ItemID: item, Quantity: 1})
	}
	held, _, err := place("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := place("bob"); err != nil {
		t.Fatal(err)
	}
	before := inv.reserves.Load()
	for i := range 1000 {
		if _, _, err := place(fmt.Sprintf("late-%d", i)); !flashsale.IsCode(err, flashsale.ESoldOut) {
			t.Fatalf("attempt %d: %v, want sold_out", i, err)
		}
	}
	if calls := inv.reserves.Load() - before; calls != 0 {
		t.Fatalf("%d sold-out attempts reached the inventory", calls)
	}
	// A holder's double click still gets the reservation back.
	again, created, err := place("alice")
	if err != nil || created || again.ID != held.ID {
		t.Fatalf("holder on a sold-out item: %v %v %v", again, created, err)
	}
	stats, err := svc.Stats(ctx, sale.ID)
	if err != nil || stats[0].Rejections[flashsale.ESoldOut] != 1000 || !stats[0].Stock.Consistent() {
		t.Fatalf("stats %+v %v", stats, err)
	}
}
