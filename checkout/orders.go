package checkout

import (
	"context"
	"errors"
	"time"

	"github.com/flashsale/flashsale"
)

// PlaceOrder reserves units for a user: the reservation step of
// place-order alone, as an order worker settles a queued request (its
// limits were spent when it was queued). created is false when the
// user's existing reservation is returned (a double click, or a repeated
// Idempotency-Key). The order is durable when it returns.
func (s *Service) PlaceOrder(ctx context.Context, req PlaceOrder) (order *flashsale.Order, created bool, err error) {
	sale, item, err := s.saleItem(ctx, req)
	if err != nil {
		return nil, false, err
	}
	counters := s.counters(item.ID)
	counters.attempts.Add(1)
	order, created, err = s.placeOrder(ctx, sale, item, req)
	if err != nil {
		counters.reject(flashsale.ErrorCode(err))
	}
	return order, created, err
}

// saleItem finds the sale and item a request names.
func (s *Service) saleItem(ctx context.Context, req PlaceOrder) (*flashsale.Sale, *flashsale.Item, error) {
	sale, err := s.Sale(ctx, req.SaleID)
	if err != nil {
		return nil, nil, err
	}
	item, ok := sale.Item(req.ItemID)
	if !ok {
		return nil, nil, flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", req.ItemID, req.SaleID)
	}
	return sale, item, nil
}

// placeOrder makes the reservation once the sale and item are found: a
// repeated Idempotency-Key finds its order, the inventory reserves in one
// atomic step, and the store makes it durable. The reservation answered
// is remembered for the user's next press (see recentReservation).
func (s *Service) placeOrder(ctx context.Context, sale *flashsale.Sale, item *flashsale.Item, req PlaceOrder) (order *flashsale.Order, created bool, err error) {
	defer func() {
		if err == nil && order.Status.Pending() {
			s.holdings.remember(order)
		}
	}()
	if req.IdempotencyKey != "" {
		if o, err := s.store.OrderByIdempotencyKey(ctx, req.UserID, req.IdempotencyKey); err == nil {
			if o.ItemID != req.ItemID || o.Quantity != req.Quantity {
				return nil, false, flashsale.Errorf(flashsale.EIdempotencyKeyReused, "this Idempotency-Key was used for a different order")
			}
			return o, false, nil
		} else if !flashsale.IsCode(err, flashsale.EOrderNotFound) {
			return nil, false, err
		}
	}

	// The user's live reservation answers first. Once the store has
	// made it final without the inventory following (a step lost in a Redis
	// blip), or it turned out an orphan, the inventory is repaired and the
	// reservation made anew, once.
	for repaired := false; ; repaired = true {
		order, created, held, err := s.reserve(ctx, sale, item, req)
		if err != nil || held == nil {
			return order, created, err
		}
		order, err = s.heldOrder(ctx, *held)
		if !errors.Is(err, errHoldingRepaired) {
			return order, false, err
		}
		if repaired {
			return nil, false, errHoldingStale
		}
	}
}

