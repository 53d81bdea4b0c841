package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/auth"
	"github.com/flashsale/flashsale/checkout"
)

// demoTokenTTL is how long the demo's tokens last: the printed ones and
// those POST /demo/token mints.
const demoTokenTTL = 24 * time.Hour

// createDemo creates a sale that starts a minute from now and prints what a
// newcomer needs to try it: the sale's page first, then curl lines.
func createDemo(ctx context.Context, service *checkout.Service, a *auth.Authenticator, base string, out io.Writer) error {
	start := service.Now().Add(time.Minute).Truncate(time.Second)
	sale, err := service.CreateSale(ctx, &flashsale.Sale{
		Name: "Demo Phone Launch", StartTime: start, EndTime: start.Add(time.Hour),
		ReservationTTL: 10 * time.Minute,
		Items: []flashsale.Item{{
			ProductID: "phone-x", Name: "Phone X", OriginalPrice: 99900, SalePrice: 49900,
			Currency: "USD", TotalQuantity: 100, PerUserLimit: 1,
		}},
	})
	if err != nil {
		return fmt.Errorf("create demo sale: %w", err)
	}
	admin, err := a.Mint("admin", true, demoTokenTTL)
	if err != nil {
		return err
	}
	alice, err := a.Mint("alice", false, demoTokenTTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
Open the sale in a browser: %s/sales/%s
(sign in there as a demo shopper, or with ALICE's token below)
Operators' console: %s/console/ (sign in with ADMIN's token below); API reference: %s/docs

Demo sale %q created: 100 units of Phone X at 499.00 USD, starting %s (in one minute).

  export ADMIN=%s
  export ALICE=%s

  # the sale page (public)
  curl -s %s/flash-sales/%s

  # buy one unit as alice once the sale has started (201, then 200 on a double click)
  curl -s -X POST %s/flash-sales/%s/orders -H "Authorization: Bearer $ALICE" \
       -H 'Content-Type: application/json' -d '{"item_id":"%s","quantity":1}'

  # pay with the simulator's test card (use the order_id from the answer above)
  curl -s -X POST %s/orders/ORDER_ID/pay -H "Authorization: Bearer $ALICE" \
       -H 'Content-Type: application/json' -d '{"payment_token":"tok_visa","payment_method":"credit_card"}'

  # the sale's counters (admin)
  curl -s %s/admin/flash-sales/%s/stats -H "Authorization: Bearer $ADMIN"

`, base, sale.ID, base, base, sale.Name, sale.StartTime.Format(time.RFC3339), admin, alice,
		base, sale.ID, base, sale.ID, sale.Items[0].ID, base, base, sale.ID)
	return nil
}
