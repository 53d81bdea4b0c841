package checkout

import (
	"context"
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