// reserve makes a new reservation and commits its order, or returns the
// reservation the user already holds (held).
func (s *Service) reserve(ctx context.Context, sale *flashsale.Sale, item *flashsale.Item, req PlaceOrder) (order *flashsale.Order, created bool, held *flashsale.Reservation, err error) {
	if s.paused.Load() {
		return nil, false, nil, errHotStateLost
	}
	if err := s.inventoryGate.enter(ctx); err != nil {
		return nil, false, nil, err
	}
	now := s.now().UTC()
	orderID := newID()
	reserve := flashsale.ReserveRequest{
		SaleID: sale.ID, ItemID: item.ID, UserID: req.UserID, Quantity: req.Quantity,
		OrderID: orderID, Now: now, TTL: sale.ReservationTTL,
	}
	if s.journal != nil && req.identities == (flashsale.Identities{}) {
		// An order counted under a phone or an address is acknowledged
		// once the store has it, whichever the deployment: the store's
		// count is what makes the limit hold across accounts.
		return s.reserveJournaled(ctx, item, req, reserve)
	}
	c := s.commits.begin(orderID)
	res, err := s.inventory.Reserve(ctx, reserve)
	s.inventoryGate.leave()
	if err != nil || res.Existing {
		s.commits.end(orderID, c, err)
		if err != nil {
			return nil, false, nil, s.inventoryLost(item.ID, err)
		}
		return nil, false, &res, nil
	}

	order = newOrder(item, req, res)
	commitCtx, cancel := detached(ctx, s.commitTimeout())
	defer cancel()
	err = s.store.CreateOrder(commitCtx, order)
	s.commits.end(orderID, c, err)
	if errors.Is(err, flashsale.ErrWriteInDoubt) {
		// The order may be in the store: releasing its units could sell
		// them twice. The reservation stays; the orphan scan releases it
		// after the orphan grace if the order is not in the store then,
		// and a retry by the user finds it if it is.
		s.log.Error("commit reservation in doubt; keeping its units until the store tells", "order_id", orderID, "err", err)
		return nil, false, nil, errReservationInDoubt
	}
	if err != nil {
		if rerr := s.inventory.Release(commitCtx, item.ID, orderID); rerr != nil {
			// The reservation stays orphaned until the orphan scan finds
			// it without an order and releases it.
			s.log.Error("release after failed commit", "order_id", orderID, "err", rerr)
		}
		if flashsale.IsCode(err, flashsale.EIdempotencyKeyReused) || flashsale.IsCode(err, flashsale.EPurchaseLimitExceeded) {
			return nil, false, nil, err
		}
		s.log.Error("commit reservation", "order_id", orderID, "err", err)
		return nil, false, nil, &flashsale.Error{Code: flashsale.EUnavailable,
			Message: "the reservation could not be saved; nothing was reserved, please retry", RetryAfter: time.Second}
	}
	return order, true, nil, nil
}

// reserveJournaled is reserve when the inventory journals orders: the
// reservation and its order are one durable write in the inventory, and
// the store gets the order from the journal's persister.
func (s *Service) reserveJournaled(ctx context.Context, item *flashsale.Item, req PlaceOrder, reserve flashsale.ReserveRequest) (*flashsale.Order, bool, *flashsale.Reservation, error) {
	order := newOrder(item, req, flashsale.Reservation{
		OrderID: reserve.OrderID, SaleID: reserve.SaleID, ItemID: reserve.ItemID, UserID: reserve.UserID,
		Quantity: reserve.Quantity, ReservedAt: reserve.Now, ExpiresAt: reserve.Now.Add(reserve.TTL),
	})
	res, err := s.journal.ReserveJournaled(ctx, reserve, order)
	s.inventoryGate.leave()
	switch {
	case errors.Is(err, flashsale.ErrWriteInDoubt):
		// The order is journaled and will reach the store; only its
		// durability is unconfirmed, so the units stay and a retry finds it.
		s.log.Error("journaled reservation in doubt", "order_id", reserve.OrderID, "err", err)
		return nil, false, nil, errReservationInDoubt
	case err != nil:
		return nil, false, nil, s.inventoryLost(item.ID, err)
	case res.Existing:
		return nil, false, &res, nil
	}
	// The times as the inventory keeps them, as the store will have them.
	order.ReservedAt, order.ExpiresAt, order.UpdatedAt = res.ReservedAt, res.ExpiresAt, res.ReservedAt
	return order, true, nil, nil
}

