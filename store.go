package flashsale

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OrderStore is the durable store of sales, orders and payments, and the
// authority on every order's state: each state change is one conditional
// write here, so concurrent changes of one order (a payment racing its
// expiry) are decided by the store and the inventory follows.
//
// Implementations: sqlite (embedded mode) and postgres (distributed mode).
// Both pass storetest.Run.
type OrderStore interface {
	// CreateSale stores a sale with its items, all or nothing.
	CreateSale(ctx context.Context, sale *Sale) error
	// Sale returns a sale with its items (sale_not_found).
	Sale(ctx context.Context, id string) (*Sale, error)
	// Sales returns every sale, earliest start first.
	Sales(ctx context.Context) ([]*Sale, error)
	// UpdateSale applies an operator's change to a sale, all or nothing,
	// and returns the sale as it now is: its pause, its end, units added
	// to items' totals. A sale that has ended at c.At is not changed
	// (sale_ended); an item not of the sale is item_not_found.
	UpdateSale(ctx context.Context, c SaleChange) (*Sale, error)

	// CreateOrder durably records a new reservation before it returns: when
	// it returns nil the order survives a crash. Concurrent calls share
	// commits (group commit). Creating an order whose ID exists is a retry
	// and succeeds without change; an order whose (UserID, IdempotencyKey)
	// is taken fails with idempotency_key_reused and writes nothing.
	CreateOrder(ctx context.Context, order *Order) error
	// AbandonOrder makes sure that an orphan's order (the inventory holds
	// its reservation, the store has no order) never reaches the store: it
	// records o, in a final status, unless an order with its ID exists,
	// and returns the order as stored. A commit of the order that arrives
	// later (it was in doubt, stuck in a stalled server) is then a retry
	// that changes nothing, so the orphan's units can return to stock
	// without being sold twice. It writes no notification: the order's
	// user was never told of the reservation.
	AbandonOrder(ctx context.Context, o *Order) (*Order, error)
	// Order returns an order (order_not_found).
	Order(ctx context.Context, id string) (*Order, error)
	// OrderByIdempotencyKey returns the user's order created with the key
	// (order_not_found).
	OrderByIdempotencyKey(ctx context.Context, userID, key string) (*Order, error)
	// Transition changes an order's state if it is in t.From and the
	// deadline condition holds, in one atomic write with the payment it
	// records, and returns the order as it now is. When the condition does
	// not hold it writes nothing and returns the order as it is together
	// with ErrTransitionRefused. A transition with a Card records it on the
	// order, and when the card's limit would be passed writes nothing and
	// returns the order with ErrCardLimit; the count and the write are one
	// atomic step, across instances, so two accounts sharing a card never
	// both pass a limit of one.
	Transition(ctx context.Context, t Transition) (*Order, error)
	// Payments returns an order's charge attempts, oldest first.
	Payments(ctx context.Context, orderID string) ([]Payment, error)
	// SaleOrders returns up to q.Limit of a sale's orders whose id follows
	// q.After (from the first when empty), in id order, which is their
	// creation order (ids are UUIDv7): a page that ends at an id goes on
	// from it whatever is written meanwhile, each order listed once.
	SaleOrders(ctx context.Context, q OrderQuery) ([]*Order, error)

	// Claims returns an item with its limits and the units claimed by its
	// orders, for rebuilding the inventory (item_not_found).
	Claims(ctx context.Context, itemID string) (ItemSnapshot, error)
	// DueReservations returns up to limit orders in reserved whose
	// deadline is at or before now, earliest first: the sweeper's index.
	DueReservations(ctx context.Context, now time.Time, limit int) ([]*Order, error)
	// StalePayments returns up to limit orders in paying whose last change
	// is at or before before: payments whose outcome must be settled.
	StalePayments(ctx context.Context, before time.Time, limit int) ([]*Order, error)

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close flushes pending writes and releases the store.
	Close() error
}

// OrderQuery selects a page of a sale's orders; Status, when set, keeps
// the orders in it.
type OrderQuery struct {
	SaleID string
	Status OrderStatus
	After  string
	Limit  int
}

// ErrTransitionRefused reports that an order was not in the state a
// transition requires; nothing was written.
var ErrTransitionRefused = errors.New("order is not in the state the transition requires")

// ErrCardLimit reports a transition refused because the payment card it
// claims holds its limit already, in paying and confirmed orders of the
// sale; nothing was written. It is an ErrTransitionRefused, more precise.
var ErrCardLimit = fmt.Errorf("the payment card holds the sale's limit already: %w", ErrTransitionRefused)

// ErrWriteInDoubt reports a write whose outcome is unknown: the store lost
// its database while the commit was on its way, so the write may have been
// committed or not. A caller must not act as if it had not been (release
// what the write claimed); what follows the store (the timeout handler,
// reconciliation) settles it once the store answers again.
var ErrWriteInDoubt = errors.New("the write may or may not have been committed")

// Deadline restricts a transition relative to the order's ExpiresAt.
type Deadline int

const (
	AnyTime        Deadline = iota
	BeforeDeadline          // At < ExpiresAt
	AfterDeadline           // At >= ExpiresAt
)

// Transition is one change of an order's state.
type Transition struct {
	OrderID  string
	From     OrderStatus
	To       OrderStatus
	At       time.Time
	Deadline Deadline
	// CountAttempt adds one to PaymentAttempts.
	CountAttempt bool
	// PaymentError, when set, becomes LastPaymentError.
	PaymentError string
	// Payment, when set, is recorded with the transition; a succeeded
	// payment's ID becomes the order's PaymentID.
	Payment *Payment
	// Card, when set, is the card the order starts paying with: it becomes
	// the order's CardFingerprint, within the card's limit.
	Card *CardClaim
}

// CardClaim is the payment card of a move to paying and the sale's limit
// on it: the units of the sale's paying and confirmed orders with this
// fingerprint, this order's included, may not pass Limit. Zero: no limit,
// the card is only recorded.
type CardClaim struct {
	Fingerprint string
	Limit       int64
}

// Allows reports whether o meets the transition's status and deadline
// conditions.
func (t Transition) Allows(o *Order) bool {
	if o.Status != t.From {
		return false
	}
	switch t.Deadline {
	case BeforeDeadline:
		return t.At.Before(o.ExpiresAt)
	case AfterDeadline:
		return !t.At.Before(o.ExpiresAt)
	}
	return true
}

// RefusedForCard tells a store why it refused a transition of o when its
// claimed card held held units of the sale besides o: for the card's limit
// (ErrCardLimit), rather than for the status or the deadline
// (ErrTransitionRefused), which take precedence.
func (t Transition) RefusedForCard(o *Order, held int64) bool {
	return t.Card != nil && t.Card.Limit > 0 && t.Allows(o) && held+o.Quantity > t.Card.Limit
}
