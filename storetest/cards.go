package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

// payWith is the move of o to paying at at with a card and its limit.
func payWith(o *flashsale.Order, at time.Time, fingerprint string, limit int64) flashsale.Transition {
	return flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying,
		At: at, Deadline: flashsale.BeforeDeadline, CountAttempt: true,
		Card: &flashsale.CardClaim{Fingerprint: fingerprint, Limit: limit},
	}
}

// isCardLimit reports a refusal for the card's limit.
func isCardLimit(err error) bool { return errors.Is(err, flashsale.ErrCardLimit) }

// A card is counted while its order pays or is confirmed, per sale,
// whatever the account: a decline frees it, a confirmation keeps it, a
// card without a limit is only recorded, and another sale counts afresh.
func testCardLimit(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	at := now.Add(time.Minute)
	const card = "fp_shared"

	first := tt.createOrder(item, user(1), now)
	paying := tt.transition(payWith(first, at, card, 1))
	if paying.CardFingerprint != card || paying.Status != flashsale.OrderPaying {
		tt.Fatalf("the first claim of a card: status %s, card %q; want paying with %q", paying.Status, paying.CardFingerprint, card)
	}
	tt.wantStoredOrder(paying)

	second := tt.createOrder(item, user(2), now)
	tt.wantCardLimit(payWith(second, at, card, 1), second)

	// A decline returns the order to reserved: its card no longer counts.
	tt.transition(flashsale.Transition{OrderID: first.ID, From: flashsale.OrderPaying, To: flashsale.OrderReserved,
		At: at, PaymentError: "card_declined"})
	paying = tt.transition(payWith(second, at, card, 1))
	if paying.CardFingerprint != card {
		tt.Fatalf("claim after a decline: card %q, want %q", paying.CardFingerprint, card)
	}
	tt.transition(flashsale.Transition{OrderID: second.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: at})
	// A confirmed order holds its card for good.
	tt.wantCardLimit(payWith(first, at, card, 1), tt.storedOrderOf(first.ID))

	// Another card, no limit, another sale: each passes.
	tt.transition(payWith(first, at, "fp_other", 1))
	third := tt.createOrder(item, user(3), now)
	if o := tt.transition(payWith(third, at, card, 0)); o.CardFingerprint != card {
		tt.Fatalf("a claim without a limit: card %q, want it recorded as %q", o.CardFingerprint, card)
	}
	elsewhere := tt.createSale()
	tt.transition(payWith(tt.createOrder(&elsewhere.Items[0], user(4), now), at, card, 1))

	// A limit counts the units of every order with the card, claimed with
	// a limit or not: with two held, a limit of three lets one more pass.
	fourth := tt.createOrder(item, user(5), now)
	tt.transition(payWith(fourth, at, card, 3))
	fifth := tt.createOrder(item, user(6), now)
	tt.wantCardLimit(payWith(fifth, at, card, 3), fifth)
}

// A refusal for the order's status or deadline is told as such, not as
// the card's limit, even when the card is at its limit too.
func testCardLimitStatusFirst(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	at := now.Add(time.Minute)
	holder := tt.createOrder(item, user(1), now)
	tt.transition(payWith(holder, at, "fp_status", 1))

	paying := tt.pay(tt.createOrder(item, user(2), now), at)
	_, err := tt.store.Transition(tt.Context(), payWith(paying, at, "fp_status", 1))
	if !isRefused(err) || isCardLimit(err) {
		tt.Fatalf("claim of a card by an order already paying: err = %v, want a refusal for its status", err)
	}
	late := tt.createOrder(item, user(3), now)
	_, err = tt.store.Transition(tt.Context(), payWith(late, late.ExpiresAt, "fp_status", 1))
	if !isRefused(err) || isCardLimit(err) {
		tt.Fatalf("claim of a card past the deadline: err = %v, want a refusal for the deadline", err)
	}
}

// Fifty accounts pay with one card at once, limit one: exactly one pays.
func testCardLimitRace(tt *tester) {
	RaceCard(tt.T, []flashsale.OrderStore{tt.store})
}

// RaceCard is the card race over several stores of one database (the
// instances of a fleet): fifty accounts' orders, created through the
// first store, move to paying with one card at once, limit one, each
// through the stores in turn. Exactly one moves; every other is refused
// for the card and left as it was.
func RaceCard(t *testing.T, stores []flashsale.OrderStore) {
	t.Helper()
	tt := &tester{T: t, store: stores[0]}
	const accounts = 50
	sale := tt.createSale()
	orders := make([]*flashsale.Order, accounts)
	for i := range orders {
		orders[i] = tt.createOrder(&sale.Items[0], user(i), now)
	}
	at := now.Add(time.Minute)
	card := "fp_race_" + newID()

	got := make([]*flashsale.Order, accounts)
	errs := make([]error, accounts)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, o := range orders {
		store := stores[i%len(stores)]
		wg.Go(func() {
			<-start
			got[i], errs[i] = store.Transition(t.Context(), payWith(o, at, card, 1))
		})
	}
	close(start)
	wg.Wait()

	paid := 0
	for i, err := range errs {
		switch {
		case err == nil:
			paid++
		case isCardLimit(err):
			tt.wantOrder(got[i], orders[i])
			tt.wantStoredOrder(orders[i])
		default:
			t.Fatalf("claim %d of a shared card: %v", i, err)
		}
	}
	if paid != 1 {
		t.Fatalf("%d accounts paid with one card, limit 1", paid)
	}
}

// wantCardLimit checks that t is refused for its card and that the order
// stays current.
func (tt *tester) wantCardLimit(t flashsale.Transition, current *flashsale.Order) {
	tt.Helper()
	got, err := tt.store.Transition(tt.Context(), t)
	if !isCardLimit(err) {
		tt.Fatalf("claim of card %q by order %s: err = %v, want ErrCardLimit", t.Card.Fingerprint, t.OrderID, err)
	}
	tt.wantOrder(got, current)
	tt.wantStoredOrder(current)
}

// storedOrderOf reads an order back.
func (tt *tester) storedOrderOf(id string) *flashsale.Order {
	tt.Helper()
	o, err := tt.store.Order(tt.Context(), id)
	if err != nil {
		tt.Fatalf("order %s: %v", id, err)
	}
	return o
}
