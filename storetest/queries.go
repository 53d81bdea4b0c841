package storetest

import (
	"cmp"
	"reflect"
	"slices"
	"time"

	"github.com/flashsale/flashsale"
)

// Claims counts confirmed units per user and lists the live reservations of
// one item, with the item's limits and sale window.
func testClaims(tt *tester) {
	sale := tt.createSale()
	item, otherItem := &sale.Items[0], &sale.Items[1]
	alice, bob, carol, dave, erin := user(1), user(2), user(3), user(4), user(5)

	tt.confirm(tt.createOrder(item, alice, now))
	twoUnits := newOrder(item, alice, now)
	twoUnits.Quantity = 2
	if err := tt.store.CreateOrder(tt.Context(), twoUnits); err != nil {
		tt.Fatalf("create order: %v", err)
	}
	tt.confirm(twoUnits)
	tt.confirm(tt.createOrder(item, bob, now))

	reserved := tt.createOrder(item, carol, now.Add(time.Second))
	paying := tt.pay(tt.createOrder(item, dave, now.Add(2*time.Second)), now.Add(time.Minute))
	declined := tt.pay(tt.createOrder(item, erin, now.Add(3*time.Second)), now.Add(time.Minute))
	declined = tt.transition(flashsale.Transition{
		OrderID: declined.ID, From: flashsale.OrderPaying, To: flashsale.OrderReserved,
		At: now.Add(2 * time.Minute), PaymentError: "card_declined",
	})

	// Released orders claim nothing.
	tt.transition(flashsale.Transition{
		OrderID: tt.createOrder(item, carol, now).ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled,
		At: now.Add(time.Minute),
	})
	tt.transition(flashsale.Transition{
		OrderID: tt.createOrder(item, dave, now).ID, From: flashsale.OrderReserved, To: flashsale.OrderExpired,
		At: now.Add(time.Hour), Deadline: flashsale.AfterDeadline,
	})
	failed := tt.pay(tt.createOrder(item, erin, now), now.Add(time.Minute))
	tt.transition(flashsale.Transition{
		OrderID: failed.ID, From: flashsale.OrderPaying, To: flashsale.OrderPaymentFailed, At: now.Add(2 * time.Minute),
	})
	// Nor do another item's orders.
	tt.confirm(tt.createOrder(otherItem, alice, now))
	tt.createOrder(otherItem, bob, now)

	got, err := tt.store.Claims(tt.Context(), item.ID)
	if err != nil {
		tt.Fatalf("claims: %v", err)
	}
	want := flashsale.ItemSnapshot{
		SaleID: sale.ID, ItemID: item.ID, Total: item.TotalQuantity, PerUserLimit: item.PerUserLimit,
		StartTime: stored(sale.StartTime), EndTime: stored(sale.EndTime),
		SoldByUser: map[string]int64{alice: 3, bob: 1},
	}
	for _, o := range []*flashsale.Order{reserved, paying, declined} {
		want.Reservations = append(want.Reservations, flashsale.Reservation{
			OrderID: o.ID, SaleID: o.SaleID, ItemID: o.ItemID, UserID: o.UserID, Quantity: o.Quantity,
			ReservedAt: stored(o.ReservedAt), ExpiresAt: stored(o.ExpiresAt),
		})
	}
	tt.wantClaims(got, want)

	untouched := &sale.Items[2]
	got, err = tt.store.Claims(tt.Context(), untouched.ID)
	if err != nil {
		tt.Fatalf("claims of an item without orders: %v", err)
	}
	tt.wantClaims(got, flashsale.ItemSnapshot{
		SaleID: sale.ID, ItemID: untouched.ID, Total: untouched.TotalQuantity, PerUserLimit: untouched.PerUserLimit,
		StartTime: stored(sale.StartTime), EndTime: stored(sale.EndTime),
	})

	_, err = tt.store.Claims(tt.Context(), newID())
	tt.wantCode("claims of an unknown item", err, flashsale.EItemNotFound)
}

