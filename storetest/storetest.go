// Package storetest is the conformance suite of flashsale.OrderStore. Every
// implementation runs it unchanged, so that the embedded and the distributed
// store give the same answers.
//
// Beyond what the comments of flashsale.OrderStore say, the suite pins down:
//
//   - Times are kept at microsecond precision and come back in UTC: the
//     suite writes times with nanoseconds in another zone and expects them
//     truncated to the microsecond, in UTC.
//   - CreateOrder of an order whose ID is stored is a retry: it succeeds and
//     changes nothing. An order of an item that is not its sale's fails
//     with item_not_found. A context done before the call writes nothing.
//   - A create sale that fails stores nothing of the sale.
//   - Claims fills in the item's sale, limits and window; an unknown item is
//     item_not_found.
//   - StalePayments lists the oldest change first.
//   - A transition of an unknown order is order_not_found, not refused.
//   - Outbox (when the store implements it): a notification's snapshot
//     carries the item's name; a new delivery is due at the notification's
//     time; claims go longest due first; an id of another user, or none at
//     all, is no place to resume from (ErrUnknownNotification).
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// Harness gives the suite its stores.
type Harness struct {
	// Open returns a new store; parallel subtests call it. Stores of one
	// Run may share a database:
	// every scenario uses ids of its own, and the scenarios that query
	// across orders use time windows no other scenario, nor an earlier
	// run, writes into. Run closes the store.
	Open func(t *testing.T) flashsale.OrderStore
	// Reopen returns a store on the data of closed, a store from Open that
	// Run has closed: what a restarted process finds. Run closes it.
	Reopen func(t *testing.T, closed flashsale.OrderStore) flashsale.OrderStore
	// OpenWithChannels returns a new store, as Open does, that owes each
	// notification it writes to the delivery channels named. The outbox
	// scenarios use it, and skip when it is nil or its store does not
	// implement flashsale.Outbox.
	OpenWithChannels func(t *testing.T, channels []string) flashsale.OrderStore
}

// scenario is one subtest of the suite.
type scenario struct {
	name string
	run  func(tt *tester)
}

// Run runs the suite, each scenario as a parallel subtest with a store of
// its own.
func Run(t *testing.T, h Harness) {
	if h.Open == nil || h.Reopen == nil {
		t.Fatal("storetest: the Harness needs both Open and Reopen")
	}
	scenarios := []scenario{
		{"SaleRoundTrip", testSaleRoundTrip},
		{"SalesEarliestStartFirst", testSalesEarliestStartFirst},
		{"CreateSaleAllOrNothing", testCreateSaleAllOrNothing},
		{"UpdateSale", testUpdateSale},
		{"SaleOrders", testSaleOrders},
		{"Audit", testAudit},
		{"RefundedStaysSold", testRefundedStaysSold},
		{"OrderRoundTrip", testOrderRoundTrip},
		{"CreateOrderRetry", testCreateOrderRetry},
		{"AbandonOrder", testAbandonOrder},
		{"IdempotencyKey", testIdempotencyKey},
		{"OrderOfUnknownItem", testOrderOfUnknownItem},
		{"CreateOrderCancelled", testCreateOrderCancelled},
		{"ConcurrentCreates", testConcurrentCreates},
		{"Transitions", testTransitions},
		{"TransitionRefused", testTransitionRefused},
		{"TransitionUnknownOrder", testTransitionUnknownOrder},
		{"TransitionRace", testTransitionRace},
		{"CardLimit", testCardLimit},
		{"CardLimitStatusFirst", testCardLimitStatusFirst},
		{"CardLimitRace", testCardLimitRace},
		{"IdentityLimits", testIdentityLimits},
		{"IdentityLimitRace", testIdentityLimitRace},
		{"Claims", testClaims},
		{"DueReservations", testDueReservations},
		{"StalePayments", testStalePayments},
		{"Ping", testPing},
		{"CloseFlushes", testCloseFlushes},
	}
	scenarios = append(scenarios, lotteryScenarios...)
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			tt := &tester{T: t, harness: h}
			tt.store = tt.open()
			s.run(tt)
		})
	}
	runOutbox(t, h)
}

