package flashsale

import (
	"context"
	"fmt"
	"time"
)

// Inventory is the hot store: stock counters, per-user holdings and live
// reservations, changed only in atomic steps. It decides admission (who gets
// a unit); the durable OrderStore decides the fate of orders. A unit goes back
// to stock only after its release is durable, so that rebuilding the
// inventory from the store can never find more units claimed than exist.
//
// Implementations: memory (embedded mode) and redis (distributed mode). Both
// pass inventorytest.Run.
type Inventory interface {
	// Load installs an item with the units already claimed in the durable
	// store, replacing any state the inventory held for it. It is how a sale
	// is created and how the hot state is rebuilt after a restart.
	Load(ctx context.Context, item ItemSnapshot) error

	// Reserve performs a whole reservation as one atomic step: the sale
	// window, the user's live reservation for the item (returned with
	// Existing set, taking nothing), the per-user limit over reserved and
	// confirmed units, the stock check and decrement, and the expiry index.
	// A repeat with the same OrderID while its reservation is live is a
	// retry of the same request and returns the reservation it made.
	//
	// Errors carry the codes sold_out, already_purchased, sale_not_active,
	// quantity_exceeds_limit, invalid_quantity and item_not_found (also for
	// an item of another sale); an OrderID owned by another user is a
	// caller's bug and a plain error.
	Reserve(ctx context.Context, req ReserveRequest) (Reservation, error)

	// Confirm turns a reservation's units into sold units. Confirming an
	// order that is already sold, released or unknown changes nothing.
	Confirm(ctx context.Context, itemID, orderID string) error

	// Release returns a reservation's units to stock and frees the user's
	// share of the per-user limit. Releasing an order that is already
	// released, confirmed (a sold unit never returns) or unknown changes
	// nothing. Confirm, Release and Stock answer item_not_found for an item
	// that is not loaded.
	Release(ctx context.Context, itemID, orderID string) error

	// Stock returns an item's counts (item_not_found if not loaded).
	Stock(ctx context.Context, itemID string) (Stock, error)

	// Adjust sets an item's total and its sale's end, as an operator's
	// change made them in the store: the difference in total is added to
	// the available units (a restock), in one atomic step. Adjusting to
	// what the item holds changes nothing, so a repeat is harmless. A
	// total below the units reserved and sold is refused; units coming
	// back to a sold-out item clear every instance's sold-out flag.
	Adjust(ctx context.Context, itemID string, w ItemWindow) error

	// Expiring returns up to limit live reservations whose deadline is at or
	// before now, earliest first. It removes nothing: a reservation leaves
	// the index when it is confirmed or released.
	Expiring(ctx context.Context, now time.Time, limit int) ([]Reservation, error)
}

// ItemSnapshot is an item as the durable store knows it: its limits and
// the units already claimed.
type ItemSnapshot struct {
	SaleID       string
	ItemID       string
	Total        int64
	PerUserLimit int64
	StartTime    time.Time
	EndTime      time.Time
	// SoldByUser is the confirmed units per user; their sum is the sold count.
	SoldByUser map[string]int64
	// Reservations are the live (reserved or paying) orders.
	Reservations []Reservation
}

// ReserveRequest asks for units of one item for one user.
type ReserveRequest struct {
	SaleID   string
	ItemID   string
	UserID   string
	Quantity int64
	// OrderID is generated before the first try and identifies the request:
	// a retried Reserve with the same OrderID never takes a second unit.
	OrderID string
	Now     time.Time
	TTL     time.Duration
}

// Reservation is a live claim on units, held until confirmed or released.
type Reservation struct {
	OrderID    string
	SaleID     string
	ItemID     string
	UserID     string
	Quantity   int64
	ReservedAt time.Time
	ExpiresAt  time.Time
	// Existing is set when Reserve found the user's live reservation for
	// the item instead of making a new one.
	Existing bool
}

// SoldOutSignal is what an inventory offers the sold-out fast path: a
// local answer, without I/O, that a reservation would be refused as sold
// out. True must be certain for this user (a user holding units of the item
// gets false: a double click is answered by Reserve); false may be stale.
type SoldOutSignal interface {
	SoldOutFor(itemID, userID string) bool
}

// Stock is the counts the snapshot's claims make.
func (snap ItemSnapshot) Stock() Stock {
	st := Stock{Total: snap.Total}
	for _, units := range snap.SoldByUser {
		st.Sold += units
	}
	for _, r := range snap.Reservations {
		st.Reserved += r.Quantity
	}
	st.Available = st.Total - st.Sold - st.Reserved
	return st
}

// Validate refuses a snapshot no inventory could install: a negative
// total, a per-user limit below 1, negative sold units, a reservation of
// another item, of no units or listed twice, or more units claimed than
// exist. Every Inventory's Load checks it, so the adapters agree.
func (snap ItemSnapshot) Validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("load item %s: %s", snap.ItemID, fmt.Sprintf(format, args...))
	}
	if snap.Total < 0 {
		return invalid("total %d is negative", snap.Total)
	}
	if snap.PerUserLimit < 1 {
		return invalid("per-user limit %d is below 1", snap.PerUserLimit)
	}
	var claimed int64
	for userID, units := range snap.SoldByUser {
		if units < 0 {
			return invalid("user %s has %d sold units", userID, units)
		}
		claimed += units
	}
	orders := make(map[string]bool, len(snap.Reservations))
	for _, claim := range snap.Reservations {
		switch {
		case claim.ItemID != snap.ItemID:
			return invalid("reservation %s is for item %s", claim.OrderID, claim.ItemID)
		case claim.Quantity < 1:
			return invalid("reservation %s has quantity %d", claim.OrderID, claim.Quantity)
		case orders[claim.OrderID]:
			return invalid("order %s is reserved twice", claim.OrderID)
		}
		orders[claim.OrderID] = true
		claimed += claim.Quantity
	}
	if claimed > snap.Total {
		return invalid("%d units claimed out of %d", claimed, snap.Total)
	}
	return nil
}
