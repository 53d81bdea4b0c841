package checkout

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// requestIDs derives a request's id from its user and Idempotency-Key, so
// that a client repeating a request repeats its id and the queue settles
// it once.
var requestIDs = uuid.MustParse("0193a5d2-8c4e-7b1a-9f3e-5d6c7b8a9e0f")

// errQueueFull answers a place-order the queue has no room for.
var errQueueFull = &flashsale.Error{Code: flashsale.EOverloaded, RetryAfter: 5 * time.Second,
	Message: "too many orders are waiting; nothing was queued, please retry shortly"}

// OrderRequest returns the user's queued request and its outcome, nil
// while it waits. Another user's request is not found, as orders are.
func (s *Service) OrderRequest(ctx context.Context, userID, requestID string) (flashsale.OrderRequest, *flashsale.OrderRequestOutcome, error) {
	notFound := flashsale.Errorf(flashsale.ENotFound, "order request %q not found", requestID)
	if s.queue == nil {
		return flashsale.OrderRequest{}, nil, notFound
	}
	r, outcome, err := s.queue.Request(ctx, requestID)
	switch {
	case errors.Is(err, flashsale.ErrUnknownRequest), err == nil && r.UserID != userID:
		return flashsale.OrderRequest{}, nil, notFound
	case err != nil:
		return flashsale.OrderRequest{}, nil, err
	}
	return r, outcome, nil
}

// RunOrderWorkers settles queued requests, at most rate a second in this
// process, until ctx ends. Without an order queue it returns at once.
func (s *Service) RunOrderWorkers(ctx context.Context, rate int) error {
	if s.queue == nil {
		return nil
	}
	return s.queue.Work(ctx, rate, s.settleRequest)
}

// settleRequest places the queued order. The request's id is its
// Idempotency-Key when the client gave none, so a request delivered twice
// (its worker died before acknowledging it) finds its order rather than
// taking a second unit. A refusal is an outcome; a transient failure
// (unavailable, overloaded) leaves the request queued for another try.
func (s *Service) settleRequest(ctx context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
	key := r.IdempotencyKey
	if key == "" {
		key = "queued:" + r.ID
	}
	o, created, err := s.PlaceOrder(ctx, PlaceOrder{UserID: r.UserID, SaleID: r.SaleID, ItemID: r.ItemID,
		Quantity: r.Quantity, IdempotencyKey: key, identities: r.Identities})
	settledAt := s.now().UTC()
	var refusal *flashsale.Error
	switch {
	case err == nil:
		return flashsale.OrderRequestOutcome{OrderID: o.ID, Created: created, SettledAt: settledAt}, nil
	case errors.As(err, &refusal) && refusal.Code != flashsale.EUnavailable && refusal.Code != flashsale.EOverloaded && refusal.Code != flashsale.EInternal:
		if err := s.notifyRefusal(ctx, r, refusal.Code, settledAt); err != nil {
			return flashsale.OrderRequestOutcome{}, err // settled again, and told, on the next try
		}
		return flashsale.OrderRequestOutcome{Error: refusal, SettledAt: settledAt}, nil
	}
	return flashsale.OrderRequestOutcome{}, err
}

// notifyRefusal tells the user, on every channel, that their queued
// request made no order: a reservation is told by its order's own
// notification, a refusal has no order to carry one. Its id derives from
// the request's, so a request settled twice is told once.
func (s *Service) notifyRefusal(ctx context.Context, r flashsale.OrderRequest, code string, at time.Time) error {
	if s.outbox == nil {
		return nil
	}
	return s.outbox.AddNotification(ctx, flashsale.Notification{
		ID:    uuid.NewSHA1(requestIDs, []byte("refused\n"+r.ID)).String(),
		Event: flashsale.EventRequestRefused, UserID: r.UserID, RequestID: r.ID,
		SaleID: r.SaleID, ItemID: r.ItemID, Quantity: r.Quantity, Reason: code, OccurredAt: at,
	})
}
