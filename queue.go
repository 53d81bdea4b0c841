package flashsale

import (
	"context"
	"errors"
	"time"
)

// OrderRequest is a place-order request of a sale in queued admission,
// waiting for an order worker.
type OrderRequest struct {
	// ID identifies the request and deduplicates it: a request queued
	// twice under one id is settled once.
	ID             string
	UserID         string
	SaleID         string
	ItemID         string
	Quantity       int64
	IdempotencyKey string
	QueuedAt       time.Time
	// Identities are what the sale's limits count the order under,
	// decided when the request was queued.
	Identities
}

// OrderRequestOutcome is how an order worker settled a request: the
// reservation it made or found (OrderID), or why it made none (Error).
type OrderRequestOutcome struct {
	OrderID string
	// Created is true for a new reservation, false for the user's
	// existing one (a double click: 200 rather than 201).
	Created   bool
	Error     *Error
	SettledAt time.Time
}

// GivenUp is the outcome of a request whose settling failed, for a
// transient reason, as many times as its queue tries: nothing was
// reserved, and the user may press again.
func GivenUp(at time.Time) OrderRequestOutcome {
	return OrderRequestOutcome{SettledAt: at, Error: &Error{Code: EUnavailable, RetryAfter: time.Second,
		Message: "the order could not be processed; nothing was reserved, please try again"}}
}

// ErrQueueFull is Enqueue's answer when the queue holds all it may.
var ErrQueueFull = errors.New("the order queue is full")

// ErrUnknownRequest is Request's answer for an id never queued (or
// forgotten since).
var ErrUnknownRequest = errors.New("no such order request")

// OrderQueue carries queued admission's requests from the instance that
// accepted them to the order workers of every instance, and keeps each
// request's outcome for its status URL.
type OrderQueue interface {
	// Enqueue adds a request. A request whose id is already queued or
	// settled is not added again (nothing is processed twice); a full
	// queue is ErrQueueFull and adds nothing.
	Enqueue(ctx context.Context, r OrderRequest) error
	// Work hands queued requests to settle until ctx ends, at most rate a
	// second in this process. The outcome settle returns is recorded
	// before the request leaves the queue, so a worker that dies midway
	// leaves it to another, which finds the outcome if there is one. An
	// error from settle (a transient failure) leaves the request queued
	// for a later attempt.
	Work(ctx context.Context, rate int, settle func(context.Context, OrderRequest) (OrderRequestOutcome, error)) error
	// Request returns a request and its outcome, nil while it waits.
	Request(ctx context.Context, id string) (OrderRequest, *OrderRequestOutcome, error)
}