// tester is one scenario's store with the helpers the scenarios share.
type tester struct {
	*testing.T
	harness Harness
	store   flashsale.OrderStore
	// outbox is store as a flashsale.Outbox, and channels the channels it
	// was opened with, in the outbox scenarios.
	outbox   flashsale.Outbox
	channels []string
}

// open returns a store from the harness that the test closes at its end.
func (tt *tester) open() flashsale.OrderStore {
	s := tt.harness.Open(tt.T)
	tt.Cleanup(func() {
		if err := s.Close(); err != nil {
			tt.Errorf("close: %v", err)
		}
	})
	return s
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// now is the instant scenarios make orders at: nanoseconds and a zone other
// than UTC, to see the store truncate and convert.
var now = time.Date(2030, time.March, 1, 9, 0, 0, 123_456_789, time.FixedZone("CET", 3600))

// stored is t as a store returns it.
func stored(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// pastWindow returns the start of a stretch of time in the far past for a
// scenario that queries orders by time across the whole store. The later
// the call, the earlier the start: 100 ms of the past per ms of wall time,
// so the orders of a run more than 100 ms earlier, left in a shared
// database, lie after the 10 s a scenario uses.
func pastWindow() time.Time {
	epoch := time.Date(1900, time.January, 1, 0, 0, 0, 0, time.UTC)
	elapsed := time.Since(time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC))
	// In microseconds: a time.Duration of a century would overflow.
	return time.UnixMicro(epoch.UnixMicro() - 100*elapsed.Microseconds()).UTC().Truncate(time.Second)
}

// newSale returns a sale of three items, on sale around now. The items'
// order differs from their ids' order, so a store that sorts by id shows.
func newSale() *flashsale.Sale {
	sale := &flashsale.Sale{
		ID:             newID(),
		StartTime:      now.Add(-time.Hour),
		EndTime:        now.Add(time.Hour),
		Mode:           flashsale.ModeFCFS,
		Admission:      flashsale.AdmissionDirect,
		ReservationTTL: 10 * time.Minute,
		CreatedAt:      now.Add(-24 * time.Hour),
	}
	sale.Name = "Sale " + sale.ID
	for i, name := range []string{"Phone", "Case", "Charger"} {
		sale.Items = append(sale.Items, flashsale.Item{
			ID: newID(), SaleID: sale.ID, ProductID: newID(), Name: name,
			OriginalPrice: 99_900 + flashsale.Money(i), SalePrice: 49_900 + flashsale.Money(i), Currency: "USD",
			TotalQuantity: 100 + int64(i), PerUserLimit: 2 + int64(i),
		})
	}
	slices.Reverse(sale.Items)
	return sale
}

// createSale stores a new sale.
func (tt *tester) createSale() *flashsale.Sale {
	tt.Helper()
	sale := newSale()
	if err := tt.store.CreateSale(tt.Context(), sale); err != nil {
		tt.Fatalf("create sale: %v", err)
	}
	return sale
}

// newOrder returns a reservation of one unit of item, reserved at
// reservedAt for ten minutes.
func newOrder(item *flashsale.Item, userID string, reservedAt time.Time) *flashsale.Order {
	return &flashsale.Order{
		ID: newID(), SaleID: item.SaleID, ItemID: item.ID, UserID: userID, Quantity: 1,
		Status: flashsale.OrderReserved, UnitPrice: item.SalePrice, Currency: item.Currency,
		ReservedAt: reservedAt, ExpiresAt: reservedAt.Add(10 * time.Minute), UpdatedAt: reservedAt,
	}
}

// createOrder stores a new reservation.
func (tt *tester) createOrder(item *flashsale.Item, userID string, reservedAt time.Time) *flashsale.Order {
	tt.Helper()
	o := newOrder(item, userID, reservedAt)
	if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
		tt.Fatalf("create order: %v", err)
	}
	return o
}

