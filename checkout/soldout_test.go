package checkout_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/memory"
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
	inv := &countingInventory{Inventory: memory.NewInventory()}
	svc, sale, place := newSale(t, inv, 2)
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