// wantClaims compares snapshots; the order of reservations and an empty
// map versus nil do not matter.
func (tt *tester) wantClaims(got, want flashsale.ItemSnapshot) {
	tt.Helper()
	tt.wantUTC("claims", got.StartTime, got.EndTime)
	for _, r := range got.Reservations {
		tt.wantUTC("reservation", r.ReservedAt, r.ExpiresAt)
	}
	normal := func(s flashsale.ItemSnapshot) flashsale.ItemSnapshot {
		s.StartTime, s.EndTime = stored(s.StartTime), stored(s.EndTime)
		if len(s.SoldByUser) == 0 {
			s.SoldByUser = nil
		}
		s.Reservations = slices.Clone(s.Reservations)
		for i := range s.Reservations {
			s.Reservations[i].ReservedAt = stored(s.Reservations[i].ReservedAt)
			s.Reservations[i].ExpiresAt = stored(s.Reservations[i].ExpiresAt)
		}
		slices.SortFunc(s.Reservations, func(a, b flashsale.Reservation) int { return cmp.Compare(a.OrderID, b.OrderID) })
		return s
	}
	if !reflect.DeepEqual(normal(got), normal(want)) {
		tt.Fatalf("claims\n got %+v\nwant %+v", got, want)
	}
}

// DueReservations lists reserved orders whose deadline has come, earliest
// first, up to the limit.
func testDueReservations(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	base := pastWindow()
	reservation := func(expiresIn time.Duration) *flashsale.Order {
		o := newOrder(item, user(1), base)
		o.ExpiresAt = base.Add(expiresIn)
		if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
			tt.Fatalf("create order: %v", err)
		}
		return o
	}
	third := reservation(3 * time.Second)
	first := reservation(1 * time.Second)
	second := reservation(2 * time.Second)
	atNow := reservation(5 * time.Second)
	reservation(10 * time.Second)
	tt.pay(reservation(time.Second), base) // paying is the settler's, not the sweeper's
	tt.transition(flashsale.Transition{
		OrderID: reservation(time.Second).ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: base,
	})

	due, err := tt.store.DueReservations(tt.Context(), base.Add(5*time.Second), 100)
	if err != nil {
		tt.Fatalf("due reservations: %v", err)
	}
	tt.wantOrderIDs("due reservations", due, first, second, third, atNow)
	tt.wantOrder(due[0], first)

	due, err = tt.store.DueReservations(tt.Context(), base.Add(5*time.Second), 2)
	if err != nil {
		tt.Fatalf("due reservations: %v", err)
	}
	tt.wantOrderIDs("due reservations, limit 2", due, first, second)
}

// StalePayments lists orders left in paying since before a time, oldest
// change first, up to the limit.
func testStalePayments(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	base := pastWindow()
	payingSince := func(at time.Duration) *flashsale.Order {
		o := newOrder(item, user(1), base)
		o.ExpiresAt = base.Add(time.Hour)
		if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
			tt.Fatalf("create order: %v", err)
		}
		return tt.pay(o, base.Add(at))
	}
	second := payingSince(2 * time.Second)
	first := payingSince(1 * time.Second)
	atBefore := payingSince(5 * time.Second)
	payingSince(10 * time.Second)
	tt.confirm(payingSince(time.Second))
	tt.createOrder(item, user(2), base) // reserved: nothing to settle

	stale, err := tt.store.StalePayments(tt.Context(), base.Add(5*time.Second), 100)
	if err != nil {
		tt.Fatalf("stale payments: %v", err)
	}
	tt.wantOrderIDs("stale payments", stale, first, second, atBefore)
	tt.wantOrder(stale[0], first)

	stale, err = tt.store.StalePayments(tt.Context(), base.Add(5*time.Second), 2)
	if err != nil {
		tt.Fatalf("stale payments: %v", err)
	}
	tt.wantOrderIDs("stale payments, limit 2", stale, first, second)
}

// confirm pays an order and confirms it a minute later.
func (tt *tester) confirm(o *flashsale.Order) *flashsale.Order {
	tt.Helper()
	if o.Status == flashsale.OrderReserved {
		o = tt.pay(o, o.ReservedAt.Add(time.Minute))
	}
	at := o.UpdatedAt.Add(time.Minute)
	return tt.transition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: at,
		Payment: payment(o, o.PaymentAttempts, flashsale.PaymentSucceeded, "", at),
	})
}
