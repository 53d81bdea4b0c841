package memory

import (
	"container/heap"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale"
)

// item is the hot state of one item. Its settings never change after Load
// (a Load installs a new item). available and holders are also read without
// the lock by the sold-out path, and change only with version odd.
type item struct {
	saleID       string
	id           string
	total        int64
	perUserLimit int64
	start, end   time.Time

	// version is a sequence lock over available and holders: it is odd
	// while either is being changed, so a lock-free reader that sees the
	// same even version before and after its reads has read a state the
	// item really was in, not half of a reservation.
	version   atomic.Uint64
	available atomic.Int64
	// holders maps a user id to the *holder of every user who holds units.
	holders sync.Map

	mu       sync.Mutex
	retired  bool // replaced by a Load: changes belong to the new item
	reserved int64
	sold     int64
	byOrder  map[string]*reservation
	expiry   expiryHeap
}

// holder is one user's share of an item, guarded by the item's lock.
type holder struct {
	held int64        // reserved and confirmed units, what the limit counts
	live *reservation // what a double click returns; nil when none
}

// newItem builds an item from a snapshot, refusing a snapshot the
// inventory's own rules could not have produced.
func newItem(snap flashsale.ItemSnapshot) (*item, error) {
	if err := snap.Validate(); err != nil {
		return nil, err
	}
	it := &item{
		saleID:       snap.SaleID,
		id:           snap.ItemID,
		total:        snap.Total,
		perUserLimit: snap.PerUserLimit,
		start:        snap.StartTime,
		end:          snap.EndTime,
		byOrder:      make(map[string]*reservation, len(snap.Reservations)),
	}
	for userID, units := range snap.SoldByUser {
		if units > 0 {
			it.holderOf(userID).held += units
			it.sold += units
		}
	}
	for _, claim := range snap.Reservations {
		r := &reservation{Reservation: claim}
		r.Existing = false
		it.byOrder[r.OrderID] = r
		it.expiry = append(it.expiry, r)
		it.reserved += r.Quantity
		h := it.holderOf(r.UserID)
		h.held += r.Quantity
		// Two live reservations of one user cannot be made here; if the
		// store has them anyway, both keep their units and the first is
		// the one a double click returns.
		if h.live == nil {
			h.live = r
		}
	}
	for i, r := range it.expiry {
		r.heapIndex = i
	}
	heap.Init(&it.expiry)
	it.available.Store(it.total - it.sold - it.reserved)
	return it, nil
}

// admit checks what depends only on the request and the item's settings.
func (it *item) admit(req flashsale.ReserveRequest) error {
	switch {
	case req.SaleID != it.saleID:
		return flashsale.ItemOfAnotherSale()
	case req.Now.Before(it.start):
		return flashsale.SaleNotStartedYet()
	case !req.Now.Before(it.end):
		return flashsale.SaleHasEnded()
	case req.Quantity < 1:
		return flashsale.InvalidQuantity()
	case req.Quantity > it.perUserLimit:
		return flashsale.QuantityExceedsLimit(it.perUserLimit)
	}
	return nil
}

// soldOutFor reports, without the lock, that reserve would refuse the user
// with sold_out, given that admit accepted the request: no unit is
// available and the user holds none. Holding none means no live reservation
// to return (not even for a retry, whose user holds the retried units) and
// no share of the limit used, so nothing else could come before sold_out.
func (it *item) soldOutFor(userID string) bool {
	before := it.version.Load()
	if before%2 == 1 || it.available.Load() > 0 {
		return false
	}
	_, holds := it.holders.Load(userID)
	return !holds && it.version.Load() == before
}

// reserve is Reserve's atomic step; the caller holds the lock.
func (it *item) reserve(req flashsale.ReserveRequest) (flashsale.Reservation, error) {
	// Checked again: a Load may have replaced the item admit looked at.
	if err := it.admit(req); err != nil {
		return flashsale.Reservation{}, err
	}
	if r := it.byOrder[req.OrderID]; r != nil {
		if r.UserID != req.UserID {
			return flashsale.Reservation{}, fmt.Errorf("order id %s is already another user's reservation", req.OrderID)
		}
		return r.asExisting(), nil
	}
	h := it.holder(req.UserID)
	var held int64
	if h != nil {
		if h.live != nil {
			return h.live.asExisting(), nil
		}
		held = h.held
	}
	if held+req.Quantity > it.perUserLimit {
		return flashsale.Reservation{}, flashsale.AlreadyPurchased(held, it.perUserLimit)
	}
	if available := it.available.Load(); req.Quantity > available {
		return flashsale.Reservation{}, flashsale.SoldOut(available)
	}

	r := &reservation{Reservation: flashsale.Reservation{
		OrderID:    req.OrderID,
		SaleID:     it.saleID,
		ItemID:     it.id,
		UserID:     req.UserID,
		Quantity:   req.Quantity,
		ReservedAt: req.Now,
		ExpiresAt:  req.Now.Add(req.TTL),
	}}
	it.version.Add(1)
	if h == nil {
		h = it.holderOf(req.UserID)
	}
	h.held += r.Quantity
	it.available.Add(-r.Quantity)
	it.version.Add(1)
	h.live = r
	it.reserved += r.Quantity
	it.byOrder[r.OrderID] = r
	heap.Push(&it.expiry, r)
	return r.Reservation, nil
}

// settle takes a live reservation out of the item, its units still claimed,
// and returns it; nil if the order is not live. The caller holds the lock
// and decides where the units go.
func (it *item) settle(orderID string) *reservation {
	r := it.byOrder[orderID]
	if r == nil {
		return nil
	}
	delete(it.byOrder, orderID)
	heap.Remove(&it.expiry, r.heapIndex)
	it.reserved -= r.Quantity
	if h := it.holder(r.UserID); h.live == r {
		h.live = nil
	}
	return r
}

// giveBack returns a settled reservation's units to stock and to the
// user's limit. The caller holds the lock.
func (it *item) giveBack(r *reservation) {
	h := it.holder(r.UserID)
	it.version.Add(1)
	h.held -= r.Quantity
	if h.held == 0 {
		it.holders.Delete(r.UserID)
	}
	it.available.Add(r.Quantity)
	it.version.Add(1)
}

// holder returns the user's share, nil when the user holds nothing.
func (it *item) holder(userID string) *holder {
	h, ok := it.holders.Load(userID)
	if !ok {
		return nil
	}
	return h.(*holder)
}

// holderOf returns the user's share, creating it. Callers that may publish
// a new holder do so with version odd.
func (it *item) holderOf(userID string) *holder {
	h, _ := it.holders.LoadOrStore(userID, &holder{})
	return h.(*holder)
}

func (r *reservation) asExisting() flashsale.Reservation {
	existing := r.Reservation
	existing.Existing = true
	return existing
}

// snapshot is the item as it stands, as a Load would install it; the
// caller holds its lock.
func (it *item) snapshot() flashsale.ItemSnapshot {
	snap := flashsale.ItemSnapshot{SaleID: it.saleID, ItemID: it.id, Total: it.total, PerUserLimit: it.perUserLimit,
		StartTime: it.start, EndTime: it.end, SoldByUser: map[string]int64{}}
	live := map[string]int64{}
	for _, r := range it.byOrder {
		snap.Reservations = append(snap.Reservations, r.Reservation)
		live[r.UserID] += r.Quantity
	}
	it.holders.Range(func(user, h any) bool {
		if sold := h.(*holder).held - live[user.(string)]; sold > 0 {
			snap.SoldByUser[user.(string)] = sold
		}
		return true
	})
	return snap
}
