package checkout_test

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

// A reservation the inventory holds with no order in the store (its
// instance died between the two) is released by the timeout handler once
// past its deadline and the orphan grace, never before: a commit may still
// be on its way.
func TestTimeoutHandlerReleasesOrphansAfterTheGrace(t *testing.T) {
	b := newBlinkSale(t, 2)
	ctx := t.Context()
	// The orphan: reserved in the inventory, its order never committed.
	if _, err := b.inventory.Inventory.Reserve(ctx, flashsale.ReserveRequest{SaleID: b.sale.ID, ItemID: b.item, UserID: "ghost", Quantity: 1,
		OrderID: "order-never-committed", Now: b.clock.Now(), TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	available := func() int64 {
		st, err := b.svc.Stock(ctx, b.item)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Consistent() {
			t.Fatalf("stock %+v", st)
		}
		return st.Available
	}

	b.clock.Advance(10 * time.Second) // past the deadline, within the grace
	if _, err := b.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := available(); got != 1 {
		t.Fatalf("within the grace %d available, want the orphan still held", got)
	}
	b.clock.Advance(30 * time.Second)
	if _, err := b.svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := available(); got != 2 {
		t.Fatalf("past the grace %d available, want the orphan's unit back", got)
	}
	b.inStep(t)
}
