// Package memory is the embedded inventory: the hot state of every item held
// in the process, each item behind its own mutex so that a reservation is one
// short critical section and items never wait for each other.
package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// Inventory is the in-process flashsale.Inventory.
type Inventory struct {
	// items maps an item id to its *item. Every request looks an item up,
	// so lookups must not contend on a shared lock; only Load writes.
	items sync.Map
	// loadMu makes replacing an item one step when Loads race.
	loadMu sync.Mutex
}

var _ flashsale.Inventory = (*Inventory)(nil)

// NewInventory returns an inventory that holds no item yet.
func NewInventory() *Inventory {
	return &Inventory{}
}

// Load installs the item, replacing the one with the same id. An invalid
// snapshot (claims over the total, a duplicated order id, ...) installs
// nothing.
func (inv *Inventory) Load(_ context.Context, snap flashsale.ItemSnapshot) error {
	fresh, err := newItem(snap)
	if err != nil {
		return err
	}
	inv.loadMu.Lock()
	defer inv.loadMu.Unlock()
	stored, ok := inv.items.Load(snap.ItemID)
	if !ok {
		inv.items.Store(snap.ItemID, fresh)
		return nil
	}
	// Holding the old item's lock across the swap puts every change of it
	// either before the replacement or, once retired, nowhere: whoever
	// locks it afterwards is sent on to the fresh item.
	old := stored.(*item)
	old.mu.Lock()
	inv.items.Store(snap.ItemID, fresh)
	old.retired = true
	old.mu.Unlock()
	return nil
}

// Adjust installs the item as it stands with the new total and end: an
// item's settings are read without its lock by the rush's refusals, so
// they change only by replacing the item, as Load does, under the old
// one's lock so that no change of it is lost.
func (inv *Inventory) Adjust(_ context.Context, itemID string, w flashsale.ItemWindow) error {
	inv.loadMu.Lock()
	defer inv.loadMu.Unlock()
	stored, ok := inv.items.Load(itemID)
	if !ok {
		return flashsale.ItemNotOnSale()
	}
	old := stored.(*item)
	old.mu.Lock()
	defer old.mu.Unlock()
	if claimed := old.reserved + old.sold; w.Total < claimed {
		return flashsale.TotalBelowClaims(claimed)
	}
	snap := old.snapshot()
	snap.Total, snap.EndTime = w.Total, w.EndTime
	fresh, err := newItem(snap)
	if err != nil {
		return err
	}
	inv.items.Store(itemID, fresh)
	old.retired = true
	return nil
}

// Reserve performs the whole reservation under the item's lock, except the
// refusals that can be decided without it: an inactive sale, a bad quantity,
// and sold out for a user who holds nothing of the item. Those are the
// answers of a rush, and they cost no lock.
func (inv *Inventory) Reserve(_ context.Context, req flashsale.ReserveRequest) (flashsale.Reservation, error) {
	it, err := inv.item(req.ItemID)
	if err != nil {
		return flashsale.Reservation{}, err
	}
	if err := it.admit(req); err != nil {
		return flashsale.Reservation{}, err
	}
	if it.soldOutFor(req.UserID) {
		return flashsale.Reservation{}, flashsale.SoldOut(0)
	}
	it = inv.lockCurrent(it)
	defer it.mu.Unlock()
	return it.reserve(req)
}

// Confirm turns the reservation's units into sold units. An order that is
// not live (already confirmed, released, or never reserved) changes nothing.
func (inv *Inventory) Confirm(_ context.Context, itemID, orderID string) error {
	it, err := inv.lock(itemID)
	if err != nil {
		return err
	}
	defer it.mu.Unlock()
	if r := it.settle(orderID); r != nil {
		it.sold += r.Quantity
	}
	return nil
}

// Release returns the reservation's units to stock and frees the user's share
// of the limit. An order that is not live changes nothing; in particular a
// confirmed order's units stay sold.
func (inv *Inventory) Release(_ context.Context, itemID, orderID string) error {
	it, err := inv.lock(itemID)
	if err != nil {
		return err
	}
	defer it.mu.Unlock()
	if r := it.settle(orderID); r != nil {
		it.giveBack(r)
	}
	return nil
}

// Stock returns the item's counts as one consistent reading.
func (inv *Inventory) Stock(_ context.Context, itemID string) (flashsale.Stock, error) {
	it, err := inv.lock(itemID)
	if err != nil {
		return flashsale.Stock{}, err
	}
	defer it.mu.Unlock()
	return flashsale.Stock{
		Total:     it.total,
		Available: it.available.Load(),
		Reserved:  it.reserved,
		Sold:      it.sold,
	}, nil
}

// Expiring merges the due reservations of every item. Each item is read
// under its own lock, one after the other, never all at once.
func (inv *Inventory) Expiring(_ context.Context, now time.Time, limit int) ([]flashsale.Reservation, error) {
	if limit <= 0 {
		return nil, nil
	}
	var due []flashsale.Reservation
	inv.items.Range(func(_, stored any) bool {
		it := inv.lockCurrent(stored.(*item))
		due = append(due, it.expiry.due(now, limit)...)
		it.mu.Unlock()
		return true
	})
	slices.SortFunc(due, func(a, b flashsale.Reservation) int { return compareDeadlines(&a, &b) })
	if len(due) > limit {
		due = due[:limit]
	}
	return due, nil
}

// SoldOut reports, without taking any lock, whether the item has no unit
// available. It is false for an item that is not loaded. A sold-out item
// still answers a user who holds units of it with something other than
// sold_out (the user's live reservation, or already_purchased), so a caller
// that refuses on this flag alone refuses those users too.
func (inv *Inventory) SoldOut(itemID string) bool {
	it, err := inv.item(itemID)
	return err == nil && it.available.Load() == 0
}

// SoldOutFor reports, without a lock, that a reservation by userID would
// be refused as sold out: nothing is available and the user holds none of
// the item (a holder must still get a double click's answer).
func (inv *Inventory) SoldOutFor(itemID, userID string) bool {
	it, err := inv.item(itemID)
	return err == nil && it.soldOutFor(userID)
}

// item returns the item as currently installed, without locking it.
func (inv *Inventory) item(itemID string) (*item, error) {
	stored, ok := inv.items.Load(itemID)
	if !ok {
		return nil, flashsale.ItemNotOnSale()
	}
	return stored.(*item), nil
}

// lock returns the installed item with its lock held.
func (inv *Inventory) lock(itemID string) (*item, error) {
	it, err := inv.item(itemID)
	if err != nil {
		return nil, err
	}
	return inv.lockCurrent(it), nil
}

// lockCurrent locks it or, if a Load replaced it meanwhile, the item that
// replaced it. Items are never removed, only replaced.
func (inv *Inventory) lockCurrent(it *item) *item {
	for {
		it.mu.Lock()
		if !it.retired {
			return it
		}
		it.mu.Unlock()
		stored, _ := inv.items.Load(it.id)
		it = stored.(*item)
	}
}
