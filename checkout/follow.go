package checkout

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale"
)

// The inventory follows the store. The store's conditional write decides
// every change of an order; the inventory is told after it (the units of a
// paid order sold, those of an ended one released). Telling it can fail
// once the store has committed (Redis stalled, restarting, unreachable):
// the shopper's answer stands, since the store decided it, and the
// inventory owes the step. Left owed, a cancelled order would hold its unit
// and a paid one would count as reserved until the reservation's deadline,
// up to an hour. Three things pay what is owed, quickest first:
//
//   - the steps this instance owes are retried every tick of RunFollower
//     until they land;
//   - after any step failed, and after the inventory was unreachable or
//     rebuilt, the instance catches up once the inventory answers again
//     (CatchUp): every sale's live reservations are held against the store
//     and repaired, which also covers the steps of an instance that died
//     owing them and writes a restarted Redis lost;
//   - an order whose change ran out of time in the store may commit later
//     still: it is read again every tick until the store shows it final
//     (and the step is taken) or an orphan grace has passed;
//   - the timeout leader catches up every CatchUpEvery all the same, for a
//     crash between a commit and its step that no instance saw fail.
//
// Every step is idempotent (confirming or releasing an order that is not
// live changes nothing) and final (an order is confirmed or released, never
// both), so it may be delivered twice, late, or in any order.

// CatchUpEvery is how often the timeout leader compares the inventory with
// the store when nothing has failed.
const CatchUpEvery = time.Minute

// debts are the inventory steps this instance owes.
type debts struct {
	mu    sync.Mutex
	steps map[string]*flashsale.Order // order id -> the order as the store decided it
	// behind is set when the inventory may have missed a step this
	// instance does not know of: a catch-up is due.
	behind atomic.Bool
	count  atomic.Int64
	// doubted are orders whose change may have committed after its
	// caller gave up, until when they are read again.
	doubted map[string]time.Time
}

// Repairs counts the drift between the inventory and the store that this
// instance found and repaired, by kind: the drift is a metric (and worth an
// alert when it grows outside a Redis fault).
type Repairs struct {
	// Released and Confirmed are orders the store had ended or sold while
	// the inventory still held them live.
	Released, Confirmed atomic.Int64
	// Orphans are reservations with no order in the store, released after
	// the orphan grace.
	Orphans atomic.Int64
	// Missing are live orders the inventory lacked (each asks a rebuild).
	Missing atomic.Int64
}

// Repairs returns this instance's drift counters.
func (s *Service) Repairs() *Repairs { return &s.repairs }

// OwedSteps is how many inventory steps this instance still owes.
func (s *Service) OwedSteps() int64 { return s.debts.count.Load() }

// follow brings the inventory in line with an order's durable state. A
// step that fails is owed (see owes) and retried until it lands.
func (s *Service) follow(ctx context.Context, o *flashsale.Order) {
	if o.Status.Pending() {
		return
	}
	fctx, cancel := detached(ctx, 10*time.Second)
	defer cancel()
	if err := s.step(fctx, o); err != nil {
		s.owe(o, err)
		return
	}
	if s.debts.count.Load() > 0 {
		s.paid(o.ID) // owed before, landed now
	}
}

// owes reports whether the inventory still misses the order's step.
func (s *Service) owes(orderID string) bool {
	s.debts.mu.Lock()
	defer s.debts.mu.Unlock()
	_, owed := s.debts.steps[orderID]
	return owed
}

// step is the inventory's side of an order the store has made final.
func (s *Service) step(ctx context.Context, o *flashsale.Order) error {
	if o.Status.Sold() {
		return s.inventory.Confirm(ctx, o.ItemID, o.ID)
	}
	return s.inventory.Release(ctx, o.ItemID, o.ID)
}

func (s *Service) owe(o *flashsale.Order, err error) {
	s.debts.behind.Store(true)
	s.debts.mu.Lock()
	defer s.debts.mu.Unlock()
	if s.debts.steps == nil {
		s.debts.steps = map[string]*flashsale.Order{}
	}
	if _, owed := s.debts.steps[o.ID]; !owed {
		s.log.Warn("the inventory missed an order's step; retrying until it lands",
			"order_id", o.ID, "item_id", o.ItemID, "status", o.Status, "err", err)
		s.debts.steps[o.ID] = o
		s.debts.count.Store(int64(len(s.debts.steps)))
	}
}

// payDebts retries the owed steps, stopping at the first that fails: the
// inventory is not back yet.
func (s *Service) payDebts(ctx context.Context) error {
	s.debts.mu.Lock()
	owed := make([]*flashsale.Order, 0, len(s.debts.steps))
	for _, o := range s.debts.steps {
		owed = append(owed, o)
	}
	s.debts.mu.Unlock()
	for _, o := range owed {
		if err := s.step(ctx, o); err != nil {
			return err
		}
		s.paid(o.ID)
	}
	return nil
}

