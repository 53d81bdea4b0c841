package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// Every legal change writes what its transition says and nothing else, and
// the store returns the order as it now is.
func testTransitions(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]

	// A declined payment, a second attempt, then a success.
	o := tt.createOrder(item, user(1), now)
	o = tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying,
		At: now.Add(1 * time.Minute), Deadline: flashsale.BeforeDeadline, CountAttempt: true,
	}, with(o, func(w *flashsale.Order) {
		w.Status, w.UpdatedAt, w.PaymentAttempts = flashsale.OrderPaying, now.Add(1*time.Minute), 1
	}))
	declined := payment(o, 1, flashsale.PaymentDeclined, "card_declined", now.Add(2*time.Minute))
	o = tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderReserved,
		At: now.Add(2 * time.Minute), PaymentError: "card_declined", Payment: declined,
	}, with(o, func(w *flashsale.Order) {
		w.Status, w.UpdatedAt, w.LastPaymentError = flashsale.OrderReserved, now.Add(2*time.Minute), "card_declined"
	}))
	o = tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying,
		At: now.Add(3 * time.Minute), Deadline: flashsale.BeforeDeadline, CountAttempt: true,
	}, with(o, func(w *flashsale.Order) {
		// The last error stays until another replaces it.
		w.Status, w.UpdatedAt, w.PaymentAttempts = flashsale.OrderPaying, now.Add(3*time.Minute), 2
	}))
	succeeded := payment(o, 2, flashsale.PaymentSucceeded, "", now.Add(4*time.Minute))
	tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed,
		At: now.Add(4 * time.Minute), Payment: succeeded,
	}, with(o, func(w *flashsale.Order) {
		w.Status, w.UpdatedAt, w.ConfirmedAt = flashsale.OrderConfirmed, now.Add(4*time.Minute), now.Add(4*time.Minute)
		w.PaymentID = succeeded.ID
	}))
	tt.wantPayments(o.ID, declined, succeeded)

	// Out of attempts: the provider made no charge, so the payment has no id.
	o = tt.createOrder(item, user(2), now)
	o = tt.pay(o, now.Add(time.Minute))
	failed := payment(o, 1, flashsale.PaymentDeclined, "insufficient_funds", now.Add(2*time.Minute))
	failed.ID = ""
	tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderPaymentFailed,
		At: now.Add(2 * time.Minute), PaymentError: "insufficient_funds", Payment: failed,
	}, with(o, func(w *flashsale.Order) {
		w.Status, w.UpdatedAt, w.LastPaymentError = flashsale.OrderPaymentFailed, now.Add(2*time.Minute), "insufficient_funds"
	}))
	tt.wantPayments(o.ID, failed)

	// Declined after the deadline.
	o = tt.createOrder(item, user(3), now)
	o = tt.pay(o, now.Add(time.Minute))
	late := payment(o, 1, flashsale.PaymentDeclined, "card_declined", o.ExpiresAt)
	tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderExpired,
		At: o.ExpiresAt, PaymentError: "card_declined", Payment: late,
	}, with(o, func(w *flashsale.Order) {
		w.Status, w.UpdatedAt, w.LastPaymentError = flashsale.OrderExpired, o.ExpiresAt, "card_declined"
	}))

	// Cancelled by the user.
	o = tt.createOrder(item, user(4), now)
	tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: now.Add(time.Minute),
	}, with(o, func(w *flashsale.Order) { w.Status, w.UpdatedAt = flashsale.OrderCancelled, now.Add(time.Minute) }))
	tt.wantPayments(o.ID)

	// Expired at the deadline itself: AfterDeadline includes it.
	o = tt.createOrder(item, user(5), now)
	tt.wantTransition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderExpired,
		At: o.ExpiresAt, Deadline: flashsale.AfterDeadline,
	}, with(o, func(w *flashsale.Order) { w.Status, w.UpdatedAt = flashsale.OrderExpired, o.ExpiresAt }))
}

