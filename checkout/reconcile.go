package checkout

import (
	"context"
	"time"

	"github.com/flashsale/flashsale"
)

// ReconcileReport says what Reconcile found and changed for each item.
type ReconcileReport struct {
	SaleID string          `json:"sale_id"`
	Items  []ItemReconcile `json:"items"`
	At     time.Time       `json:"checked_at"`
	// RebuildRequested is set when an item lacks live orders (a Redis
	// failover to a replica that missed writes): order by order they
	// cannot be put back without racing new reservations, so every
	// instance pauses and the inventory is rebuilt from the store.
	RebuildRequested bool `json:"rebuild_requested"`
}

// ItemReconcile compares one item's hot and durable state.
type ItemReconcile struct {
	ItemID string `json:"item_id"`
	// Inventory and Store are the counts before repair; After is the
	// inventory once repaired.
	Inventory stockView `json:"inventory"`
	Store     stockView `json:"store"`
	After     stockView `json:"after"`
	// Released and Confirmed list the orders whose units the inventory
	// still held although the store had released or sold them.
	Released  []string `json:"released"`
	Confirmed []string `json:"confirmed"`
	// Orphans are reservations with no order in the store, released.
	Orphans []string `json:"orphans"`
	// MissingFromInventory are live orders the inventory does not hold;
	// they need a rebuild (see RebuildRequested).
	MissingFromInventory []string `json:"missing_from_inventory"`
	Consistent           bool     `json:"consistent"`
}

type stockView struct {
	Total     int64 `json:"total"`
	Available int64 `json:"available"`
	Reserved  int64 `json:"reserved"`
	Sold      int64 `json:"sold"`
}

func viewOf(s flashsale.Stock) stockView {
	return stockView{Total: s.Total, Available: s.Available, Reserved: s.Reserved, Sold: s.Sold}
}

// Reconcile compares the inventory with the order store for every item of
// a sale and repairs what can be repaired order by order, without pausing
// sales: units the store has released or sold are released or confirmed in
// the inventory, and reservations with no order are released once older
// than the orphan grace.
func (s *Service) Reconcile(ctx context.Context, saleID string) (*ReconcileReport, error) {
	sale, err := s.Sale(ctx, saleID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	held, err := s.liveReservations(ctx, now)
	if err != nil {
		return nil, err
	}
	return s.reconcile(ctx, sale, held, now)
}

// reconcile is Reconcile of one sale, given the inventory's live
// reservations by item.
func (s *Service) reconcile(ctx context.Context, sale *flashsale.Sale, held map[string][]flashsale.Reservation, now time.Time) (*ReconcileReport, error) {
	report := &ReconcileReport{SaleID: sale.ID, At: now}
	missing := false
	for _, item := range sale.Items {
		ir, err := s.reconcileItem(ctx, item, held[item.ID], now)
		if err != nil {
			return nil, err
		}
		missing = missing || len(ir.MissingFromInventory) > 0
		report.Items = append(report.Items, ir)
	}
	if hs, ok := s.inventory.(HotState); ok && missing {
		if err := hs.MarkLost(ctx); err != nil {
			return nil, err
		}
		s.log.Warn("reconcile: the inventory lacks live orders; requested a rebuild from the store", "sale_id", sale.ID)
		report.RebuildRequested = true
	}
	return report, nil
}

func (s *Service) reconcileItem(ctx context.Context, item flashsale.Item, held []flashsale.Reservation, now time.Time) (ItemReconcile, error) {
	ir := ItemReconcile{ItemID: item.ID, Released: []string{}, Confirmed: []string{}, Orphans: []string{}, MissingFromInventory: []string{}}
	before, err := s.inventory.Stock(ctx, item.ID)
	if err != nil {
		return ir, err
	}
	claims, err := s.store.Claims(ctx, item.ID)
	if err != nil {
		return ir, err
	}
	durable := claims.Stock()
	ir.Inventory, ir.Store = viewOf(before), viewOf(durable)

	inInventory := map[string]bool{}
	for _, r := range held {
		inInventory[r.OrderID] = true
		o, err := s.store.Order(ctx, r.OrderID)
		switch {
		case flashsale.IsCode(err, flashsale.EOrderNotFound):
			if s.orphaned(r, now) {
				o, err := s.releaseOrphan(ctx, r)
				if err != nil {
					return ir, err
				}
				if !o.Status.Pending() {
					ir.Orphans = append(ir.Orphans, r.OrderID)
				}
			}
		case err != nil:
			return ir, err
		case o.Status.Pending():
		default:
			s.follow(ctx, o)
			s.repaired(o)
			if o.Status == flashsale.OrderConfirmed {
				ir.Confirmed = append(ir.Confirmed, o.ID)
			} else {
				ir.Released = append(ir.Released, o.ID)
			}
		}
	}
	for _, r := range claims.Reservations {
		if !inInventory[r.OrderID] {
			ir.MissingFromInventory = append(ir.MissingFromInventory, r.OrderID)
		}
	}
	if ir.MissingFromInventory, err = s.stillMissing(ctx, item.ID, ir.MissingFromInventory); err != nil {
		return ir, err
	}
	s.repairs.Missing.Add(int64(len(ir.MissingFromInventory)))
	after, err := s.inventory.Stock(ctx, item.ID)
	if err != nil {
		return ir, err
	}
	ir.After = viewOf(after)
	ir.Consistent = after.Consistent() && len(ir.MissingFromInventory) == 0 &&
		after.Sold == durable.Sold && after.Reserved >= durable.Reserved
	return ir, nil
}

// stillMissing keeps, of the orders the store held live but the inventory
// did not, those that are missing for sure. The inventory was read before
// the store, so an order reserved in between looks missing: read again
// after the store, it is there (a reservation reaches the inventory before
// the store). An order released in between is no longer live in the store.
func (s *Service) stillMissing(ctx context.Context, itemID string, candidates []string) ([]string, error) {
	if len(candidates) == 0 {
		return candidates, nil
	}
	live, err := s.inventory.Expiring(ctx, s.now().UTC().Add(100*365*24*time.Hour), 1_000_000)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, r := range live {
		if r.ItemID == itemID {
			held[r.OrderID] = true
		}
	}
	missing := []string{}
	for _, id := range candidates {
		if held[id] {
			continue
		}
		o, err := s.store.Order(ctx, id)
		if err != nil {
			return nil, err
		}
		if o.Status.Pending() {
			missing = append(missing, id)
		}
	}
	return missing, nil
}
