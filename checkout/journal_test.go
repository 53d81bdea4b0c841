package checkout_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/sqlite"
)

// journaledSale is a service that acknowledges reservations from a Redis
// journal (on a server of the test's own with WAITAOF) with no persister
// running, so an order stays only journaled until something asks for it.
type journaledSale struct {
	svc     *checkout.Service
	store   *sqlite.Store
	inv     *redis.Inventory
	journal *redis.Journal
	sale    *flashsale.Sale
	clock   *testclock.Clock
}

func newJournaledSale(t *testing.T, stock int64) *journaledSale {
	t.Helper()
	ctx := context.Background()
	addr, _ := redistest.StartAOFServer(t, t.TempDir(), 0)
	client := redistest.Connect(t, "redis://"+addr)
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: "fs"})
	journal := redistest.Journal(t, inv, redis.JournalOptions{Store: store})
	start := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(start)
	// An orphan grace of a nanosecond: the journal, not the grace, is what
	// must keep the timeout handler off an acknowledged order.
	svc, err := checkout.New(checkout.Config{Inventory: inv, Store: checkout.JournaledStore(store, journal, nil), Journal: journal,
		Payments: paysim.New(paysim.Options{}), Now: clock.Now, OrphanGrace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: start.Add(-time.Minute), EndTime: start.Add(time.Hour),
		ReservationTTL: 5 * time.Minute,
		Items:          []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: stock, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return &journaledSale{svc: svc, store: store, inv: inv, journal: journal, sale: sale, clock: clock}
}

func (js *journaledSale) place(t *testing.T, user string) *flashsale.Order {
	t.Helper()
	o, created, err := js.svc.PlaceOrder(context.Background(), checkout.PlaceOrder{
		UserID: user, SaleID: js.sale.ID, ItemID: js.sale.Items[0].ID, Quantity: 1, IdempotencyKey: "key-" + user})
	if err != nil || !created {
		t.Fatalf("place order for %s: %v (created %v)", user, err, created)
	}
	return o
}

func (js *journaledSale) stock(t *testing.T) flashsale.Stock {
	t.Helper()
	stock, err := js.inv.Stock(context.Background(), js.sale.Items[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !stock.Consistent() {
		t.Fatalf("inventory inconsistent: %+v", stock)
	}
	return stock
}

// A journaled order is acknowledged before the store has it, and every
// next step finds it: the shopper's view, a retry, a cancellation.
func TestJournaledOrderIsFoundBeforeItIsPersisted(t *testing.T) {
	js := newJournaledSale(t, 5)
	ctx := context.Background()
	placed := js.place(t, "alice")
	if _, err := js.store.Order(ctx, placed.ID); !flashsale.IsCode(err, flashsale.EOrderNotFound) {
		t.Fatalf("the store had the order before any persister ran: %v", err)
	}
	seen, err := js.svc.Order(ctx, "alice", placed.ID)
	if err != nil || seen.ID != placed.ID || seen.Status != flashsale.OrderReserved || !seen.ExpiresAt.Equal(placed.ExpiresAt) {
		t.Fatalf("alice's order: %+v, %v; placed %+v", seen, err, placed)
	}
	again, created, err := js.svc.PlaceOrder(ctx, checkout.PlaceOrder{
		UserID: "alice", SaleID: js.sale.ID, ItemID: js.sale.Items[0].ID, Quantity: 1, IdempotencyKey: "key-alice"})
	if err != nil || created || again.ID != placed.ID {
		t.Fatalf("retry: %+v created=%v, %v; want order %s", again, created, err, placed.ID)
	}
	bob := js.place(t, "bob")
	if _, err := js.svc.Cancel(ctx, "bob", bob.ID); err != nil {
		t.Fatalf("cancel a journaled order: %v", err)
	}
	if stock := js.stock(t); stock.Reserved != 1 || stock.Available != 4 {
		t.Fatalf("after alice's order and bob's cancellation: %+v", stock)
	}
}

// The timeout handler finds journaled orders through the journal: it
// expires them at their deadline and never releases them as orphans.
func TestTimeoutHandlerExpiresJournaledOrders(t *testing.T) {
	js := newJournaledSale(t, 5)
	ctx := context.Background()
	var orders []*flashsale.Order
	for i := range 3 {
		orders = append(orders, js.place(t, fmt.Sprintf("user-%d", i)))
	}
	if expired, err := js.svc.ExpireDue(ctx); err != nil || expired != 0 {
		t.Fatalf("before the deadline: expired %d, %v", expired, err)
	}
	if stock := js.stock(t); stock.Reserved != 3 {
		t.Fatalf("before the deadline the handler released journaled orders: %+v", stock)
	}
	js.clock.Advance(js.sale.ReservationTTL + time.Second)
	expired, err := js.svc.ExpireDue(ctx)
	if err != nil || expired != 3 {
		t.Fatalf("after the deadline: expired %d, %v; want 3", expired, err)
	}
	for _, o := range orders {
		stored, err := js.store.Order(ctx, o.ID)
		if err != nil || stored.Status != flashsale.OrderExpired {
			t.Fatalf("order %s after expiry: %+v, %v", o.ID, stored, err)
		}
	}
	if stock := js.stock(t); stock.Available != 5 {
		t.Fatalf("after expiry: %+v", stock)
	}
}

// An instance that acknowledges after the store's commit, sharing the
// inventory with one that journals (a mixed fleet, a change of
// configuration, or the reconcile command), takes no journaled order for
// an orphan: with the journal's drain it finds them as the journaling
// instance does.
func TestDrainKeepsJournaledOrdersFromOtherInstances(t *testing.T) {
	js := newJournaledSale(t, 5)
	ctx := context.Background()
	for i := range 3 {
		js.place(t, fmt.Sprintf("user-%d", i))
	}
	other, err := checkout.New(checkout.Config{Inventory: js.inv, Store: checkout.JournaledStore(js.store, js.journal, nil),
		Payments: paysim.New(paysim.Options{}), Now: js.clock.Now, OrphanGrace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	report, err := other.Reconcile(ctx, js.sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if item := report.Items[0]; len(item.Orphans) != 0 || !item.Consistent {
		t.Fatalf("reconcile from the other instance: %+v", item)
	}
	js.clock.Advance(js.sale.ReservationTTL + time.Second)
	if expired, err := other.ExpireDue(ctx); err != nil || expired != 3 {
		t.Fatalf("the other instance's timeout handler expired %d, %v; want the 3 journaled orders", expired, err)
	}
	if stock := js.stock(t); stock.Available != 5 || stock.Reserved != 0 {
		t.Fatalf("after expiry: %+v", stock)
	}
}
