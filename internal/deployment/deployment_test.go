package deployment_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/paysim"
)

func TestOpenRefusesWhatItDoesNotKnow(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []deployment.Config{
		{Kind: "cloud"},
		{Kind: deployment.Embedded, DataDir: t.TempDir(), Queue: "kafka"},
	} {
		if d, err := deployment.Open(ctx, cfg, notify.NewHub()); err == nil {
			d.Close()
			t.Errorf("%+v opened", cfg)
		}
	}
}

// The embedded kind's inventory lives in the process: a service over a
// reopened data folder finds every unit the store knows claimed.
func TestEmbeddedServiceRebuildsTheInventoryFromTheStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	open := func() (*deployment.Deployment, *checkout.Service) {
		d, err := deployment.Open(ctx, deployment.Config{Kind: deployment.Embedded, DataDir: dir}, notify.NewHub())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		service, err := d.Service(ctx, checkout.Config{Payments: paysim.New(paysim.Options{})})
		if err != nil {
			t.Fatal(err)
		}
		return d, service
	}
	first, service := open()
	sale, err := service.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: now.Add(-time.Minute), EndTime: now.Add(time.Hour),
		ReservationTTL: time.Hour,
		Items:          []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 3, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	press := func(user string) (checkout.Submission, error) {
		return service.SubmitOrder(ctx, checkout.PlaceOrder{UserID: user, SaleID: sale.ID, ItemID: sale.Items[0].ID, Quantity: 1})
	}
	anns, err := press("ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := press("bob"); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	_, service = open()
	stats, err := service.Stats(ctx, sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s := stats[0].Stock; s.Available != 1 || s.Reserved != 2 || s.Sold != 0 || s.Available+s.Reserved+s.Sold != s.Total {
		t.Fatalf("after reopening: %+v, want 1 available and 2 reserved of 3", s)
	}
	if again, err := press("ann"); err != nil || again.Created || again.Order.ID != anns.Order.ID {
		t.Fatalf("ann's press after the restart: %+v, %v; want her reservation %s back", again, err, anns.Order.ID)
	}
	if _, err := press("cat"); err != nil {
		t.Fatal(err)
	}
	_, err = press("dan")
	if !flashsale.IsCode(err, flashsale.ESoldOut) || !strings.Contains(err.Error(), "sold out") {
		t.Fatalf("dan after the last unit: %v, want sold_out", err)
	}
}
