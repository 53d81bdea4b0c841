package checkout_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/nats"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// newQueuedSale starts a service with an embedded NATS order queue of the
// given capacity and creates a queued-admission sale of one item.
func newQueuedSale(t *testing.T, stock, capacity int64) (*checkout.Service, *flashsale.Sale) {
	t.Helper()
	ctx := context.Background()
	server, err := nats.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Close)
	queue, err := nats.NewOrderQueue(ctx, server.Conn(), nats.QueueOptions{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := checkout.New(checkout.Config{Inventory: memory.NewInventory(), Store: store,
		Payments: paysim.New(paysim.Options{}), OrderQueue: queue})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "q", StartTime: now.Add(-time.Minute), EndTime: now.Add(time.Hour),
		Admission: flashsale.AdmissionQueued,
		Items:     []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: stock, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, sale
}

func runWorkers(t *testing.T, svc *checkout.Service) {
	ctx, stop := context.WithCancel(context.Background())
	var done sync.WaitGroup
	done.Go(func() {
		if err := svc.RunOrderWorkers(ctx, 1000); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { stop(); done.Wait() })
}

func settled(t *testing.T, svc *checkout.Service, user, requestID string) *flashsale.OrderRequestOutcome {
	t.Helper()
	var outcome *flashsale.OrderRequestOutcome
	testenv.Eventually(t, 10*time.Second, "request "+requestID+" to be settled", func() bool {
		var err error
		if _, outcome, err = svc.OrderRequest(context.Background(), user, requestID); err != nil {
			t.Fatal(err)
		}
		return outcome != nil
	})
	return outcome
}

// A herd through the queue gets exactly the stock, each request one
// outcome, and the rest sold_out.
func TestQueuedAdmissionSellsExactlyTheStock(t *testing.T) {
	const stock, users = 5, 30
	svc, sale := newQueuedSale(t, stock, 1000)
	ctx := context.Background()
	requests := map[string]string{} // user -> request id
	for i := range users {
		user := fmt.Sprintf("u%d", i)
		sub, err := svc.SubmitOrder(ctx, checkout.PlaceOrder{UserID: user, SaleID: sale.ID, ItemID: sale.Items[0].ID, Quantity: 1})
		if err != nil || sub.Request == nil || sub.Order != nil {
			t.Fatalf("submit for %s = %+v, %v; want a queued request", user, sub, err)
		}
		requests[user] = sub.Request.ID
	}
	runWorkers(t, svc)

	won := 0
	for user, id := range requests {
		o := settled(t, svc, user, id)
		switch {
		case o.OrderID != "" && o.Created:
			won++
			order, err := svc.Order(ctx, user, o.OrderID)
			if err != nil || order.Status != flashsale.OrderReserved {
				t.Errorf("%s's order %s: %+v, %v", user, o.OrderID, order, err)
			}
		case o.Error != nil && o.Error.Code == flashsale.ESoldOut:
		default:
			t.Errorf("%s's outcome: %+v", user, o)
		}
	}
	if won != stock {
		t.Errorf("%d reservations through the queue for a stock of %d", won, stock)
	}
	st, err := svc.Stock(ctx, sale.Items[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Reserved != stock || st.Available != 0 || !st.Consistent() {
		t.Errorf("stock = %+v", st)
	}
}

// The same Idempotency-Key is the same request: queued and settled once.
func TestQueuedRequestWithIdempotencyKeyIsOneRequest(t *testing.T) {
	svc, sale := newQueuedSale(t, 5, 1000)
	ctx := context.Background()
	req := checkout.PlaceOrder{UserID: "u", SaleID: sale.ID, ItemID: sale.Items[0].ID, Quantity: 1, IdempotencyKey: "k-1"}
	first, err := svc.SubmitOrder(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.SubmitOrder(ctx, req)
	if err != nil || again.Request.ID != first.Request.ID {
		t.Fatalf("resubmitted: %+v, %v; want request %s", again.Request, err, first.Request.ID)
	}
	runWorkers(t, svc)
	if o := settled(t, svc, "u", first.Request.ID); o.OrderID == "" {
		t.Fatalf("outcome %+v", o)
	}
	st, _ := svc.Stock(ctx, sale.Items[0].ID)
	if st.Reserved != 1 {
		t.Errorf("stock = %+v, want one unit reserved", st)
	}
	if _, _, err := svc.OrderRequest(ctx, "someone-else", first.Request.ID); !flashsale.IsCode(err, flashsale.ENotFound) {
		t.Errorf("another user's request: %v, want not_found", err)
	}
}

// What is wrong with a request is said at once, and nothing is queued.
func TestQueuedAdmissionRefusesAtOnce(t *testing.T) {
	svc, sale := newQueuedSale(t, 5, 1)
	ctx := context.Background()
	item := sale.Items[0].ID
	for _, tc := range []struct {
		req  checkout.PlaceOrder
		code string
	}{
		{checkout.PlaceOrder{UserID: "u", SaleID: sale.ID, ItemID: item, Quantity: 0}, flashsale.EInvalidQuantity},
		{checkout.PlaceOrder{UserID: "u", SaleID: sale.ID, ItemID: item, Quantity: 2}, flashsale.EQuantityExceedsLimit},
		{checkout.PlaceOrder{UserID: "u", SaleID: sale.ID, ItemID: "nope", Quantity: 1}, flashsale.EItemNotFound},
	} {
		if _, err := svc.SubmitOrder(ctx, tc.req); !flashsale.IsCode(err, tc.code) {
			t.Errorf("submit %+v = %v, want %s", tc.req, err, tc.code)
		}
	}
	// The queue holds one request: the next is overloaded, not dropped.
	if _, err := svc.SubmitOrder(ctx, checkout.PlaceOrder{UserID: "a", SaleID: sale.ID, ItemID: item, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitOrder(ctx, checkout.PlaceOrder{UserID: "b", SaleID: sale.ID, ItemID: item, Quantity: 1}); !flashsale.IsCode(err, flashsale.EOverloaded) {
		t.Errorf("submit to a full queue = %v, want overloaded", err)
	}
}

func TestQueuedSaleNeedsAQueue(t *testing.T) {
	svc, _, _ := newSale(t, memory.NewInventory(), 1)
	now := time.Now()
	_, err := svc.CreateSale(context.Background(), &flashsale.Sale{Name: "q", StartTime: now, EndTime: now.Add(time.Hour),
		Admission: flashsale.AdmissionQueued,
		Items:     []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 1, PerUserLimit: 1}}})
	if !flashsale.IsCode(err, flashsale.EInvalidRequest) {
		t.Errorf("queued sale without a queue: %v, want invalid_request", err)
	}
}
