package checkout_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// blinkingInventory is an inventory whose every call fails as an
// unreachable Redis's do while down is set.
type blinkingInventory struct {
	*memory.Inventory
	down atomic.Bool
}

var errInventoryDown = &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second, Message: "the inventory cannot be reached"}

func (b *blinkingInventory) Reserve(ctx context.Context, r flashsale.ReserveRequest) (flashsale.Reservation, error) {
	if b.down.Load() {
		return flashsale.Reservation{}, errInventoryDown
	}
	return b.Inventory.Reserve(ctx, r)
}

func (b *blinkingInventory) Confirm(ctx context.Context, item, order string) error {
	if b.down.Load() {
		return errInventoryDown
	}
	return b.Inventory.Confirm(ctx, item, order)
}

func (b *blinkingInventory) Release(ctx context.Context, item, order string) error {
	if b.down.Load() {
		return errInventoryDown
	}
	return b.Inventory.Release(ctx, item, order)
}

func (b *blinkingInventory) Stock(ctx context.Context, item string) (flashsale.Stock, error) {
	if b.down.Load() {
		return flashsale.Stock{}, errInventoryDown
	}
	return b.Inventory.Stock(ctx, item)
}

func (b *blinkingInventory) Expiring(ctx context.Context, now time.Time, limit int) ([]flashsale.Reservation, error) {
	if b.down.Load() {
		return nil, errInventoryDown
	}
	return b.Inventory.Expiring(ctx, now, limit)
}

// blinkSale is one active sale of one item over a blinking inventory and
// a SQLite store, on a clock the test moves.
type blinkSale struct {
	svc       *checkout.Service
	inventory *blinkingInventory
	store     flashsale.OrderStore
	clock     *testclock.Clock
	sale      *flashsale.Sale
	item      string
}

func newBlinkSale(t *testing.T, stock int64) *blinkSale {
	t.Helper()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	start := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	b := &blinkSale{inventory: &blinkingInventory{Inventory: memory.NewInventory()}, store: store, clock: testclock.New(start)}
	b.svc = b.service(t)
	b.sale, err = b.svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: start.Add(-time.Minute), EndTime: start.Add(time.Hour),
		ReservationTTL: 10 * time.Minute,
		Items:          []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: stock, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	b.item = b.sale.Items[0].ID
	return b
}

