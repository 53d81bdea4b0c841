package storetest

import (
	"context"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// An order comes back with every field; an unknown one is not found.
func testOrderRoundTrip(tt *tester) {
	sale := tt.createSale()
	withKey := newOrder(&sale.Items[1], user(1), now)
	withKey.Quantity = 2
	withKey.IdempotencyKey = "key-" + newID()
	withoutKey := newOrder(&sale.Items[0], user(2), now.Add(time.Second))
	for _, o := range []*flashsale.Order{withKey, withoutKey} {
		if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
			tt.Fatalf("create order: %v", err)
		}
		tt.wantStoredOrder(o)
	}

	_, err := tt.store.Order(tt.Context(), newID())
	tt.wantCode("unknown order", err, flashsale.EOrderNotFound)
}

// Creating an order that is already stored is a retry of the same write:
// it succeeds and changes nothing, even after the order moved on.
func testCreateOrderRetry(tt *tester) {
	sale := tt.createSale()
	o := newOrder(&sale.Items[0], user(1), now)
	o.IdempotencyKey = "key-" + newID()
	for range 2 {
		if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
			tt.Fatalf("create order: %v", err)
		}
	}
	tt.wantStoredOrder(o)

	cancelled := tt.transition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: now.Add(time.Second),
	})
	if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
		tt.Fatalf("create order again: %v", err)
	}
	tt.wantStoredOrder(cancelled)
}

// A user's Idempotency-Key names one order; other users and requests
// without a key never collide.
func testIdempotencyKey(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	alice, bob := user(1), user(2)
	key := "key-" + newID()

	first := newOrder(item, alice, now)
	first.IdempotencyKey = key
	if err := tt.store.CreateOrder(tt.Context(), first); err != nil {
		tt.Fatalf("create order: %v", err)
	}
	again := newOrder(&sale.Items[1], alice, now.Add(time.Second))
	again.IdempotencyKey = key
	err := tt.store.CreateOrder(tt.Context(), again)
	tt.wantCode("second order with the key", err, flashsale.EIdempotencyKeyReused)
	_, err = tt.store.Order(tt.Context(), again.ID)
	tt.wantCode("order refused for its key", err, flashsale.EOrderNotFound)

	got, err := tt.store.OrderByIdempotencyKey(tt.Context(), alice, key)
	if err != nil {
		tt.Fatalf("order by key: %v", err)
	}
	tt.wantOrder(got, first)

	othersKey := newOrder(item, bob, now)
	othersKey.IdempotencyKey = key
	if err := tt.store.CreateOrder(tt.Context(), othersKey); err != nil {
		tt.Fatalf("another user's order with the same key: %v", err)
	}
	for range 2 {
		tt.createOrder(item, alice, now)
	}

	_, err = tt.store.OrderByIdempotencyKey(tt.Context(), alice, "")
	tt.wantCode("order by the empty key", err, flashsale.EOrderNotFound)
	_, err = tt.store.OrderByIdempotencyKey(tt.Context(), alice, "key-"+newID())
	tt.wantCode("order by an unknown key", err, flashsale.EOrderNotFound)
}

// An order must name an item of its sale.
func testOrderOfUnknownItem(tt *tester) {
	sale := tt.createSale()
	other := tt.createSale()

	unknown := newOrder(&sale.Items[0], user(1), now)
	unknown.ItemID = newID()
	err := tt.store.CreateOrder(tt.Context(), unknown)
	tt.wantCode("order of an unknown item", err, flashsale.EItemNotFound)

	otherSales := newOrder(&other.Items[0], user(1), now)
	otherSales.SaleID = sale.ID
	err = tt.store.CreateOrder(tt.Context(), otherSales)
	tt.wantCode("order of another sale's item", err, flashsale.EItemNotFound)
}

// A write whose context is done before it starts fails and writes nothing.
func testCreateOrderCancelled(tt *tester) {
	sale := tt.createSale()
	o := newOrder(&sale.Items[0], user(1), now)
	ctx, cancel := context.WithCancel(tt.Context())
	cancel()
	if err := tt.store.CreateOrder(ctx, o); err == nil {
		tt.Fatalf("create order with a cancelled context succeeded")
	}
	_, err := tt.store.Order(tt.Context(), o.ID)
	tt.wantCode("order created with a cancelled context", err, flashsale.EOrderNotFound)
}

// Hundreds of concurrent creates all succeed and are all stored: a store
// that shares commits among them (group commit) drops none.
func testConcurrentCreates(tt *tester) {
	const orders = 500
	sale := tt.createSale()
	created := make([]*flashsale.Order, orders)
	errs := make([]error, orders)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range orders {
		created[i] = newOrder(&sale.Items[i%len(sale.Items)], user(i), now)
		if i%2 == 0 {
			created[i].IdempotencyKey = "key-" + newID()
		}
		wg.Go(func() {
			<-start
			errs[i] = tt.store.CreateOrder(tt.Context(), created[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tt.Fatalf("create order %d: %v", i, err)
		}
	}
	for _, o := range created {
		tt.wantStoredOrder(o)
	}
}

// An orphan's order is recorded in its final status, once, with no word
// to its user, and a commit of the order that arrives after it changes
// nothing; an order already stored is returned as it is.
func testAbandonOrder(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	orphan := newOrder(item, user(1), now)
	abandoned := *orphan
	abandoned.Status, abandoned.UpdatedAt = flashsale.OrderExpired, now.Add(time.Minute)
	for range 2 {
		got, err := tt.store.AbandonOrder(tt.Context(), &abandoned)
		if err != nil {
			tt.Fatalf("abandon an orphan's order: %v", err)
		}
		tt.wantOrder(got, &abandoned)
	}
	// The orphan's commit, stuck until now, is a retry.
	if err := tt.store.CreateOrder(tt.Context(), orphan); err != nil {
		tt.Fatalf("late commit of the abandoned order: %v", err)
	}
	tt.wantStoredOrder(&abandoned)
	claims, err := tt.store.Claims(tt.Context(), item.ID)
	if err != nil {
		tt.Fatal(err)
	}
	if len(claims.Reservations) != 0 || len(claims.SoldByUser) != 0 {
		tt.Fatalf("an abandoned order claims units: %+v", claims)
	}
	if outbox, ok := tt.store.(flashsale.Outbox); ok {
		if n, err := outbox.NotificationsAfter(tt.Context(), orphan.UserID, "", 10); err != nil || len(n) != 0 {
			tt.Fatalf("the user of an abandoned order was told: %+v, %v", n, err)
		}
	}

	live := tt.createOrder(item, user(2), now)
	gone := *live
	gone.Status = flashsale.OrderExpired
	got, err := tt.store.AbandonOrder(tt.Context(), &gone)
	if err != nil {
		tt.Fatalf("abandon a stored order: %v", err)
	}
	tt.wantOrder(got, live)
	tt.wantStoredOrder(live)
}
