package checkout

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// PlaceOrder is a shopper's request for units of one item.
type PlaceOrder struct {
	UserID string
	// Account is what the user's token says of the account, and
	// ShippingAddress where the order goes (nil: not given), checked
	// against the sale's limits.
	Account         flashsale.Account
	ShippingAddress *flashsale.ShippingAddress
	SaleID          string
	ItemID          string
	Quantity        int64
	IdempotencyKey  string
	// Spend charges the press to the user's limits (the caller's rate
	// limits) and returns the refusal when they are used up. SubmitOrder
	// calls it only for a press that could take a unit: a double click, a
	// press before the start or one for a sold-out item spends nothing.
	// Nil: no limit.
	Spend func(ctx context.Context) error
	// Admission is the waiting room's admission token the press carries
	// (header Flashsale-Admission), for a sale with a waiting room.
	Admission string
	// Challenge is the solved challenge the press carries (header
	// Flashsale-Challenge), for a sale that asks for one.
	Challenge string
	// Device (header Flashsale-Device, the page's fingerprint) and IP are
	// read by the risk score of a sale that asks for challenges.
	Device string
	IP     netip.Addr

	// identities are what the sale's limits count the order under, found
	// by SubmitOrder (or carried by a queued request) for the store to
	// count.
	identities flashsale.Identities
}

// Submission is what place-order gives back: in direct admission the
// reservation (Order, Created), in queued admission the request waiting
// for an order worker (Request).
type Submission struct {
	Order   *flashsale.Order
	Created bool
	Request *flashsale.OrderRequest
}

// SubmitOrder is the place-order use case, each step answering before the
// next is asked, cheapest first:
//
//  1. the sale and the item, found once (a lottery's units go to its
//     draw's winners: lottery_sale);
//  2. a sold-out item: the rush's common answer, from memory, no I/O at
//     all (a user who holds units of it is not told sold out);
//  3. the user's live reservation of the item, answered as it is: a double
//     click takes nothing and spends nothing;
//  4. the other refusals that need no inventory: the sale window, the
//     quantity, sales paused while the inventory is rebuilt, an account
//     the sale's limits do not sell to, a shipping address they need and
//     did not get (the counts of phones and addresses are the store's,
//     when it records the order);
//  5. a solved challenge where the sale asks for one (before the limits,
//     which a challenged press does not spend);
//  6. the user's limits (Spend);
//  7. admission: in a sale with a waiting room, the user's own admission
//     token;
//  8. in queued admission, the request is queued and answered 202; in
//     direct admission, the reservation is made and acknowledged once
//     durable (placeOrder), and the waiting room told.
func (s *Service) SubmitOrder(ctx context.Context, req PlaceOrder) (sub Submission, err error) {
	sale, item, err := s.saleItem(ctx, req)
	if err != nil {
		return Submission{}, err
	}
	if sale.Lottery != nil {
		return Submission{}, flashsale.LotterySale()
	}
	queued := sale.Admission == flashsale.AdmissionQueued
	if !queued {
		// Queued requests are counted when an order worker settles them.
		counters := s.counters(item.ID)
		counters.attempts.Add(1)
		defer func() {
			if err != nil {
				counters.reject(flashsale.OutcomeCode(ctx, err))
			}
		}()
	}

	if s.soldOut != nil && s.soldOut.SoldOutFor(item.ID, req.UserID) {
		return Submission{}, flashsale.SoldOut(0)
	}
	if o := s.recentReservation(ctx, req.UserID, item.ID); o != nil {
		return Submission{Order: o}, nil
	}
	if err := s.refuseEarly(sale, item, req); err != nil {
		if sale.Challenge != nil && flashsale.IsCode(err, flashsale.ESaleNotActive) && s.now().Before(sale.StartTime) {
			s.risks.sale(sale.ID).pressedEarly(req.UserID)
		}
		return Submission{}, err
	}
	if req.identities, err = s.buyer(sale, req.Account, req.ShippingAddress); err != nil {
		return Submission{}, err
	}
	// Before the limits: a press refused for a challenge spends none of
	// them, so the shopper who solves it is not told to wait as well. The
	// per-IP limit in front bounds what the refusals cost.
	if err := s.challenged(ctx, sale, requester{req.UserID, req.Device, req.IP}, sale.StartTime, req.Challenge); err != nil {
		return Submission{}, err
	}
	if req.Spend != nil {
		if err := req.Spend(ctx); err != nil {
			return Submission{}, err
		}
	}
	if err := s.admitted(sale, req); err != nil {
		return Submission{}, err
	}

	if queued {
		sub, err := s.enqueue(ctx, sale, item, req)
		if err == nil {
			s.reservedInLine(ctx, sale, req.UserID)
		}
		return sub, err
	}
	o, created, err := s.placeOrder(ctx, sale, item, req)
	if created {
		s.reservedInLine(ctx, sale, req.UserID)
	}
	return Submission{Order: o, Created: created}, err
}