// paid strikes a step that landed off the debts.
func (s *Service) paid(orderID string) {
	s.debts.mu.Lock()
	defer s.debts.mu.Unlock()
	delete(s.debts.steps, orderID)
	s.debts.count.Store(int64(len(s.debts.steps)))
}

// fellBehind records that the inventory may have missed steps nobody
// knows of (it was unreachable, or was rebuilt): the next tick catches up.
func (s *Service) fellBehind() { s.debts.behind.Store(true) }

// doubt records an order whose change ran out of time in the store: it
// may have committed, or may commit later, without its step.
func (s *Service) doubt(orderID string) {
	s.debts.mu.Lock()
	defer s.debts.mu.Unlock()
	if s.debts.doubted == nil {
		s.debts.doubted = map[string]time.Time{}
	}
	s.debts.doubted[orderID] = s.now().Add(s.orphanGrace)
}

// resolveDoubts reads the doubted orders again: one the store shows
// final is followed and forgotten, as is one whose doubt has run out.
// The doubt lasts an orphan grace from the last read the store failed: a
// change stuck in a stalled server lands once it answers again.
func (s *Service) resolveDoubts(ctx context.Context) error {
	s.debts.mu.Lock()
	doubted := make(map[string]time.Time, len(s.debts.doubted))
	maps.Copy(doubted, s.debts.doubted)
	s.debts.mu.Unlock()
	now := s.now()
	for orderID, until := range doubted {
		o, err := s.store.Order(ctx, orderID)
		if err != nil && !flashsale.IsCode(err, flashsale.EOrderNotFound) {
			s.debts.mu.Lock()
			for id := range s.debts.doubted {
				s.debts.doubted[id] = now.Add(s.orphanGrace)
			}
			s.debts.mu.Unlock()
			return err
		}
		if err == nil && !o.Status.Pending() {
			s.follow(ctx, o)
		} else if now.Before(until) {
			continue
		}
		s.debts.mu.Lock()
		delete(s.debts.doubted, orderID)
		s.debts.mu.Unlock()
	}
	return nil
}

// RunFollower pays the inventory steps this instance owes and catches up
// after a fault, every tick until ctx ends. Every instance runs it,
// whatever its roles: any instance can owe a step.
func (s *Service) RunFollower(ctx context.Context, tick time.Duration) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := s.followUp(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			s.log.Warn("the inventory is behind the store; catching up once it answers", "err", err)
		case err == nil && failing:
			s.log.Info("the inventory caught up with the store")
		}
		failing = err != nil
	}
}

// followUp is one round of RunFollower.
func (s *Service) followUp(ctx context.Context) error {
	s.holdings.prune(s.now())
	if s.paused.Load() {
		return nil // the rebuild reads the store itself
	}
	if err := s.payDebts(ctx); err != nil {
		return err
	}
	if err := s.resolveDoubts(ctx); err != nil {
		return err
	}
	if !s.debts.behind.Swap(false) {
		return nil
	}
	if err := s.CatchUp(ctx); err != nil {
		s.debts.behind.Store(true)
		return err
	}
	return nil
}

// CatchUp reconciles every sale that may hold units: the inventory's live
// reservations are held against the store, orders the store has made
// final are followed in the inventory, orphans past the grace are
// released, and live orders the inventory lacks ask a rebuild (see
// Reconcile).
func (s *Service) CatchUp(ctx context.Context) error {
	sales, err := s.store.Sales(ctx)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	held, err := s.liveReservations(ctx, now)
	if err != nil {
		return err
	}
	for _, sale := range sales {
		if !mayHoldUnits(sale, held, now) {
			continue
		}
		if _, err := s.reconcile(ctx, sale, held, now); err != nil {
			return err
		}
	}
	return nil
}

// mayHoldUnits reports whether a sale can have live orders: one of its
// items has reservations in the inventory, or it ended less than a
// reservation's life ago (an order the inventory lacks is in the store).
func mayHoldUnits(sale *flashsale.Sale, held map[string][]flashsale.Reservation, now time.Time) bool {
	for _, item := range sale.Items {
		if len(held[item.ID]) > 0 {
			return true
		}
	}
	return now.Before(sale.EndTime.Add(sale.ReservationTTL))
}

// liveReservations reads every live reservation of the inventory, by item.
func (s *Service) liveReservations(ctx context.Context, now time.Time) (map[string][]flashsale.Reservation, error) {
	live, err := s.inventory.Expiring(ctx, now.Add(100*365*24*time.Hour), 1_000_000)
	if err != nil {
		return nil, err
	}
	held := map[string][]flashsale.Reservation{}
	for _, r := range live {
		held[r.ItemID] = append(held[r.ItemID], r)
	}
	return held, nil
}

