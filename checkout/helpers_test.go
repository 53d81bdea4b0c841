package checkout_test

import (
	"context"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// newSale starts a service over inv and a fresh SQLite store, with one
// active sale of one item, and returns a function that places an order of
// one unit for a user.
func newSale(t *testing.T, inv flashsale.Inventory, stock int64) (*checkout.Service, *flashsale.Sale, func(user string) (*flashsale.Order, bool, error)) {
	t.Helper()
	return newSaleWith(t, inv, stock, func(s flashsale.OrderStore) flashsale.OrderStore { return s })
}

// newSaleWith is newSale with the store wrapped by wrap.
func newSaleWith(t *testing.T, inv flashsale.Inventory, stock int64, wrap func(flashsale.OrderStore) flashsale.OrderStore) (*checkout.Service, *flashsale.Sale, func(user string) (*flashsale.Order, bool, error)) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := checkout.New(checkout.Config{Inventory: inv, Store: wrap(store), Payments: paysim.New(paysim.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: now.Add(-time.Minute), EndTime: now.Add(time.Hour),
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: stock, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	place := func(user string) (*flashsale.Order, bool, error) {
		sub, err := svc.SubmitOrder(ctx, checkout.PlaceOrder{UserID: user, SaleID: sale.ID, ItemID: sale.Items[0].ID, Quantity: 1})
		return sub.Order, sub.Created, err
	}
	return svc, sale, place
}
