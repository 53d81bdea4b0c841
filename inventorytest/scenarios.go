package inventorytest

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

func testReserveTakesUnits(h *harness) {
	item := h.newItem(10, 2)
	req := request(item, "alice", 2)
	got := h.reserve(req)
	want := flashsale.Reservation{
		OrderID:    req.OrderID,
		SaleID:     item.SaleID,
		ItemID:     item.ItemID,
		UserID:     "alice",
		Quantity:   2,
		ReservedAt: now,
		ExpiresAt:  now.Add(ttl),
	}
	if !sameReservation(got, want) {
		h.t.Fatalf("Reserve:\n got %+v\nwant %+v", got, want)
	}
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 8, Reserved: 2})
}

func testSoldOut(h *harness) {
	item := h.newItem(3, 1)
	for _, user := range []string{"alice", "bob", "carol"} {
		h.reserve(request(item, user, 1))
	}
	h.refuse(request(item, "dave", 1), flashsale.SoldOut(0))
	h.wantStock(item, flashsale.Stock{Total: 3, Available: 0, Reserved: 3})
}

func testSoldOutForQuantity(h *harness) {
	item := h.newItem(3, 2)
	h.reserve(request(item, "alice", 2))
	h.refuse(request(item, "bob", 2), flashsale.SoldOut(1))
	h.wantStock(item, flashsale.Stock{Total: 3, Available: 1, Reserved: 2})
	h.reserve(request(item, "bob", 1))
	h.wantStock(item, flashsale.Stock{Total: 3, Available: 0, Reserved: 3})
}

// A sold-out item still owes its holders their own answers: the live
// reservation to its user, already_purchased to a user at the limit. Only
// users holding nothing, or not enough to be refused by the limit, are told
// sold_out.
func testSoldOutItemAnswersHolders(h *harness) {
	item := h.newItem(3, 2)
	alice := h.reserve(request(item, "alice", 1))
	bob := h.reserve(request(item, "bob", 1))
	h.confirm(item, bob.OrderID)
	carol := h.reserve(request(item, "carol", 1))
	h.confirm(item, carol.OrderID)
	h.wantStock(item, flashsale.Stock{Total: 3, Available: 0, Reserved: 1, Sold: 2})

	h.reserveExisting(request(item, "alice", 1), alice)
	h.refuse(request(item, "bob", 1), flashsale.SoldOut(0))
	h.refuse(request(item, "carol", 2), flashsale.AlreadyPurchased(1, 2))
	h.refuse(request(item, "dave", 1), flashsale.SoldOut(0))
	h.wantStock(item, flashsale.Stock{Total: 3, Available: 0, Reserved: 1, Sold: 2})
}

func testDoubleClick(h *harness) {
	item := h.newItem(10, 2)
	first := h.reserve(request(item, "alice", 1))
	h.reserveExisting(request(item, "alice", 1), first)
	// The live reservation is the answer whatever quantity the click asks.
	h.reserveExisting(request(item, "alice", 2), first)
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 9, Reserved: 1})
}

func testRetry(h *harness) {
	item := h.newItem(10, 2)
	req := request(item, "alice", 1)
	first := h.reserve(req)
	again, err := h.inv.Reserve(h.t.Context(), req)
	if err != nil {
		h.t.Fatalf("Reserve retried: %v", err)
	}
	if !sameReservation(again, first) {
		h.t.Fatalf("Reserve retried:\n got %+v\nwant %+v", again, first)
	}
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 9, Reserved: 1})
}

