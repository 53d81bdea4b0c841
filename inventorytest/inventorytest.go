// Package inventorytest is the conformance suite of flashsale.Inventory. Every
// implementation runs it unchanged, so that the embedded and the distributed
// inventory give the same answers.
package inventorytest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// Run runs the suite, each scenario as a parallel subtest with an inventory of
// its own from newInventory. Expiring looks at every item of an inventory, so
// newInventory must return one that holds nothing yet and sees nothing other
// inventories load (on a shared server: keys under a prefix of its own).
// Scenarios also use item ids of their own.
func Run(t *testing.T, newInventory func(t *testing.T) flashsale.Inventory) {
	scenarios := []struct {
		name string
		run  func(h *harness)
	}{
		{"ReserveTakesUnits", testReserveTakesUnits},
		{"SoldOut", testSoldOut},
		{"SoldOutForQuantity", testSoldOutForQuantity},
		{"SoldOutItemAnswersHolders", testSoldOutItemAnswersHolders},
		{"DoubleClick", testDoubleClick},
		{"Retry", testRetry},
		{"PerUserLimit", testPerUserLimit},
		{"ReleaseFreesLimit", testReleaseFreesLimit},
		{"SaleWindow", testSaleWindow},
		{"UnknownItem", testUnknownItem},
		{"Confirm", testConfirm},
		{"Release", testRelease},
		{"Expiring", testExpiring},
		{"ExpiringOrder", testExpiringOrder},
		{"Load", testLoad},
		{"LoadReplaces", testLoadReplaces},
		{"LoadRefusesOverclaim", testLoadRefusesOverclaim},
		{"LoadRefusesInvalidSnapshots", testLoadRefusesInvalidSnapshots},
		{"Adjust", testAdjust},
		{"ConcurrentRush", testConcurrentRush},
		{"ConcurrentDoubleClicks", testConcurrentDoubleClicks},
		{"ConcurrentChurn", testConcurrentChurn},
		{"ConcurrentHoldersOfSoldOutItem", testConcurrentHoldersOfSoldOutItem},
		{"ConcurrentReleaseAndReserveByOneUser", testConcurrentReleaseAndReserveByOneUser},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			s.run(&harness{t: t, inv: newInventory(t)})
		})
	}
}

// The sale window of every item, and the instant requests are made at unless
// a scenario says otherwise. Whole seconds, so that an implementation storing
// times at millisecond precision compares equal.
var (
	saleStart = time.Date(2030, time.March, 1, 9, 0, 0, 0, time.UTC)
	saleEnd   = saleStart.Add(2 * time.Hour)
	now       = saleStart.Add(time.Minute)
)

const ttl = 10 * time.Minute

// harness is one scenario's inventory with the assertions the scenarios share.
type harness struct {
	t   *testing.T
	inv flashsale.Inventory
}

// newItem loads an item of its own, on sale from saleStart to saleEnd, with
// nothing claimed yet.
func (h *harness) newItem(total, perUserLimit int64) flashsale.ItemSnapshot {
	h.t.Helper()
	snap := flashsale.ItemSnapshot{
		SaleID:       "sale-" + uuid.NewString(),
		ItemID:       "item-" + uuid.NewString(),
		Total:        total,
		PerUserLimit: perUserLimit,
		StartTime:    saleStart,
		EndTime:      saleEnd,
	}
	h.load(snap)
	return snap
}

func (h *harness) load(snap flashsale.ItemSnapshot) {
	h.t.Helper()
	if err := h.inv.Load(h.t.Context(), snap); err != nil {
		h.t.Fatalf("Load(%s): %v", snap.ItemID, err)
	}
}

// request asks for units at now, as a new request with an order id of its own.
func request(item flashsale.ItemSnapshot, userID string, quantity int64) flashsale.ReserveRequest {
	return flashsale.ReserveRequest{
		SaleID:   item.SaleID,
		ItemID:   item.ItemID,
		UserID:   userID,
		Quantity: quantity,
		OrderID:  uuid.NewString(),
		Now:      now,
		TTL:      ttl,
	}
}

