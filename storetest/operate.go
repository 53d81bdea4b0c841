package storetest

import (
	"slices"
	"time"

	"github.com/flashsale/flashsale"
)

// An operator's change of a sale: pause, end and restock come back in the
// sale and the claims, all or nothing; an ended sale does not change.
func testUpdateSale(tt *tester) {
	sale := tt.createSale()
	paused, later := true, stored(now.Add(3*time.Hour))
	got, err := tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: sale.ID, Paused: &paused, EndTime: &later,
		Restock: map[string]int64{sale.Items[0].ID: 5}, At: now})
	if err != nil {
		tt.Fatalf("update sale: %v", err)
	}
	want := *sale
	want.Items = append([]flashsale.Item(nil), sale.Items...)
	want.Paused, want.EndTime = true, later
	want.Items[0].TotalQuantity += 5
	tt.wantSale(got, &want)
	read, err := tt.store.Sale(tt.Context(), sale.ID)
	if err != nil {
		tt.Fatal(err)
	}
	tt.wantSale(read, &want)
	claims, err := tt.store.Claims(tt.Context(), sale.Items[0].ID)
	if err != nil || claims.Total != want.Items[0].TotalQuantity || !claims.EndTime.Equal(later) {
		tt.Fatalf("claims after the change: %+v, %v", claims, err)
	}

	// All or nothing: an item of another sale changes nothing.
	resume := false
	_, err = tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: sale.ID, Paused: &resume,
		Restock: map[string]int64{sale.Items[1].ID: 1, newID(): 1}, At: now})
	tt.wantCode("restock of an unknown item", err, flashsale.EItemNotFound)
	if read, _ = tt.store.Sale(tt.Context(), sale.ID); !read.Paused || read.Items[1].TotalQuantity != sale.Items[1].TotalQuantity {
		tt.Fatalf("a refused change changed the sale: %+v", read)
	}

	_, err = tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: sale.ID, Paused: &resume, At: later})
	tt.wantCode("change of an ended sale", err, flashsale.ESaleEnded)
	_, err = tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: newID(), Paused: &resume, At: now})
	tt.wantCode("change of an unknown sale", err, flashsale.ESaleNotFound)
}

// A sale's orders come a page at a time in id order, each once, however
// the pages are cut; a status keeps its own; another sale's are not
// listed; an order created between two pages is found by the next.
func testSaleOrders(tt *tester) {
	sale, other := tt.createSale(), tt.createSale()
	var want, confirmed []string
	for i := range 25 {
		o := tt.createOrder(&sale.Items[i%len(sale.Items)], user(i), now)
		want = append(want, o.ID)
		if i%3 == 0 {
			paid := tt.pay(o, now.Add(time.Second))
			tt.transition(flashsale.Transition{OrderID: paid.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: now.Add(time.Second)})
			confirmed = append(confirmed, o.ID)
		}
	}
	tt.createOrder(&other.Items[0], user(99), now)

	page := func(status flashsale.OrderStatus, after string, limit int) []string {
		tt.Helper()
		orders, err := tt.store.SaleOrders(tt.Context(), flashsale.OrderQuery{SaleID: sale.ID, Status: status, After: after, Limit: limit})
		if err != nil {
			tt.Fatalf("sale orders: %v", err)
		}
		ids := make([]string, len(orders))
		for i, o := range orders {
			ids[i] = o.ID
		}
		return ids
	}
	var got []string
	after := ""
	for {
		ids := page("", after, 10)
		if len(ids) == 0 {
			break
		}
		got = append(got, ids...)
		after = ids[len(ids)-1]
		if len(got) == 10 {
			// Written between two pages: the next page finds it.
			late := tt.createOrder(&sale.Items[0], user(100), now)
			want = append(want, late.ID)
		}
	}
	if !slices.Equal(got, want) {
		tt.Fatalf("the pages listed %d orders, want the %d in creation order:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	if got := page(flashsale.OrderConfirmed, "", 100); !slices.Equal(got, confirmed) {
		tt.Fatalf("confirmed orders %v, want %v", got, confirmed)
	}
}

// The audit log keeps each admin action with its JSON, newest first, per
// sale; a repeated record adds nothing.
func testAudit(tt *tester) {
	log, ok := tt.store.(flashsale.AuditLog)
	if !ok {
		tt.Skip("the store keeps no audit log")
	}
	sale, other := newID(), newID()
	entries := []flashsale.AuditEntry{
		{ID: newID(), SaleID: sale, Admin: "ops-1", Action: "create_sale", At: now, After: []byte(`{"sale_id":"x"}`)},
		{ID: newID(), SaleID: sale, Admin: "ops-2", Action: "change_sale", At: now.Add(time.Minute),
			Request: []byte(`{"paused":true}`), Before: []byte(`{"paused":false}`), After: []byte(`{"paused":true}`)},
		{ID: newID(), SaleID: other, Admin: "ops-1", Action: "create_sale", At: now},
	}
	for _, e := range append(entries, entries[1]) {
		if err := log.RecordAudit(tt.Context(), e); err != nil {
			tt.Fatalf("record audit: %v", err)
		}
	}
	got, err := log.AuditEntries(tt.Context(), sale, 10)
	if err != nil {
		tt.Fatalf("audit entries: %v", err)
	}
	want := []flashsale.AuditEntry{entries[1], entries[0]}
	if len(got) != len(want) {
		tt.Fatalf("%d audit entries of the sale, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		w := want[i]
		w.At = stored(w.At)
		if got[i].ID != w.ID || got[i].Admin != w.Admin || got[i].Action != w.Action || !got[i].At.Equal(w.At) ||
			string(got[i].Request) != string(w.Request) || string(got[i].Before) != string(w.Before) || string(got[i].After) != string(w.After) {
			tt.Fatalf("audit entry %d\n got %+v\nwant %+v", i, got[i], w)
		}
	}
}

// A refunded order's units stay sold in the claims the inventory is
// rebuilt from, and the refund is told to its user when the store keeps
// an outbox.
func testRefundedStaysSold(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	o := tt.createOrder(item, user(1), now)
	paid := tt.pay(o, now.Add(time.Second))
	tt.transition(flashsale.Transition{OrderID: paid.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: now.Add(time.Second)})
	refunded := tt.transition(flashsale.Transition{OrderID: o.ID, From: flashsale.OrderConfirmed, To: flashsale.OrderRefunded, At: now.Add(time.Minute)})
	if refunded.Status != flashsale.OrderRefunded {
		tt.Fatalf("refunded order: %+v", refunded)
	}
	claims, err := tt.store.Claims(tt.Context(), item.ID)
	if err != nil {
		tt.Fatal(err)
	}
	if claims.SoldByUser[o.UserID] != o.Quantity || len(claims.Reservations) != 0 {
		tt.Fatalf("the claims after a refund: %+v, want the unit still sold", claims)
	}
	if event, ok := flashsale.NotificationEventOf(flashsale.OrderConfirmed, flashsale.OrderRefunded); !ok || event != flashsale.EventOrderRefunded {
		tt.Fatalf("a refund tells its user %q, %v", event, ok)
	}
}