func testPerUserLimit(h *harness) {
	item := h.newItem(10, 2)
	first := h.reserve(request(item, "alice", 1))
	h.confirm(item, first.OrderID)
	second := h.reserve(request(item, "alice", 1))
	h.confirm(item, second.OrderID)
	h.refuse(request(item, "alice", 1), flashsale.AlreadyPurchased(2, 2))
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 8, Sold: 2})

	// The limit counts reserved units as well as confirmed ones.
	carol := h.reserve(request(item, "carol", 1))
	h.confirm(item, carol.OrderID)
	h.refuse(request(item, "carol", 2), flashsale.AlreadyPurchased(1, 2))
	h.reserve(request(item, "carol", 1))

	h.refuse(request(item, "bob", 3), flashsale.QuantityExceedsLimit(2))
	h.refuse(request(item, "bob", 0), flashsale.InvalidQuantity())
	h.refuse(request(item, "bob", -1), flashsale.InvalidQuantity())
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 6, Reserved: 1, Sold: 3})
}

func testReleaseFreesLimit(h *harness) {
	item := h.newItem(10, 1)
	cancelled := h.reserve(request(item, "alice", 1))
	h.release(item, cancelled.OrderID)
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 10})
	again := h.reserve(request(item, "alice", 1))
	if again.OrderID == cancelled.OrderID {
		h.t.Fatalf("Reserve after Release returned the released order %s", again.OrderID)
	}
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 9, Reserved: 1})
}

// The window is half-open: from StartTime, inclusive, to EndTime, exclusive.
// It is checked before anything else, even the user's live reservation.
func testSaleWindow(h *harness) {
	item := h.newItem(10, 1)
	at := func(req flashsale.ReserveRequest, t time.Time) flashsale.ReserveRequest {
		req.Now = t
		return req
	}
	h.refuse(at(request(item, "alice", 1), saleStart.Add(-time.Second)), flashsale.SaleNotStartedYet())
	h.refuse(at(request(item, "alice", 1), saleEnd), flashsale.SaleHasEnded())
	h.refuse(at(request(item, "alice", 1), saleEnd.Add(time.Hour)), flashsale.SaleHasEnded())
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 10})

	h.reserve(at(request(item, "alice", 1), saleStart))
	h.reserve(at(request(item, "bob", 1), saleEnd.Add(-time.Millisecond)))
	h.refuse(at(request(item, "alice", 1), saleEnd), flashsale.SaleHasEnded())
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 8, Reserved: 2})
}

// An item is found by its id within its own sale only.
func testUnknownItem(h *harness) {
	item := h.newItem(10, 1)
	unknown := item
	unknown.ItemID = "item-" + uuid.NewString()
	h.refuse(request(unknown, "alice", 1), flashsale.ItemNotOnSale())
	otherSale := item
	otherSale.SaleID = "sale-" + uuid.NewString()
	h.refuse(request(otherSale, "alice", 1), flashsale.ItemOfAnotherSale())

	ctx := h.t.Context()
	if _, err := h.inv.Stock(ctx, unknown.ItemID); !flashsale.IsCode(err, flashsale.EItemNotFound) {
		h.t.Fatalf("Stock(unknown item): %v, want item_not_found", err)
	}
	if err := h.inv.Confirm(ctx, unknown.ItemID, uuid.NewString()); !flashsale.IsCode(err, flashsale.EItemNotFound) {
		h.t.Fatalf("Confirm(unknown item): %v, want item_not_found", err)
	}
	if err := h.inv.Release(ctx, unknown.ItemID, uuid.NewString()); !flashsale.IsCode(err, flashsale.EItemNotFound) {
		h.t.Fatalf("Release(unknown item): %v, want item_not_found", err)
	}
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 10})
}

func testConfirm(h *harness) {
	item := h.newItem(10, 2)
	alice := h.reserve(request(item, "alice", 2))
	h.confirm(item, alice.OrderID)
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 8, Sold: 2})
	h.confirm(item, alice.OrderID)
	h.confirm(item, uuid.NewString())
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 8, Sold: 2})

	// A released order is no longer live: confirming it sells nothing.
	bob := h.reserve(request(item, "bob", 1))
	h.release(item, bob.OrderID)
	h.confirm(item, bob.OrderID)
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 8, Sold: 2})
}

