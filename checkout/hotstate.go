package checkout

import (
	"context"
	"time"

	"github.com/flashsale/flashsale"
)

// HotState is what an inventory that can lose its state (Redis restarted
// without persistence) offers so that the loss is noticed and repaired
// instead of answered wrongly.
type HotState interface {
	// Intact reports whether the inventory still holds the state last
	// built from the durable store.
	Intact(ctx context.Context) (bool, error)
	// MarkIntact records that the state has been built.
	MarkIntact(ctx context.Context) error
	// MarkLost records that the state no longer matches the store, as if
	// it had been lost: every instance pauses and one rebuilds it.
	MarkLost(ctx context.Context) error
	// LockRebuild takes the fleet-wide rebuild lock for ttl; ok is false
	// when another instance holds it. unlock releases it.
	LockRebuild(ctx context.Context, ttl time.Duration) (unlock func(), ok bool, err error)
}

// errHotStateLost answers requests while sales are paused for a rebuild.
var errHotStateLost = &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: 5 * time.Second,
	Message: "sales are paused while the inventory is restored; please retry shortly"}

// inventoryLost turns the inventory's "no such item" about an item of a
// known sale into "retry": the inventory lost its state. Other errors pass
// as they are.
func (s *Service) inventoryLost(itemID string, err error) error {
	if flashsale.IsCode(err, flashsale.EItemNotFound) {
		s.log.Error("inventory lacks a known item", "item_id", itemID)
		return errHotStateLost
	}
	return err
}

// WatchHotState checks the hot state every interval and, when it is lost,
// pauses reservations, waits out commits that may still be in flight
// (wait), rebuilds every item from the durable store under the fleet-wide
// lock, and resumes. Sales stay paused from the call until the first check
// finds the state intact, so an instance that starts beside an empty or
// unreachable inventory says "retry" rather than "no such item". It
// returns when ctx ends.
func (s *Service) WatchHotState(ctx context.Context, hs HotState, interval, wait time.Duration) {
	s.PauseUntilChecked()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := s.ensureHotState(ctx, hs, wait); err != nil && ctx.Err() == nil {
			s.log.Error("hot state check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (s *Service) ensureHotState(ctx context.Context, hs HotState, wait time.Duration) error {
	intact, err := hs.Intact(ctx)
	if err != nil {
		// Steps may fail while the inventory is away, on this instance or
		// another that dies owing them: catch up once it answers.
		s.fellBehind()
		return err
	}
	if intact {
		s.paused.Store(false)
		return nil
	}
	if !s.paused.Swap(true) {
		s.log.Warn("inventory state lost: pausing sales until it is rebuilt from the order store")
	}
	unlock, ok, err := hs.LockRebuild(ctx, wait+time.Minute)
	if err != nil || !ok {
		return err // another instance rebuilds; the next check sees the result
	}
	defer unlock()
	// Reservations acknowledged before the loss may still be committing:
	// nothing new can be reserved now, so waiting lets them all land in
	// the store before it is read.
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return ctx.Err()
	}
	if intact, err := hs.Intact(ctx); err != nil || intact {
		return err
	}
	if err := s.Rebuild(ctx); err != nil {
		return err
	}
	if err := hs.MarkIntact(ctx); err != nil {
		return err
	}
	// Orders made final while the rebuild read the store are checked again.
	s.fellBehind()
	s.paused.Store(false)
	s.log.Info("inventory rebuilt from the order store; sales resumed")
	return nil
}

// PauseUntilChecked pauses sales until WatchHotState finds the hot state
// intact (or rebuilds it). Call it before serving when WatchHotState runs
// in the background: an instance must not sell, nor say it is ready,
// before its first check has run.
func (s *Service) PauseUntilChecked() { s.paused.Store(true) }

// Paused reports whether sales are paused until the inventory is rebuilt.
func (s *Service) Paused() bool { return s.paused.Load() }
