package checkout_test

import (
	"context"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// A reservation the inventory holds with no order in the store (its
// instance died between the two) is released by the timeout handler once
// past its deadline and the orphan grace, never before: a commit may still
// be on its way.
func TestTimeoutHandlerReleasesOrphansAfterTheGrace(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	start := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(start)
	inventory := memory.NewInventory()
	svc, err := checkout.New(checkout.Config{Inventory: inventory, Store: store, Payments: paysim.New(paysim.Options{}),
		Now: clock.Now, OrphanGrace: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: start.Add(-time.Minute), EndTime: start.Add(time.Hour),
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 2, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	item := sale.Items[0].ID
	// The orphan: reserved in the inventory, its order never committed.
	if _, err := inventory.Reserve(ctx, flashsale.ReserveRequest{SaleID: sale.ID, ItemID: item, UserID: "ghost", Quantity: 1,
		OrderID: "order-never-committed", Now: start, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	available := func() int64 {
		st, err := svc.Stock(ctx, item)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Consistent() {
			t.Fatalf("stock %+v", st)
		}
		return st.Available
	}

	clock.Advance(10 * time.Second) // past the deadline, within the grace
	if _, err := svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := available(); got != 1 {
		t.Fatalf("within the grace %d available, want the orphan still held", got)
	}
	clock.Advance(30 * time.Second)
	if _, err := svc.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := available(); got != 2 {
		t.Fatalf("past the grace %d available, want the orphan's unit back", got)
	}
}
