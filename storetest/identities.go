package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

// createLimitedSale stores a sale whose limits count phones and addresses.
func (tt *tester) createLimitedSale(limits flashsale.PurchaseLimits) *flashsale.Sale {
	tt.Helper()
	sale := newSale()
	sale.Limits = &limits
	if err := tt.store.CreateSale(tt.Context(), sale); err != nil {
		tt.Fatalf("create sale: %v", err)
	}
	return sale
}

// counted is a new order of item by a user of its own, counted under ids.
func counted(item *flashsale.Item, ids flashsale.Identities) *flashsale.Order {
	o := newOrder(item, user(0), now)
	o.Identities = ids
	return o
}

// wantLimit checks that creating o is refused for reason and stores
// nothing.
func (tt *tester) wantLimit(o *flashsale.Order, reason string) {
	tt.Helper()
	err := tt.store.CreateOrder(tt.Context(), o)
	e, ok := err.(*flashsale.Error)
	if !ok || e.Code != flashsale.EPurchaseLimitExceeded || e.Reason != reason {
		tt.Fatalf("create an order over the %s limit: err = %v, want purchase_limit_exceeded for %s", reason, err, reason)
	}
	_, err = tt.store.Order(tt.Context(), o.ID)
	tt.wantCode("a refused order", err, flashsale.EOrderNotFound)
}

// A phone and an address are counted per sale over reserved, paying and
// confirmed units, whatever the account: an order that ends unsold frees
// its units, a retry of a stored order passes, another sale counts afresh,
// and an order of a sale without limits is only recorded.
func testIdentityLimits(tt *tester) {
	sale := tt.createLimitedSale(flashsale.PurchaseLimits{PerPhone: 1, PerAddress: 2})
	item := &sale.Items[0]
	phone := flashsale.Identities{PhoneKey: "phone_a"}

	first := counted(item, phone)
	if err := tt.store.CreateOrder(tt.Context(), first); err != nil {
		tt.Fatalf("the first order of a phone: %v", err)
	}
	tt.wantStoredOrder(first)
	tt.wantLimit(counted(item, phone), flashsale.LimitPhone)
	if err := tt.store.CreateOrder(tt.Context(), first); err != nil {
		tt.Fatalf("a retry of a stored order: %v", err)
	}

	// Cancelled: the phone is free again; confirmed, it holds for good.
	tt.transition(flashsale.Transition{OrderID: first.ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: now})
	second := counted(item, phone)
	if err := tt.store.CreateOrder(tt.Context(), second); err != nil {
		tt.Fatalf("an order of a phone whose order was cancelled: %v", err)
	}
	paying := tt.pay(second, now.Add(time.Minute))
	tt.transition(flashsale.Transition{OrderID: paying.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: now.Add(time.Minute)})
	tt.wantLimit(counted(item, phone), flashsale.LimitPhone)

	// Two units per address: one order of two, or two of one.
	address := flashsale.Identities{AddressKey: "address_a"}
	for range 2 {
		if err := tt.store.CreateOrder(tt.Context(), counted(item, address)); err != nil {
			tt.Fatalf("an order within the address's limit: %v", err)
		}
	}
	tt.wantLimit(counted(item, address), flashsale.LimitAddress)
	// The phone is told first; a fresh phone at a full address is refused
	// for the address.
	tt.wantLimit(counted(item, flashsale.Identities{PhoneKey: "phone_a", AddressKey: "address_a"}), flashsale.LimitPhone)
	tt.wantLimit(counted(item, flashsale.Identities{PhoneKey: "phone_b", AddressKey: "address_a"}), flashsale.LimitAddress)

	elsewhere := tt.createLimitedSale(flashsale.PurchaseLimits{PerPhone: 1})
	if err := tt.store.CreateOrder(tt.Context(), counted(&elsewhere.Items[0], phone)); err != nil {
		tt.Fatalf("the phone's order in another sale: %v", err)
	}
	unlimited := tt.createSale()
	for range 2 {
		if err := tt.store.CreateOrder(tt.Context(), counted(&unlimited.Items[0], phone)); err != nil {
			tt.Fatalf("a phone's order in a sale without limits: %v", err)
		}
	}
}

// Fifty accounts of one phone order at once, limit one: one is stored.
func testIdentityLimitRace(tt *tester) {
	RaceIdentity(tt.T, []flashsale.OrderStore{tt.store})
}

// RaceIdentity is the phone race over several stores of one database:
// fifty accounts' orders under one phone, limit one, created at once
// through the stores in turn. Exactly one is stored; every other is
// refused for the phone.
func RaceIdentity(t *testing.T, stores []flashsale.OrderStore) {
	t.Helper()
	tt := &tester{T: t, store: stores[0]}
	const accounts = 50
	sale := tt.createLimitedSale(flashsale.PurchaseLimits{PerPhone: 1})
	phone := flashsale.Identities{PhoneKey: "phone_race_" + newID()}
	errs := make([]error, accounts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range accounts {
		store := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			errs[i] = store.CreateOrder(t.Context(), counted(&sale.Items[0], phone))
		})
	}
	close(start)
	wg.Wait()
	stored := 0
	for i, err := range errs {
		switch {
		case err == nil:
			stored++
		case !flashsale.IsCode(err, flashsale.EPurchaseLimitExceeded):
			t.Fatalf("order %d of a shared phone: %v", i, err)
		}
	}
	if stored != 1 {
		t.Fatalf("%d accounts' orders stored under one phone, limit 1", stored)
	}
}