func testRelease(h *harness) {
	item := h.newItem(10, 2)
	alice := h.reserve(request(item, "alice", 2))
	h.release(item, alice.OrderID)
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 10})
	h.release(item, alice.OrderID)
	h.release(item, uuid.NewString())
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 10})

	// A sold unit never comes back through Release.
	bob := h.reserve(request(item, "bob", 1))
	h.confirm(item, bob.OrderID)
	h.release(item, bob.OrderID)
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 9, Sold: 1})
	h.refuse(request(item, "bob", 2), flashsale.AlreadyPurchased(1, 2))
}

func testExpiring(h *harness) {
	first, second := h.newItem(10, 2), h.newItem(10, 2)
	reserveAt := func(item flashsale.ItemSnapshot, user string, after, hold time.Duration) flashsale.Reservation {
		req := request(item, user, 1)
		req.Now, req.TTL = now.Add(after), hold
		return h.reserve(req)
	}
	a1 := reserveAt(first, "alice", 0, 10*time.Minute)             // due at +10m
	b1 := reserveAt(second, "bob", time.Minute, time.Minute)       // due at +2m
	a2 := reserveAt(first, "carol", 2*time.Minute, 5*time.Minute)  // due at +7m
	b2 := reserveAt(second, "dave", 3*time.Minute, 30*time.Minute) // due at +33m

	h.wantExpiring(now.Add(time.Minute), 10)
	h.wantExpiring(now.Add(7*time.Minute), 10, b1, a2)
	h.wantExpiring(now.Add(time.Hour), 10, b1, a2, a1, b2)
	h.wantExpiring(now.Add(time.Hour), 3, b1, a2, a1)
	h.wantExpiring(now.Add(time.Hour), 2, b1, a2)
	h.wantExpiring(now.Add(time.Hour), 0)
	// Expiring takes nothing out, and neither does time: the inventory
	// leaves expiry to whoever releases.
	h.wantExpiring(now.Add(time.Hour), 10, b1, a2, a1, b2)
	h.reserveExisting(request(second, "bob", 1), b1)

	h.release(second, b1.OrderID)
	h.confirm(first, a2.OrderID)
	h.wantExpiring(now.Add(time.Hour), 10, a1, b2)
	h.wantStock(first, flashsale.Stock{Total: 10, Available: 8, Reserved: 1, Sold: 1})
	h.wantStock(second, flashsale.Stock{Total: 10, Available: 9, Reserved: 1})
}

// Many reservations over several items, made in no particular order of
// deadline and partly settled, come out of Expiring earliest first.
func testExpiringOrder(h *harness) {
	items := []flashsale.ItemSnapshot{h.newItem(100, 1), h.newItem(100, 1), h.newItem(100, 1)}
	var live []flashsale.Reservation
	for i, seconds := range rand.Perm(150) {
		item := items[i%len(items)]
		req := request(item, "user-"+strconv.Itoa(i), 1)
		req.TTL = time.Duration(seconds+1) * time.Second
		r := h.reserve(req)
		switch i % 5 {
		case 0:
			h.release(item, r.OrderID)
		case 1:
			h.confirm(item, r.OrderID)
		default:
			live = append(live, r)
		}
	}
	slices.SortFunc(live, func(a, b flashsale.Reservation) int { return a.ExpiresAt.Compare(b.ExpiresAt) })

	cutoff := now.Add(100 * time.Second)
	due := slices.IndexFunc(live, func(r flashsale.Reservation) bool { return r.ExpiresAt.After(cutoff) })
	h.wantExpiring(cutoff, 7, live[:7]...)
	h.wantExpiring(cutoff, 1000, live[:due]...)
	h.wantExpiring(now.Add(time.Hour), 1000, live...)
	for _, item := range items {
		h.wantStock(item, flashsale.Stock{Total: 100, Available: 60, Reserved: 30, Sold: 10})
	}
}