// A change whose condition does not hold writes nothing, payment included,
// and returns the order as it is.
func testTransitionRefused(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]

	reserved := tt.createOrder(item, user(1), now)
	tt.wantRefused(flashsale.Transition{
		OrderID: reserved.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: now.Add(time.Minute),
		Payment: payment(reserved, 1, flashsale.PaymentSucceeded, "", now.Add(time.Minute)),
	}, reserved)
	tt.wantRefused(flashsale.Transition{
		OrderID: reserved.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying,
		At: reserved.ExpiresAt, Deadline: flashsale.BeforeDeadline, CountAttempt: true,
	}, reserved)
	tt.wantRefused(flashsale.Transition{
		OrderID: reserved.ID, From: flashsale.OrderReserved, To: flashsale.OrderExpired,
		At: reserved.ExpiresAt.Add(-time.Microsecond), Deadline: flashsale.AfterDeadline,
	}, reserved)

	paying := tt.pay(tt.createOrder(item, user(2), now), now.Add(time.Minute))
	tt.wantRefused(flashsale.Transition{
		OrderID: paying.ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: now.Add(2 * time.Minute),
	}, paying)

	confirmed := tt.pay(tt.createOrder(item, user(3), now), now.Add(time.Minute))
	confirmed = tt.transition(flashsale.Transition{
		OrderID: confirmed.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: now.Add(2 * time.Minute),
		Payment: payment(confirmed, 1, flashsale.PaymentSucceeded, "", now.Add(2*time.Minute)),
	})
	tt.wantRefused(flashsale.Transition{
		OrderID: confirmed.ID, From: flashsale.OrderPaying, To: flashsale.OrderReserved, At: now.Add(3 * time.Minute),
		PaymentError: "card_declined",
		Payment:      payment(confirmed, 1, flashsale.PaymentDeclined, "card_declined", now.Add(3*time.Minute)),
	}, confirmed)

	cancelled := tt.transition(flashsale.Transition{
		OrderID: tt.createOrder(item, user(4), now).ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled,
		At: now.Add(time.Minute),
	})
	tt.wantRefused(flashsale.Transition{
		OrderID: cancelled.ID, From: flashsale.OrderReserved, To: flashsale.OrderExpired, At: now.Add(time.Hour),
	}, cancelled)
}

// A change of an order that does not exist is not found, not refused.
func testTransitionUnknownOrder(tt *tester) {
	_, err := tt.store.Transition(tt.Context(), flashsale.Transition{
		OrderID: newID(), From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: now,
	})
	if isRefused(err) {
		tt.Fatalf("transition of an unknown order was refused, want order_not_found")
	}
	tt.wantCode("transition of an unknown order", err, flashsale.EOrderNotFound)
}

// A payment racing the expiry of one order: exactly one change wins, and
// every loser sees the winner's state.
func testTransitionRace(tt *tester) {
	const each = 50
	sale := tt.createSale()
	o := tt.createOrder(&sale.Items[0], user(1), now)
	at := now.Add(time.Minute)
	pay := flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying,
		At: at, Deadline: flashsale.BeforeDeadline, CountAttempt: true,
	}
	expire := flashsale.Transition{OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderExpired, At: at}

	got := make([]*flashsale.Order, 2*each)
	errs := make([]error, 2*each)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 2 * each {
		t := pay
		if i%2 == 1 {
			t = expire
		}
		wg.Go(func() {
			<-start
			got[i], errs[i] = tt.store.Transition(tt.Context(), t)
		})
	}
	close(start)
	wg.Wait()

	var winner *flashsale.Order
	for i, err := range errs {
		switch {
		case err == nil:
			if winner != nil {
				tt.Fatalf("two changes of one order succeeded: to %s and to %s", winner.Status, got[i].Status)
			}
			winner = got[i]
		case !isRefused(err):
			tt.Fatalf("transition: %v", err)
		}
	}
	if winner == nil {
		tt.Fatalf("no change of the order succeeded")
	}
	for i, err := range errs {
		if err != nil {
			tt.wantOrder(got[i], winner)
		}
	}
	tt.wantStoredOrder(winner)
}

// pay moves a reserved order to paying at at.
func (tt *tester) pay(o *flashsale.Order, at time.Time) *flashsale.Order {
	tt.Helper()
	return tt.transition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying,
		At: at, Deadline: flashsale.BeforeDeadline, CountAttempt: true,
	})
}

// wantTransition makes a change that must succeed and leave want, and
// returns the order.
func (tt *tester) wantTransition(t flashsale.Transition, want *flashsale.Order) *flashsale.Order {
	tt.Helper()
	got := tt.transition(t)
	tt.wantOrder(got, want)
	tt.wantStoredOrder(want)
	return got
}

// with returns a copy of o changed by change.
func with(o *flashsale.Order, change func(*flashsale.Order)) *flashsale.Order {
	c := *o
	change(&c)
	return &c
}

// payment returns a charge attempt of o.
func payment(o *flashsale.Order, attempt int, status flashsale.PaymentStatus, reason string, at time.Time) *flashsale.Payment {
	return &flashsale.Payment{
		ID: "pay_" + newID(), OrderID: o.ID, Attempt: attempt, IdempotencyKey: fmt.Sprintf("%s/%d", o.ID, attempt),
		Amount: o.TotalAmount(), Currency: o.Currency, Method: "card",
		Status: status, FailureReason: reason, CreatedAt: at,
	}
}

// wantPayments checks that an order's recorded payments are want, oldest
// first.
func (tt *tester) wantPayments(orderID string, want ...*flashsale.Payment) {
	tt.Helper()
	got := tt.payments(orderID)
	if len(got) != len(want) {
		tt.Fatalf("order %s has %d payments, want %d", orderID, len(got), len(want))
	}
	for i := range want {
		tt.wantUTC("payment", got[i].CreatedAt)
		w := *want[i]
		w.CreatedAt = stored(w.CreatedAt)
		g := got[i]
		g.CreatedAt = stored(g.CreatedAt)
		if !reflect.DeepEqual(g, w) {
			tt.Fatalf("payment %d of order %s\n got %+v\nwant %+v", i, orderID, got[i], w)
		}
	}
}