// reserve makes the request and fails the scenario unless a new reservation
// (not an existing one) is returned.
func (h *harness) reserve(req flashsale.ReserveRequest) flashsale.Reservation {
	h.t.Helper()
	r, err := h.inv.Reserve(h.t.Context(), req)
	if err != nil {
		h.t.Fatalf("Reserve(user %s, quantity %d): %v", req.UserID, req.Quantity, err)
	}
	if r.Existing || r.OrderID != req.OrderID {
		h.t.Fatalf("Reserve(user %s): got existing reservation %+v, want a new one", req.UserID, r)
	}
	return r
}

// reserveExisting makes the request and fails the scenario unless it returns
// want, marked Existing.
func (h *harness) reserveExisting(req flashsale.ReserveRequest, want flashsale.Reservation) {
	h.t.Helper()
	got, err := h.inv.Reserve(h.t.Context(), req)
	if err != nil {
		h.t.Fatalf("Reserve(user %s) again: %v, want the existing reservation", req.UserID, err)
	}
	if !got.Existing || !sameReservation(got, want) {
		h.t.Fatalf("Reserve(user %s) again:\n got %+v\nwant %+v, Existing", req.UserID, got, want)
	}
}

// refuse makes the request and fails the scenario unless it is refused
// with want's code and message: every inventory words each refusal as the
// domain does (see refusal.go), whichever part of it decides.
func (h *harness) refuse(req flashsale.ReserveRequest, want *flashsale.Error) {
	h.t.Helper()
	r, err := h.inv.Reserve(h.t.Context(), req)
	var got *flashsale.Error
	if !errors.As(err, &got) || got.Code != want.Code || got.Message != want.Message {
		h.t.Fatalf("Reserve(user %s, quantity %d, at %s) = %+v, %v; want %v",
			req.UserID, req.Quantity, req.Now.Format(time.RFC3339), r, err, want)
	}
}

func (h *harness) confirm(item flashsale.ItemSnapshot, orderID string) {
	h.t.Helper()
	if err := h.inv.Confirm(h.t.Context(), item.ItemID, orderID); err != nil {
		h.t.Fatalf("Confirm(%s): %v", orderID, err)
	}
}

func (h *harness) release(item flashsale.ItemSnapshot, orderID string) {
	h.t.Helper()
	if err := h.inv.Release(h.t.Context(), item.ItemID, orderID); err != nil {
		h.t.Fatalf("Release(%s): %v", orderID, err)
	}
}

// wantStock checks the stock invariant and the exact counts.
func (h *harness) wantStock(item flashsale.ItemSnapshot, want flashsale.Stock) {
	h.t.Helper()
	got, err := h.inv.Stock(h.t.Context(), item.ItemID)
	if err != nil {
		h.t.Fatalf("Stock: %v", err)
	}
	if !got.Consistent() {
		h.t.Fatalf("Stock = %+v breaks available + reserved + sold == total", got)
	}
	if got != want {
		h.t.Fatalf("Stock = %+v, want %+v", got, want)
	}
}

// wantExpiring checks that Expiring(at, limit) returns want, in order.
func (h *harness) wantExpiring(at time.Time, limit int, want ...flashsale.Reservation) {
	h.t.Helper()
	got, err := h.inv.Expiring(h.t.Context(), at, limit)
	if err != nil {
		h.t.Fatalf("Expiring: %v", err)
	}
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = sameReservation(got[i], want[i]) && !got[i].Existing
	}
	if !same {
		h.t.Fatalf("Expiring(%s, %d):\n got %s\nwant %s", at.Format(time.RFC3339), limit, orderIDs(got), orderIDs(want))
	}
}

// sameReservation compares all but Existing, times as instants.
func sameReservation(a, b flashsale.Reservation) bool {
	return a.OrderID == b.OrderID && a.SaleID == b.SaleID && a.ItemID == b.ItemID &&
		a.UserID == b.UserID && a.Quantity == b.Quantity &&
		a.ReservedAt.Equal(b.ReservedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func orderIDs(rs []flashsale.Reservation) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.UserID + "/" + r.OrderID
	}
	return ids
}