// refuseEarly answers what place-order can refuse without the inventory,
// sold out aside. The inventory decides each of these again in its atomic
// step; these answers only spare it (and the user's limits) a press that
// cannot win.
func (s *Service) refuseEarly(sale *flashsale.Sale, item *flashsale.Item, req PlaceOrder) error {
	now := s.now().UTC()
	switch {
	case now.Before(sale.StartTime):
		return flashsale.SaleStartsAt(sale.StartTime)
	case !now.Before(sale.EndTime):
		return flashsale.SaleHasEnded()
	case sale.Paused:
		return flashsale.SalePaused()
	case req.Quantity <= 0:
		return flashsale.InvalidQuantity()
	case req.Quantity > item.PerUserLimit:
		return flashsale.QuantityExceedsLimit(item.PerUserLimit)
	case s.paused.Load():
		return errHotStateLost
	}
	return nil
}

// buyer holds an account to the sale's limits, as an order, an entry or a
// place in line asks: an account the sale does not sell to is refused, a
// shipping address given (or needed) is checked, and the identities the
// limits count the claim under are returned. A sale without limits only
// checks an address given.
func (s *Service) buyer(sale *flashsale.Sale, account flashsale.Account, address *flashsale.ShippingAddress) (flashsale.Identities, error) {
	if sale.Limits == nil {
		if address != nil {
			return flashsale.Identities{}, address.Validate()
		}
		return flashsale.Identities{}, nil
	}
	if err := sale.Limits.Eligible(account, s.now()); err != nil {
		return flashsale.Identities{}, err
	}
	return sale.Limits.Identities(account, address)
}

// enqueue queues a request of a sale in queued admission.
func (s *Service) enqueue(ctx context.Context, sale *flashsale.Sale, item *flashsale.Item, req PlaceOrder) (Submission, error) {
	r := flashsale.OrderRequest{
		ID: newID(), UserID: req.UserID, SaleID: sale.ID, ItemID: item.ID,
		Quantity: req.Quantity, IdempotencyKey: req.IdempotencyKey, QueuedAt: s.now().UTC(),
		Identities: req.identities,
	}
	if req.IdempotencyKey != "" {
		r.ID = uuid.NewSHA1(requestIDs, []byte(req.UserID+"\n"+req.IdempotencyKey)).String()
	}
	if err := s.queue.Enqueue(ctx, r); err != nil {
		if errors.Is(err, flashsale.ErrQueueFull) {
			return Submission{}, errQueueFull
		}
		return Submission{}, err
	}
	return Submission{Request: &r}, nil
}

// recentReservation is the user's live reservation of the item that this
// instance answered last, read again from the store, or nil. A double click comes
// to the instance that answered the first press (a load balancer routes
// an item's orders to one instance), so asking this instance's memory
// first answers it without the limits or the inventory; a reservation
// made elsewhere is found by the inventory, as before.
func (s *Service) recentReservation(ctx context.Context, userID, itemID string) *flashsale.Order {
	orderID, ok := s.holdings.find(userID, itemID, s.now())
	if !ok {
		return nil
	}
	o, err := s.store.Order(ctx, orderID)
	if err != nil || !o.Status.Pending() || o.UserID != userID {
		s.holdings.forget(userID, itemID, orderID)
		return nil
	}
	return o
}

// holdings remembers, per user and item, the live reservation this
// instance last answered with, until its deadline: at most one entry per
// reservation, so at most the stock's worth. A plain map under a lock,
// keyed by a struct: remembering a reservation allocates nothing more
// than the map's growth.
type holdings struct {
	mu      sync.Mutex
	entries map[holdingKey]holding
	pruned  time.Time
}

type holdingKey struct{ userID, itemID string }

type holding struct {
	orderID string
	until   time.Time
}

func (h *holdings) remember(o *flashsale.Order) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.entries == nil {
		h.entries = map[holdingKey]holding{}
	}
	h.entries[holdingKey{o.UserID, o.ItemID}] = holding{orderID: o.ID, until: o.ExpiresAt}
}

func (h *holdings) find(userID, itemID string, now time.Time) (string, bool) {
	h.mu.Lock()
	held, ok := h.entries[holdingKey{userID, itemID}]
	h.mu.Unlock()
	return held.orderID, ok && now.Before(held.until)
}

// forget drops the entry if it still names orderID.
func (h *holdings) forget(userID, itemID, orderID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if key := (holdingKey{userID, itemID}); h.entries[key].orderID == orderID {
		delete(h.entries, key)
	}
}

// prune drops the entries past their deadline, at most once a second.
func (h *holdings) prune(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now.Sub(h.pruned) < time.Second {
		return
	}
	h.pruned = now
	for key, held := range h.entries {
		if !now.Before(held.until) {
			delete(h.entries, key)
		}
	}
}
