package checkout

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// expire ends a reservation whose deadline has passed and returns its
// units, in that order. It returns the order as it now is.
func (s *Service) expire(ctx context.Context, orderID string) (*flashsale.Order, error) {
	o, err := s.store.Transition(ctx, flashsale.Transition{
		OrderID: orderID, From: flashsale.OrderReserved, To: flashsale.OrderExpired,
		At: s.now().UTC(), Deadline: flashsale.AfterDeadline,
	})
	if err != nil && !errors.Is(err, flashsale.ErrTransitionRefused) {
		return nil, err
	}
	// Refused: already settled some other way; catch the inventory up.
	s.follow(ctx, o)
	return o, nil
}

// ExpireDue expires every reservation the inventory's expiry index holds
// past its deadline, and releases orphans (reservations whose order never
// reached the store). It returns how many orders it expired.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	now := s.now().UTC()
	due, err := s.inventory.Expiring(ctx, now, 1000)
	if err != nil {
		return 0, err
	}
	expired := 0
	for _, r := range due {
		o, err := s.expire(ctx, r.OrderID)
		switch {
		case flashsale.IsCode(err, flashsale.EOrderNotFound):
			if s.orphaned(r, now) {
				if _, err := s.releaseOrphan(ctx, r); err != nil {
					return expired, err
				}
			}
		case err != nil:
			return expired, err
		case o.Status == flashsale.OrderExpired:
			expired++
		}
	}
	return expired, nil
}

// Sweep is the safety net under the expiry index: it expires reservations
// the durable store holds past their deadline, and settles payments whose
// outcome was never recorded (a crash or a lost answer mid-charge).
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now().UTC()
	due, err := s.store.DueReservations(ctx, now, 1000)
	if err != nil {
		return err
	}
	for _, o := range due {
		if _, err := s.expire(ctx, o.ID); err != nil {
			return err
		}
	}
	stale, err := s.store.StalePayments(ctx, now.Add(-2*s.paymentTimeout), 100)
	if err != nil {
		return err
	}
	for _, o := range stale {
		res, err := s.lookup(ctx, o)
		if err != nil {
			s.log.Warn("payment still unsettled", "order_id", o.ID, "err", err)
			continue
		}
		if _, err := s.settle(ctx, o, "", res); err != nil && !flashsale.IsCode(err, flashsale.EPaymentFailed) {
			return err
		}
	}
	return nil
}

// Lease elects, in a fleet of instances, the one that scans the
// inventory's expiry index, so that N instances do not all race to expire
// the same orders. It is about economy, not safety: every expiry is a
// conditional write in the store, so two holders for a moment are harmless.
type Lease interface {
	// Hold takes the lease for ttl, or extends it for its holder; it
	// reports whether this instance holds it now.
	Hold(ctx context.Context, ttl time.Duration) (bool, error)
	// Release gives it up, so a successor need not wait out the ttl.
	Release(ctx context.Context) error
}

// LeadingTimeouts reports whether this instance runs the expiry index
// scan: always without a lease, else while it holds the lease.
func (s *Service) LeadingTimeouts() bool { return s.leading.Load() }

// RunTimeouts runs the timeout handler until ctx ends: while this instance
// holds the timeout lease, the expiry index every tick (so units return
// within about a tick of their deadline, and within the lease's ttl of a
// leader's death) and the waiting rooms' admissions, the orphan scan every quarter of the orphan grace (so
// an orphan's units return within about 1.25 graces) and a catch-up with
// the store every CatchUpEvery; on every instance, the sweep over the
// store every sweepEvery, the safety net that needs neither the inventory
// nor the lease. The lotteries are ticked apart, by the same leader: a draw
// of a million entries takes seconds, which must not hold up the expiry
// index.
func (s *Service) RunTimeouts(ctx context.Context, tick, sweepEvery time.Duration) {
	var lotteries sync.WaitGroup
	defer lotteries.Wait()
	lotteries.Go(func() { s.runLotteries(ctx, tick) })
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	// Several ticks long, so one slow scan or one lost answer does not
	// hand the lease over; short enough that a dead leader's successor
	// starts within seconds.
	leaseTTL := max(3*time.Second, 4*tick)
	defer s.releaseTimeoutLease(ctx)
	// The first sweep comes a period after the start: a restarted
	// instance's expiry index (or the leader's) covers the moment itself.
	lastSweep := time.Now()
	var lastOrphanScan, lastCatchUp time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if s.holdTimeoutLease(ctx, leaseTTL) {
			if _, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("expire due reservations", "err", err)
			}
			if time.Since(lastOrphanScan) >= max(tick, s.orphanGrace/4) {
				lastOrphanScan = time.Now()
				if _, err := s.ReleaseOrphans(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("release orphaned reservations", "err", err)
				}
			}
			if err := s.TickWaitingRooms(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("admit from the waiting rooms", "err", err)
			}
			if time.Since(lastCatchUp) >= CatchUpEvery {
				lastCatchUp = time.Now()
				s.fellBehind() // RunFollower catches up at its next tick
			}
		}
		if time.Since(lastSweep) >= sweepEvery {
			lastSweep = time.Now()
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("sweep", "err", err)
			}
		}
	}
}

// runLotteries ticks the lotteries while this instance leads the timeout
// handler, until ctx ends.
func (s *Service) runLotteries(ctx context.Context, tick time.Duration) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if !s.leading.Load() {
			continue
		}
		if err := s.TickLotteries(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("draw the lotteries and reserve for their entries", "err", err)
		}
	}
}

// holdTimeoutLease takes or extends the timeout lease and reports whether
// this instance leads. An instance that cannot tell does not lead.
func (s *Service) holdTimeoutLease(ctx context.Context, ttl time.Duration) bool {
	if s.timeoutLease == nil {
		s.leading.Store(true)
		return true
	}
	held, err := s.timeoutLease.Hold(ctx, ttl)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("timeout lease", "err", err)
	}
	if was := s.leading.Swap(held); was != held {
		s.log.Info("timeout handler", "leading", held)
	}
	return held
}

func (s *Service) releaseTimeoutLease(ctx context.Context) {
	if s.timeoutLease == nil || !s.leading.Swap(false) {
		return
	}
	ctx, cancel := detached(ctx, 5*time.Second)
	defer cancel()
	if err := s.timeoutLease.Release(ctx); err != nil {
		s.log.Warn("release timeout lease", "err", err)
	}
}
