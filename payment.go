package flashsale

import (
	"context"
	"errors"
)

// PaymentProvider charges shoppers. Every charge carries an idempotency
// key, so a retried charge never charges twice.
//
// Any error from Charge means the outcome is unknown (a timeout, a lost
// connection): the caller must settle it with Lookup before it releases or
// confirms anything. A decline is not an error but a ChargeResult.
type PaymentProvider interface {
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
	// Lookup returns the outcome of the charge made with
	// req.IdempotencyKey, or ErrNoCharge when no charge was made with it
	// and none can be any more. req is the charge's request without its
	// Token and Method, which the caller no longer has: what an order
	// stores (key, order, amount, currency).
	Lookup(ctx context.Context, req ChargeRequest) (ChargeResult, error)
	// Fingerprint returns the fingerprint of the card a payment token
	// stands for: one value per card, whichever token, account or attempt
	// it comes from (Stripe's card.fingerprint), so that a sale can count
	// what one card buys. Empty when the token names no card (its charge
	// will be declined). An error means the provider did not answer.
	Fingerprint(ctx context.Context, token string) (string, error)
	// Refund gives back a succeeded charge (paymentID) in full, once per
	// key: a repeat of the key returns the first refund. An error means
	// the outcome is unknown; a repeat settles it.
	Refund(ctx context.Context, key, paymentID string, amount Money) (refundID string, err error)
}

// ErrNoCharge reports that a provider never charged with a key.
var ErrNoCharge = errors.New("no charge was made with this idempotency key")

// ChargeRequest asks for one charge.
type ChargeRequest struct {
	IdempotencyKey string
	OrderID        string
	Amount         Money
	Currency       string
	Token          string
	Method         string
}

// PaymentEvent is a provider's notification (a webhook) that a charge
// changed: which one, not how. The outcome is read from the provider with
// Lookup, so duplicates, events out of order and events about a charge
// already settled all come to the same answer.
type PaymentEvent struct {
	// ID is the provider's id of the event, the same in every redelivery.
	ID             string
	OrderID        string
	IdempotencyKey string
}

// ChargeResult is a provider's answer.
type ChargeResult struct {
	PaymentID     string
	Status        PaymentStatus
	DeclineReason string // card_declined, insufficient_funds, ...
}
