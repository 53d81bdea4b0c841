package checkout_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/memory"
)

// lateInventory hides its reservations from the first read of the live
// ones, as if they had been made just after it.
type lateInventory struct {
	*memory.Inventory
	reads atomic.Int64
}

func (l *lateInventory) Expiring(ctx context.Context, now time.Time, limit int) ([]flashsale.Reservation, error) {
	if l.reads.Add(1) == 1 {
		return nil, nil
	}
	return l.Inventory.Expiring(ctx, now, limit)
}

// A reservation made while reconcile reads (after its read of the
// inventory, before its read of the store) is not missing from the
// inventory: reconcile reads the inventory again before it says so.
func TestReconcileIgnoresReservationsMadeWhileItReads(t *testing.T) {
	inv := &lateInventory{Inventory: memory.NewInventory()}
	svc, sale, place := newSale(t, inv, 3)
	if _, _, err := place("alice"); err != nil {
		t.Fatal(err)
	}
	inv.reads.Store(0)
	report, err := svc.Reconcile(context.Background(), sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if it := report.Items[0]; len(it.MissingFromInventory) != 0 || !it.Consistent || report.RebuildRequested {
		t.Fatalf("report %+v: a reservation made meanwhile counted as missing", report)
	}
}