// transition makes a change that must succeed.
func (tt *tester) transition(t flashsale.Transition) *flashsale.Order {
	tt.Helper()
	o, err := tt.store.Transition(tt.Context(), t)
	if err != nil {
		tt.Fatalf("%s -> %s of order %s: %v", t.From, t.To, t.OrderID, err)
	}
	return o
}

// wantOrder checks an order the store returned against what it should be.
func (tt *tester) wantOrder(got, want *flashsale.Order) {
	tt.Helper()
	if got == nil {
		tt.Fatalf("got no order, want %+v", want)
	}
	tt.wantUTC("order", got.ReservedAt, got.ExpiresAt, got.ConfirmedAt, got.UpdatedAt)
	if !reflect.DeepEqual(storedOrder(got), storedOrder(want)) {
		tt.Fatalf("order\n got %+v\nwant %+v", got, storedOrder(want))
	}
}

// wantStoredOrder checks that the store holds want.
func (tt *tester) wantStoredOrder(want *flashsale.Order) {
	tt.Helper()
	got, err := tt.store.Order(tt.Context(), want.ID)
	if err != nil {
		tt.Fatalf("order %s: %v", want.ID, err)
	}
	tt.wantOrder(got, want)
}

func storedOrder(o *flashsale.Order) flashsale.Order {
	c := *o
	c.ReservedAt, c.ExpiresAt, c.UpdatedAt = stored(c.ReservedAt), stored(c.ExpiresAt), stored(c.UpdatedAt)
	c.ConfirmedAt = stored(c.ConfirmedAt)
	return c
}

// wantUTC checks that times come back in UTC (the zero time has no zone).
func (tt *tester) wantUTC(what string, times ...time.Time) {
	tt.Helper()
	for _, t := range times {
		if !t.IsZero() && t.Location() != time.UTC {
			tt.Fatalf("%s has a time in %s, want UTC", what, t.Location())
		}
	}
}

// wantOrderIDs checks that orders are exactly want, in that order.
func (tt *tester) wantOrderIDs(what string, orders []*flashsale.Order, want ...*flashsale.Order) {
	tt.Helper()
	got := make([]string, len(orders))
	for i, o := range orders {
		got[i] = o.ID
	}
	wantIDs := make([]string, len(want))
	for i, o := range want {
		wantIDs[i] = o.ID
	}
	if !slices.Equal(got, wantIDs) {
		tt.Fatalf("%s: got orders %v, want %v", what, got, wantIDs)
	}
}

// wantRefused checks that a transition was refused with the order as it is.
func (tt *tester) wantRefused(t flashsale.Transition, current *flashsale.Order) {
	tt.Helper()
	paymentsBefore := tt.payments(t.OrderID)
	got, err := tt.store.Transition(tt.Context(), t)
	if !isRefused(err) {
		tt.Fatalf("%s -> %s of a %s order: err = %v, want ErrTransitionRefused", t.From, t.To, current.Status, err)
	}
	tt.wantOrder(got, current)
	tt.wantStoredOrder(current)
	if after := tt.payments(t.OrderID); len(after) != len(paymentsBefore) {
		tt.Fatalf("a refused transition recorded a payment: %d before, %d after", len(paymentsBefore), len(after))
	}
}

func (tt *tester) payments(orderID string) []flashsale.Payment {
	tt.Helper()
	p, err := tt.store.Payments(tt.Context(), orderID)
	if err != nil {
		tt.Fatalf("payments of order %s: %v", orderID, err)
	}
	return p
}

// wantCode checks that err carries code.
func (tt *tester) wantCode(what string, err error, code string) {
	tt.Helper()
	if !flashsale.IsCode(err, code) {
		tt.Fatalf("%s: err = %v, want code %s", what, err, code)
	}
}

func isRefused(err error) bool { return errors.Is(err, flashsale.ErrTransitionRefused) }

func user(i int) string { return fmt.Sprintf("user-%d-%s", i, newID()) }