func testLoad(h *harness) {
	snap := flashsale.ItemSnapshot{
		SaleID:       "sale-" + uuid.NewString(),
		ItemID:       "item-" + uuid.NewString(),
		Total:        10,
		PerUserLimit: 2,
		StartTime:    saleStart,
		EndTime:      saleEnd,
		SoldByUser:   map[string]int64{"alice": 1, "bob": 2},
	}
	carol := flashsale.Reservation{
		OrderID: uuid.NewString(), SaleID: snap.SaleID, ItemID: snap.ItemID, UserID: "carol",
		Quantity: 1, ReservedAt: now.Add(-time.Minute), ExpiresAt: now.Add(9 * time.Minute),
	}
	dave := flashsale.Reservation{
		OrderID: uuid.NewString(), SaleID: snap.SaleID, ItemID: snap.ItemID, UserID: "dave",
		Quantity: 2, ReservedAt: now.Add(-5 * time.Minute), ExpiresAt: now.Add(5 * time.Minute),
	}
	snap.Reservations = []flashsale.Reservation{carol, dave}
	h.load(snap)
	h.wantStock(snap, flashsale.Stock{Total: 10, Available: 4, Reserved: 3, Sold: 3})

	h.reserveExisting(request(snap, "carol", 1), carol)
	h.reserveExisting(request(snap, "dave", 1), dave)
	h.refuse(request(snap, "bob", 1), flashsale.AlreadyPurchased(2, 2))
	h.refuse(request(snap, "alice", 2), flashsale.AlreadyPurchased(1, 2))
	alice := h.reserve(request(snap, "alice", 1))
	h.wantStock(snap, flashsale.Stock{Total: 10, Available: 3, Reserved: 4, Sold: 3})
	h.wantExpiring(now.Add(time.Hour), 10, dave, carol, alice)

	h.release(snap, dave.OrderID)
	h.confirm(snap, carol.OrderID)
	h.wantStock(snap, flashsale.Stock{Total: 10, Available: 5, Reserved: 1, Sold: 4})
	h.wantExpiring(now.Add(time.Hour), 10, alice)
}

// Loading an item again replaces everything known of it: counts, holdings
// and reservations.
func testLoadReplaces(h *harness) {
	item := h.newItem(10, 2)
	alice := h.reserve(request(item, "alice", 2))
	bob := h.reserve(request(item, "bob", 1))
	h.confirm(item, bob.OrderID)

	erin := flashsale.Reservation{
		OrderID: uuid.NewString(), SaleID: item.SaleID, ItemID: item.ItemID, UserID: "erin",
		Quantity: 1, ReservedAt: now, ExpiresAt: now.Add(ttl),
	}
	replaced := item
	replaced.Total, replaced.PerUserLimit = 5, 1
	replaced.SoldByUser = map[string]int64{"carol": 1}
	replaced.Reservations = []flashsale.Reservation{erin}
	h.load(replaced)
	h.wantStock(replaced, flashsale.Stock{Total: 5, Available: 3, Reserved: 1, Sold: 1})
	h.wantExpiring(now.Add(time.Hour), 10, erin)

	// alice's and bob's claims are gone with the old state.
	h.release(replaced, alice.OrderID)
	h.wantStock(replaced, flashsale.Stock{Total: 5, Available: 3, Reserved: 1, Sold: 1})
	h.reserve(request(replaced, "alice", 1))
	h.reserve(request(replaced, "bob", 1))
	h.refuse(request(replaced, "carol", 1), flashsale.AlreadyPurchased(1, 1))
	h.reserve(request(replaced, "dave", 1))
	h.refuse(request(replaced, "frank", 1), flashsale.SoldOut(0))
	h.wantStock(replaced, flashsale.Stock{Total: 5, Available: 0, Reserved: 4, Sold: 1})
}

