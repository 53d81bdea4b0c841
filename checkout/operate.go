package checkout

import (
	"context"
	"errors"
	"time"

	"github.com/flashsale/flashsale"
)

// ChangeSale applies an operator's change of a running sale (API.md,
// "Operating a sale"): the store first, the authority on the sale; then
// the hot state of every item whose total or end it changed, in one
// atomic step each; then this instance's memory of the sale. Other
// instances see the change within saleFreshness. A pause keeps every
// reservation and every payment; an end_time in the past ends the sale
// now; a restock adds units to available at once, everywhere.
func (s *Service) ChangeSale(ctx context.Context, c flashsale.SaleChange) (*flashsale.Sale, error) {
	if !c.Changes() {
		return nil, flashsale.InvalidField("$", "nothing to change: send paused, end_time or items with add_quantity")
	}
	sale, err := s.Sale(ctx, c.SaleID)
	if err != nil {
		return nil, err
	}
	c.At = s.now().UTC()
	if e := c.EndTime; e != nil {
		end := e.UTC()
		if end.Before(c.At) {
			end = c.At
		}
		switch {
		case !end.After(sale.StartTime):
			return nil, flashsale.InvalidField("end_time", "end_time must be after the sale's start_time")
		case sale.Lottery != nil && !end.After(sale.Lottery.EntriesClose):
			return nil, flashsale.InvalidField("end_time", "a lottery ends after its draw at lottery.entries_close")
		}
		c.EndTime = &end
	}
	for itemID, add := range c.Restock {
		if _, ok := sale.Item(itemID); !ok {
			return nil, flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", itemID, c.SaleID)
		}
		if add < 1 || add > maxRestock {
			return nil, flashsale.InvalidField("items", "add_quantity must be from 1 to %d", maxRestock)
		}
	}
	changed, err := s.store.UpdateSale(ctx, c)
	if err != nil {
		return nil, err
	}
	for i := range changed.Items {
		item := &changed.Items[i]
		if _, restocked := c.Restock[item.ID]; !restocked && c.EndTime == nil {
			continue
		}
		if err := s.adjust(ctx, item, changed.EndTime); err != nil {
			s.log.Error("the sale changed in the store, not in the hot state", "sale_id", c.SaleID, "item_id", item.ID, "err", err)
			return nil, &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second, Err: err,
				Message: "the change is saved, but not every instance applies it yet: read the sale again before changing it again"}
		}
	}
	s.remember(changed)
	if changed.WaitingRoom != nil {
		if c.EndTime != nil {
			if err := s.room.Open(ctx, s.line(changed)); err != nil {
				s.log.Error("the sale's end changed in the store, not in its line", "sale_id", c.SaleID, "err", err)
				return nil, &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second, Err: err,
					Message: "the change is saved, but the waiting room does not follow it yet: send the end_time again"}
			}
		}
		s.lined.expire() // the next tick admits by the change
	}
	if changed.Lottery != nil {
		s.lotteries.expire()
	}
	return changed, nil
}

// maxRestock bounds one restock of an item, as total_quantity is bounded.
const maxRestock = 100_000_000

// adjust sets an item's total and end in the hot state, trying a few
// times: the step is absolute, so a repeat of one that did land is
// harmless.
func (s *Service) adjust(ctx context.Context, item *flashsale.Item, end time.Time) error {
	var err error
	for range 3 {
		if err = s.inventory.Adjust(ctx, item.ID, flashsale.ItemWindow{Total: item.TotalQuantity, EndTime: end}); err == nil {
			return nil
		}
	}
	return err
}

// SaleOrders returns a page of a sale's orders for its operators
// (sale_not_found for an unknown sale). Where reservations are
// acknowledged from the inventory's journal, the first page moves the
// journal into the store first: the listing shows every order a shopper
// was told of.
func (s *Service) SaleOrders(ctx context.Context, q flashsale.OrderQuery) ([]*flashsale.Order, error) {
	if _, err := s.Sale(ctx, q.SaleID); err != nil {
		return nil, err
	}
	if s.journal != nil && q.After == "" {
		if err := s.journal.Persist(ctx); err != nil {
			return nil, err
		}
	}
	return s.store.SaleOrders(ctx, q)
}

// Refund gives a confirmed order's payment back through the provider and
// marks the order refunded; with restock its units go back on sale, the
// item's total growing by them (the refunded units stay sold). The order
// id is the refund's idempotency key: a refund repeated, or two at once,
// refunds once, marks once and restocks once; a refunded order comes back
// as it is. A sale that has ended is not restocked.
func (s *Service) Refund(ctx context.Context, orderID string, restock bool) (*flashsale.Order, error) {
	o, err := s.store.Order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	switch o.Status {
	case flashsale.OrderRefunded:
		return o, nil
	case flashsale.OrderConfirmed:
	default:
		return nil, flashsale.Errorf(flashsale.EOrderNotRefundable, "the order is %s: only a confirmed order is refunded", o.Status)
	}
	rctx, cancel := detached(ctx, s.paymentTimeout)
	_, err = s.payments.Refund(rctx, "refund:"+o.ID, o.PaymentID, o.TotalAmount())
	cancel()
	if err != nil {
		s.log.Warn("refund outcome unknown", "order_id", o.ID, "err", err)
		return nil, &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: 2 * time.Second, Err: err,
			Message: "the payment provider did not confirm the refund; retry: a refund is made once whatever the retries"}
	}
	refunded, err := s.store.Transition(ctx, flashsale.Transition{OrderID: o.ID, From: flashsale.OrderConfirmed,
		To: flashsale.OrderRefunded, At: s.now().UTC()})
	if errors.Is(err, flashsale.ErrTransitionRefused) && refunded.Status == flashsale.OrderRefunded {
		return refunded, nil // refunded at the same time elsewhere, which restocks
	}
	if err != nil {
		return nil, err
	}
	if restock {
		sale, err := s.Sale(ctx, o.SaleID)
		if err != nil {
			return nil, err
		}
		if s.now().Before(sale.EndTime) {
			if _, err := s.ChangeSale(ctx, flashsale.SaleChange{SaleID: o.SaleID, Restock: map[string]int64{o.ItemID: o.Quantity}}); err != nil &&
				!flashsale.IsCode(err, flashsale.ESaleEnded) {
				return nil, &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second, Err: err,
					Message: "the order is refunded, but its units are not back on sale: restock them with PATCH /admin/flash-sales/{sale_id}"}
			}
		}
	}
	return refunded, nil
}
