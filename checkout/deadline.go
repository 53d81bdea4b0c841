package checkout

import (
	"context"
	"errors"
	"time"

	"github.com/flashsale/flashsale"
)

// boundedStore is the store as a shopper's request calls it: every call
// has a deadline, so that a stalled database (hung, swapping, cut off
// without a reset) is answered 503 within it instead of holding the
// request until the connection gives up. The background work (the sweep,
// a rebuild reading every claim) calls the store without it: it is
// allowed to take long and holds no one.
//
// A Transition that failed for any reason but a refusal (its deadline ran
// out, its connection broke) may have committed, or commit later still
// (the statement waits in a stalled server's socket), and its inventory
// step was not taken: the order is in doubt, and the follower reads it
// again until it is final or the doubt has run out.
type boundedStore struct {
	flashsale.OrderStore
	timeout time.Duration
	doubt   func(orderID string)
}

func (s boundedStore) Sale(ctx context.Context, id string) (*flashsale.Sale, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.OrderStore.Sale(ctx, id)
}

func (s boundedStore) Order(ctx context.Context, id string) (*flashsale.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.OrderStore.Order(ctx, id)
}

func (s boundedStore) OrderByIdempotencyKey(ctx context.Context, userID, key string) (*flashsale.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.OrderStore.OrderByIdempotencyKey(ctx, userID, key)
}

func (s boundedStore) Payments(ctx context.Context, orderID string) ([]flashsale.Payment, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.OrderStore.Payments(ctx, orderID)
}

func (s boundedStore) AbandonOrder(ctx context.Context, o *flashsale.Order) (*flashsale.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.OrderStore.AbandonOrder(ctx, o)
}

func (s boundedStore) Transition(ctx context.Context, t flashsale.Transition) (*flashsale.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	o, err := s.OrderStore.Transition(ctx, t)
	if err != nil && !errors.Is(err, flashsale.ErrTransitionRefused) {
		s.doubt(t.OrderID)
	}
	return o, err
}