// A snapshot claiming more units than the item has cannot come from a sound
// store; installing it would make available negative, so Load refuses it and
// leaves whatever was there.
func testLoadRefusesOverclaim(h *harness) {
	overclaimed := func(item flashsale.ItemSnapshot) flashsale.ItemSnapshot {
		item.SoldByUser = map[string]int64{"bob": 2}
		item.Reservations = []flashsale.Reservation{{
			OrderID: uuid.NewString(), SaleID: item.SaleID, ItemID: item.ItemID, UserID: "carol",
			Quantity: 2, ReservedAt: now, ExpiresAt: now.Add(ttl),
		}}
		return item
	}

	item := h.newItem(3, 2)
	alice := h.reserve(request(item, "alice", 1))
	if err := h.inv.Load(h.t.Context(), overclaimed(item)); err == nil {
		h.t.Fatalf("Load of 4 claimed units out of 3 succeeded")
	}
	h.wantStock(item, flashsale.Stock{Total: 3, Available: 2, Reserved: 1})
	h.reserveExisting(request(item, "alice", 1), alice)

	unknown := item
	unknown.ItemID = "item-" + uuid.NewString()
	if err := h.inv.Load(h.t.Context(), overclaimed(unknown)); err == nil {
		h.t.Fatalf("Load of 4 claimed units out of 3 succeeded")
	}
	if _, err := h.inv.Stock(h.t.Context(), unknown.ItemID); !flashsale.IsCode(err, flashsale.EItemNotFound) {
		h.t.Fatalf("Stock after a refused Load: %v, want item_not_found", err)
	}
}

// A snapshot no inventory could install (flashsale.ItemSnapshot.Validate)
// is refused before anything is written.
func testLoadRefusesInvalidSnapshots(h *harness) {
	claim := func(item flashsale.ItemSnapshot, orderID, userID string, quantity int64) flashsale.Reservation {
		return flashsale.Reservation{
			OrderID: orderID, SaleID: item.SaleID, ItemID: item.ItemID, UserID: userID,
			Quantity: quantity, ReservedAt: now, ExpiresAt: now.Add(ttl),
		}
	}
	invalid := []struct {
		name   string
		change func(*flashsale.ItemSnapshot)
	}{
		{"negative total", func(s *flashsale.ItemSnapshot) { s.Total = -1 }},
		{"no per-user limit", func(s *flashsale.ItemSnapshot) { s.PerUserLimit = 0 }},
		{"negative sold units", func(s *flashsale.ItemSnapshot) { s.SoldByUser = map[string]int64{"alice": -1} }},
		{"sold over total", func(s *flashsale.ItemSnapshot) { s.SoldByUser = map[string]int64{"alice": 6} }},
		{"reservation of another item", func(s *flashsale.ItemSnapshot) {
			r := claim(*s, "order-1", "alice", 1)
			r.ItemID = "item-" + uuid.NewString()
			s.Reservations = []flashsale.Reservation{r}
		}},
		{"reservation of no unit", func(s *flashsale.ItemSnapshot) {
			s.Reservations = []flashsale.Reservation{claim(*s, "order-1", "alice", 0)}
		}},
		{"order reserved twice", func(s *flashsale.ItemSnapshot) {
			s.Reservations = []flashsale.Reservation{claim(*s, "order-1", "alice", 1), claim(*s, "order-1", "bob", 1)}
		}},
	}
	ctx := h.t.Context()
	for _, tc := range invalid {
		snap := flashsale.ItemSnapshot{SaleID: "sale-" + uuid.NewString(), ItemID: "item-" + uuid.NewString(),
			Total: 5, PerUserLimit: 2, StartTime: saleStart, EndTime: saleEnd}
		tc.change(&snap)
		if err := h.inv.Load(ctx, snap); err == nil {
			h.t.Fatalf("%s: Load succeeded", tc.name)
		}
		if _, err := h.inv.Stock(ctx, snap.ItemID); !flashsale.IsCode(err, flashsale.EItemNotFound) {
			h.t.Fatalf("%s: Stock after a refused Load: %v, want item_not_found", tc.name, err)
		}
	}
	// Nothing of them is due: they were never installed.
	due, err := h.inv.Expiring(ctx, saleEnd.Add(time.Hour), 10)
	if err != nil || len(due) != 0 {
		h.t.Fatalf("Expiring after refused Loads = %v, %v; want nothing", due, err)
	}
}