// heldOrder answers a reservation the inventory holds for the user: its
// order once the store has it, live. When the store has made the order final,
// or has none past the orphan grace, the inventory is repaired and
// errHoldingRepaired says to reserve again.
func (s *Service) heldOrder(ctx context.Context, held flashsale.Reservation) (*flashsale.Order, error) {
	o, err := s.awaitDurable(ctx, held)
	switch {
	case err == nil && o.Status.Pending():
		return o, nil
	case err == nil:
		s.follow(ctx, o)
		if s.owes(o.ID) {
			return nil, errHoldingStale
		}
		s.repaired(o)
		return nil, errHoldingRepaired
	case !flashsale.IsCode(err, flashsale.EOrderNotFound):
		return nil, err
	}
	now := s.now().UTC()
	if !s.orphaned(held, now) {
		// A commit may still be on its way, here or on another instance.
		wait := held.ReservedAt.Add(s.orphanGrace).Sub(now)
		return nil, &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: max(time.Second, wait),
			Message: "your reservation is still being saved, please retry"}
	}
	switch o, err := s.releaseOrphan(ctx, held); {
	case err != nil:
		return nil, errHoldingStale
	case o.Status.Pending():
		return o, nil // its commit landed after all
	}
	return nil, errHoldingRepaired
}

var (
	// errHoldingRepaired is heldOrder's word that the user's stale
	// reservation is gone and a new one may be made.
	errHoldingRepaired = errors.New("the held reservation was stale and is released")
	// errHoldingStale answers a user whose reservation the store has
	// made final while the inventory cannot be told yet.
	errHoldingStale = &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second,
		Message: "your previous order is still being settled, please retry"}
)

// newOrder is the order of a new reservation.
func newOrder(item *flashsale.Item, req PlaceOrder, res flashsale.Reservation) *flashsale.Order {
	return &flashsale.Order{
		ID: res.OrderID, SaleID: item.SaleID, ItemID: item.ID, UserID: req.UserID,
		Quantity: res.Quantity, Status: flashsale.OrderReserved,
		UnitPrice: item.SalePrice, Currency: item.Currency,
		ReservedAt: res.ReservedAt, ExpiresAt: res.ExpiresAt, UpdatedAt: res.ReservedAt,
		IdempotencyKey: req.IdempotencyKey, Identities: req.identities,
	}
}

// errReservationInDoubt answers a reservation that was made but whose
// durability could not be confirmed.
var errReservationInDoubt = &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second,
	Message: "we could not confirm that your reservation was saved; please retry to see it"}

// awaitDurable returns an order found in the inventory once the store has
// it: the commit may still be in flight in this process or another. After
// about two seconds without it, it answers order_not_found.
func (s *Service) awaitDurable(ctx context.Context, held flashsale.Reservation) (*flashsale.Order, error) {
	orderID := held.OrderID
	if c, ok := s.commits.pending(orderID); ok {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// A reservation older than any commit takes has nothing on its way.
	committing := s.now().Sub(held.ReservedAt) < s.commitTimeout()
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		o, err := s.store.Order(ctx, orderID)
		if !flashsale.IsCode(err, flashsale.EOrderNotFound) || wait > time.Second || !committing {
			return o, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Order returns the user's order; another user's order is not found.
func (s *Service) Order(ctx context.Context, userID, orderID string) (*flashsale.Order, error) {
	o, err := s.store.Order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.UserID != userID {
		return nil, flashsale.Errorf(flashsale.EOrderNotFound, "order %q not found", orderID)
	}
	return o, nil
}

// Cancel releases a reservation the user no longer wants.
func (s *Service) Cancel(ctx context.Context, userID, orderID string) (*flashsale.Order, error) {
	o, err := s.Order(ctx, userID, orderID)
	if err != nil {
		return nil, err
	}
	o, err = s.store.Transition(ctx, flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: s.now().UTC(),
	})
	if errors.Is(err, flashsale.ErrTransitionRefused) {
		return nil, flashsale.Errorf(flashsale.EOrderNotCancellable, "the order is %s, only a reserved order can be cancelled", o.Status)
	}
	if err != nil {
		return nil, err
	}
	s.follow(ctx, o)
	return o, nil
}