// orphaned reports whether a reservation whose order the store lacks is
// an orphan to release: no commit of it is in flight here, and it is older
// than the orphan grace, longer than any commit may take (see
// commitTimeout), so no other instance is still committing it either.
func (s *Service) orphaned(r flashsale.Reservation, now time.Time) bool {
	_, committing := s.commits.pending(r.OrderID)
	return !committing && now.Sub(r.ReservedAt) >= s.orphanGrace
}

// commitTimeout bounds a reservation's commit by the store's deadline and
// well within the orphan grace: a commit still running when the grace
// ends would land after its units were released as an orphan's. A commit
// cut off by it is in doubt, and its units stay for the grace.
func (s *Service) commitTimeout() time.Duration {
	return min(s.storeTimeout, max(time.Second, s.orphanGrace/2))
}

// ReleaseOrphans releases every reservation that the inventory has held
// past the orphan grace with no order in the store (a commit that failed
// and whose release failed too, a script that ran after its caller gave
// up, an instance that died between the two), whatever its deadline, and
// follows in the inventory any order the store has made final. Each
// reservation's order is looked up once, when it first passes the grace.
// It returns how many orphans it released.
func (s *Service) ReleaseOrphans(ctx context.Context) (int, error) {
	now := s.now().UTC()
	held, err := s.liveReservations(ctx, now)
	if err != nil {
		return 0, err
	}
	s.durable.mu.Lock()
	defer s.durable.mu.Unlock()
	seen := map[string]bool{}
	released := 0
	for _, reservations := range held {
		for _, r := range reservations {
			seen[r.OrderID] = true
			if s.durable.orders[r.OrderID] || now.Sub(r.ReservedAt) < s.orphanGrace {
				continue
			}
			o, err := s.store.Order(ctx, r.OrderID)
			switch {
			case flashsale.IsCode(err, flashsale.EOrderNotFound):
				if !s.orphaned(r, now) {
					continue
				}
				o, err := s.releaseOrphan(ctx, r)
				if err != nil {
					return released, err
				}
				if !o.Status.Pending() {
					released++
				}
			case err != nil:
				return released, err
			case o.Status.Pending():
				if s.durable.orders == nil {
					s.durable.orders = map[string]bool{}
				}
				s.durable.orders[r.OrderID] = true
			default:
				s.repaired(o)
				s.follow(ctx, o)
			}
		}
	}
	for id := range s.durable.orders {
		if !seen[id] {
			delete(s.durable.orders, id)
		}
	}
	return released, nil
}

// releaseOrphan returns an orphan's units to stock once the store has
// recorded its order as abandoned (expired), so that a commit of the order
// still on its way, stuck in a stalled server, can never land after the
// units were sold again. If that commit landed first, the order is stored
// after all: a live one keeps its units, a final one is followed. It
// returns the order as stored.
func (s *Service) releaseOrphan(ctx context.Context, r flashsale.Reservation) (*flashsale.Order, error) {
	sale, err := s.Sale(ctx, r.SaleID)
	if err != nil {
		return nil, err
	}
	item, ok := sale.Item(r.ItemID)
	if !ok {
		return nil, fmt.Errorf("orphan %s: item %s is not part of sale %s", r.OrderID, r.ItemID, r.SaleID)
	}
	abandoned := newOrder(item, PlaceOrder{UserID: r.UserID}, r)
	abandoned.Status, abandoned.UpdatedAt = flashsale.OrderExpired, s.now().UTC().Truncate(time.Microsecond)
	stored, err := s.store.AbandonOrder(ctx, abandoned)
	if err != nil || stored.Status.Pending() {
		return stored, err
	}
	if stored.Status == flashsale.OrderExpired && stored.UpdatedAt.Equal(abandoned.UpdatedAt) {
		s.log.Warn("releasing orphaned reservation", "order_id", r.OrderID, "item_id", r.ItemID, "reserved_at", r.ReservedAt)
		s.repairs.Orphans.Add(1)
	} else {
		s.repaired(stored)
	}
	if err := s.step(ctx, stored); err != nil {
		s.owe(stored, err) // the order is final in the store; its step will land
		return stored, err
	}
	return stored, nil
}

// repaired counts a final order the inventory still held live.
func (s *Service) repaired(o *flashsale.Order) {
	if o.Status == flashsale.OrderConfirmed {
		s.repairs.Confirmed.Add(1)
	} else {
		s.repairs.Released.Add(1)
	}
}