// service is another instance over the same inventory and store.
func (b *blinkSale) service(t *testing.T) *checkout.Service {
	t.Helper()
	svc, err := checkout.New(checkout.Config{Inventory: b.inventory, Store: b.store, Payments: paysim.New(paysim.Options{}),
		Now: b.clock.Now, OrphanGrace: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (b *blinkSale) place(t *testing.T, svc *checkout.Service, user string) (*flashsale.Order, bool, error) {
	t.Helper()
	return svc.PlaceOrder(t.Context(), checkout.PlaceOrder{UserID: user, SaleID: b.sale.ID, ItemID: b.item, Quantity: 1})
}

// mustPlace places an order that must be a new reservation.
func (b *blinkSale) mustPlace(t *testing.T, user string) *flashsale.Order {
	t.Helper()
	o, created, err := b.place(t, b.svc, user)
	if err != nil || !created {
		t.Fatalf("place order for %s = %v, created %v; want a new reservation", user, err, created)
	}
	return o
}

// inStep asserts the inventory's counts equal the store's.
func (b *blinkSale) inStep(t *testing.T) {
	t.Helper()
	st, err := b.inventory.Stock(t.Context(), b.item)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := b.store.Claims(t.Context(), b.item)
	if err != nil {
		t.Fatal(err)
	}
	if want := claims.Stock(); st != want || !st.Consistent() {
		t.Fatalf("inventory %+v, store %+v; want the inventory to follow the store", st, want)
	}
}

// A payment and a cancel that commit while the inventory cannot be told
// answer as the store decided, and the inventory catches up as soon as it
// answers again, not at the reservations' deadline.
func TestStepsTheInventoryMissedAreRetriedUntilTheyLand(t *testing.T) {
	b := newBlinkSale(t, 3)
	ctx := t.Context()
	paid, cancelled := b.mustPlace(t, "payer"), b.mustPlace(t, "canceller")

	b.inventory.down.Store(true)
	o, err := b.svc.Pay(ctx, checkout.Pay{UserID: "payer", OrderID: paid.ID, Token: "tok_visa", Method: "credit_card"})
	if err != nil || o.Status != flashsale.OrderConfirmed {
		t.Fatalf("pay while the inventory is away = %v, %v; want confirmed: the store decided", o, err)
	}
	if o, err = b.svc.Cancel(ctx, "canceller", cancelled.ID); err != nil || o.Status != flashsale.OrderCancelled {
		t.Fatalf("cancel while the inventory is away = %v, %v; want cancelled", o, err)
	}
	if got := b.svc.OwedSteps(); got != 2 {
		t.Fatalf("%d steps owed; want 2", got)
	}
	if err := b.svc.FollowUp(ctx); err == nil {
		t.Fatal("a follow-up round while the inventory is away succeeded")
	}

	b.inventory.down.Store(false)
	if err := b.svc.FollowUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.svc.OwedSteps(); got != 0 {
		t.Fatalf("%d steps still owed once the inventory answers; want none", got)
	}
	b.inStep(t)
	st, _ := b.inventory.Stock(ctx, b.item)
	if st.Sold != 1 || st.Available != 2 {
		t.Fatalf("stock %+v; want the paid unit sold and the cancelled one back", st)
	}
}

// An instance that dies owing steps leaves them to the others: any
// instance that saw the inventory away catches up with the store.
func TestCatchUpRepairsStepsAnotherInstanceOwed(t *testing.T) {
	b := newBlinkSale(t, 3)
	ctx := t.Context()
	paid, cancelled := b.mustPlace(t, "payer"), b.mustPlace(t, "canceller")
	dying := b.service(t)

	b.inventory.down.Store(true)
	if _, err := dying.Pay(ctx, checkout.Pay{UserID: "payer", OrderID: paid.ID, Token: "tok_visa", Method: "credit_card"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Cancel(ctx, "canceller", cancelled.ID); err != nil {
		t.Fatal(err)
	}
	b.inventory.down.Store(false)
	// dying is gone with its debts; b.svc never owed a thing.
	if err := b.svc.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	b.inStep(t)
	if got := b.svc.Repairs(); got.Confirmed.Load() != 1 || got.Released.Load() != 1 {
		t.Fatalf("repairs: %d confirmed, %d released; want 1 and 1", got.Confirmed.Load(), got.Released.Load())
	}
}

// A shopper whose cancel fell in the blip and who presses Buy again gets a
// new reservation, not the cancelled order.
func TestTheNextPressAfterAMissedCancelReservesAnew(t *testing.T) {
	b := newBlinkSale(t, 3)
	ctx := t.Context()
	first := b.mustPlace(t, "shopper")
	b.inventory.down.Store(true)
	if _, err := b.svc.Cancel(ctx, "shopper", first.ID); err != nil {
		t.Fatal(err)
	}
	b.inventory.down.Store(false) // back, before any follow-up round

	o, created, err := b.place(t, b.svc, "shopper")
	if err != nil || !created || o.ID == first.ID || o.Status != flashsale.OrderReserved {
		t.Fatalf("press after the cancel = %+v, created %v, %v; want a new reservation", o, created, err)
	}
	b.inStep(t)
}

// A reservation with no order in the store (its commit's answer was lost,
// its instance died) holds its user for the orphan grace and no longer:
// within it the press says when to retry, after it the press reserves
// anew, and the orphan scan returns the units of those who never come
// back, whatever the reservation's deadline.
func TestOrphansGoAfterTheGraceNotTheDeadline(t *testing.T) {
	b := newBlinkSale(t, 2)
	ctx := t.Context()
	orphan := func(user, order string) {
		if _, err := b.inventory.Inventory.Reserve(ctx, flashsale.ReserveRequest{SaleID: b.sale.ID, ItemID: b.item, UserID: user,
			Quantity: 1, OrderID: order, Now: b.clock.Now(), TTL: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	orphan("returning", "never-committed-1")
	orphan("gone", "never-committed-2")

	b.clock.Advance(10 * time.Second)
	_, _, err := b.place(t, b.svc, "returning")
	var fe *flashsale.Error
	if !errors.As(err, &fe) || fe.Code != flashsale.EUnavailable || fe.RetryAfter < 19*time.Second || fe.RetryAfter > 20*time.Second {
		t.Fatalf("press within the grace = %v; want unavailable, retry when the grace ends (20 s)", err)
	}
	if released, err := b.svc.ReleaseOrphans(ctx); err != nil || released != 0 {
		t.Fatalf("orphan scan within the grace released %d, %v; want none", released, err)
	}

	b.clock.Advance(21 * time.Second)
	o, created, err := b.place(t, b.svc, "returning")
	if err != nil || !created {
		t.Fatalf("press after the grace = %v, created %v, %v; want a new reservation", o, created, err)
	}
	if released, err := b.svc.ReleaseOrphans(ctx); err != nil || released != 1 {
		t.Fatalf("orphan scan after the grace released %d, %v; want the one left", released, err)
	}
	b.inStep(t)
	// The durable order is no orphan, however old.
	b.clock.Advance(time.Minute)
	if released, err := b.svc.ReleaseOrphans(ctx); err != nil || released != 0 {
		t.Fatalf("orphan scan released %d, %v; want a durable order kept", released, err)
	}
	b.inStep(t)
}

// lateStore commits a transition only once its caller's deadline has
// passed, as a stalled server does with the statement waiting in its
// socket, and answers the deadline.
type lateStore struct {
	flashsale.OrderStore
	late atomic.Bool
}

func (s *lateStore) Transition(ctx context.Context, t flashsale.Transition) (*flashsale.Order, error) {
	if !s.late.Load() {
		return s.OrderStore.Transition(ctx, t)
	}
	<-ctx.Done()
	if _, err := s.OrderStore.Transition(context.WithoutCancel(ctx), t); err != nil {
		return nil, err
	}
	return nil, ctx.Err()
}

// A cancel whose answer ran out of time but whose change committed all the
// same reaches the inventory: the order is read again until settled.
func TestAChangeThatCommittedAfterItsDeadlineIsFollowed(t *testing.T) {
	b := newBlinkSale(t, 3)
	ctx := t.Context()
	late := &lateStore{OrderStore: b.store}
	svc, err := checkout.New(checkout.Config{Inventory: b.inventory, Store: late, Payments: paysim.New(paysim.Options{}),
		Now: b.clock.Now, StoreTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o := b.mustPlace(t, "canceller")

	late.late.Store(true)
	if _, err := svc.Cancel(ctx, "canceller", o.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancel past the store's deadline = %v; want the deadline", err)
	}
	late.late.Store(false)
	if st, _ := b.inventory.Stock(ctx, b.item); st.Reserved != 1 {
		t.Fatalf("stock %+v: the step was taken before the store answered", st)
	}
	if err := svc.FollowUp(ctx); err != nil {
		t.Fatal(err)
	}
	b.inStep(t)
}

// An orphan's commit that was in doubt and lands after the orphan was
// released (it was stuck in a stalled server) finds the order abandoned
// and changes nothing: the released units are never claimed twice.
func TestACommitLandingAfterItsOrphanWasReleasedChangesNothing(t *testing.T) {
	b := newBlinkSale(t, 1)
	ctx := t.Context()
	res, err := b.inventory.Inventory.Reserve(ctx, flashsale.ReserveRequest{SaleID: b.sale.ID, ItemID: b.item, UserID: "stuck",
		Quantity: 1, OrderID: "stuck-order", Now: b.clock.Now(), TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(31 * time.Second)
	if released, err := b.svc.ReleaseOrphans(ctx); err != nil || released != 1 {
		t.Fatalf("orphan scan released %d, %v; want the orphan", released, err)
	}
	b.mustPlace(t, "next") // the unit is sold again

	item := b.sale.Items[0]
	late := &flashsale.Order{ID: res.OrderID, SaleID: b.sale.ID, ItemID: b.item, UserID: "stuck", Quantity: 1,
		Status: flashsale.OrderReserved, UnitPrice: item.SalePrice, Currency: item.Currency,
		ReservedAt: res.ReservedAt, ExpiresAt: res.ExpiresAt, UpdatedAt: res.ReservedAt}
	if err := b.store.CreateOrder(ctx, late); err != nil {
		t.Fatalf("the late commit: %v", err)
	}
	if o, err := b.store.Order(ctx, res.OrderID); err != nil || o.Status != flashsale.OrderExpired {
		t.Fatalf("the orphan's order after its late commit: %+v, %v; want it abandoned (expired)", o, err)
	}
	b.inStep(t)
}
