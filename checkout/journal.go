package checkout

import (
	"context"
	"log/slog"
	"time"

	"github.com/flashsale/flashsale"
)

// JournaledStore is the store as the purchase flow must see it when the
// inventory journals orders (see flashsale.JournalDrain): an order may be
// acknowledged and not yet in the store. A lookup that finds no order
// has the journal persist everything it holds and looks again, so a
// shopper's next step, the timeout handler and reconciliation all find the
// order, and nothing is taken for an orphan while its order is journaled.
//
// OrderByIdempotencyKey is the store's alone: persisting the journal on
// every miss would cost each new order that carries a key a journal round.
// A retry that comes while its order is only journaled finds it all the
// same, as the inventory answers with the user's live reservation.
func JournaledStore(store flashsale.OrderStore, drain flashsale.JournalDrain, log *slog.Logger) flashsale.OrderStore {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return journaledStore{OrderStore: store, drain: drain, log: log}
}

type journaledStore struct {
	flashsale.OrderStore
	drain flashsale.JournalDrain
	log   *slog.Logger
}

func (s journaledStore) Order(ctx context.Context, id string) (*flashsale.Order, error) {
	return lookAgain(ctx, s.drain, func() (*flashsale.Order, error) { return s.OrderStore.Order(ctx, id) })
}

func (s journaledStore) Transition(ctx context.Context, t flashsale.Transition) (*flashsale.Order, error) {
	return lookAgain(ctx, s.drain, func() (*flashsale.Order, error) { return s.OrderStore.Transition(ctx, t) })
}

// AbandonOrder comes after the journal is in the store: an orphan's order
// may be journaled (acknowledged) and only not yet persisted, and must
// then be found, never abandoned.
func (s journaledStore) AbandonOrder(ctx context.Context, o *flashsale.Order) (*flashsale.Order, error) {
	if err := s.drain.Persist(ctx); err != nil {
		return nil, err
	}
	return s.OrderStore.AbandonOrder(ctx, o)
}

// Claims are the store's once the journal is in it: a rebuild or a
// reconciliation from claims without the journaled orders would drop
// acknowledged reservations.
func (s journaledStore) Claims(ctx context.Context, itemID string) (flashsale.ItemSnapshot, error) {
	if err := s.drain.Persist(ctx); err != nil {
		return flashsale.ItemSnapshot{}, err
	}
	return s.OrderStore.Claims(ctx, itemID)
}

// DueReservations are the store's once the journal is in it, as far as it
// can be: the sweep over them is the safety net for when the inventory is
// away, so a journal that cannot be read (Redis is down) does not stop it.
func (s journaledStore) DueReservations(ctx context.Context, now time.Time, limit int) ([]*flashsale.Order, error) {
	if err := s.drain.Persist(ctx); err != nil {
		s.log.Warn("due reservations: persisting the journal", "err", err)
	}
	return s.OrderStore.DueReservations(ctx, now, limit)
}

func lookAgain(ctx context.Context, drain flashsale.JournalDrain, find func() (*flashsale.Order, error)) (*flashsale.Order, error) {
	o, err := find()
	if !flashsale.IsCode(err, flashsale.EOrderNotFound) {
		return o, err
	}
	if err := drain.Persist(ctx); err != nil {
		return nil, err
	}
	return find()
}
