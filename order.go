package flashsale

import "time"

// OrderStatus is an order's state. The transitions are
// reserved -> paying -> confirmed -> refunded; reserved -> expired |
// cancelled; paying -> reserved (declined, attempts left) | payment_failed
// | expired (declined after the deadline).
type OrderStatus string

const (
	OrderReserved      OrderStatus = "reserved"
	OrderPaying        OrderStatus = "paying"
	OrderConfirmed     OrderStatus = "confirmed"
	OrderExpired       OrderStatus = "expired"
	OrderCancelled     OrderStatus = "cancelled"
	OrderPaymentFailed OrderStatus = "payment_failed"
	// OrderRefunded is a confirmed order whose payment an operator gave
	// back. Its units stay sold: a refund that restocks adds as many to
	// the item's total instead.
	OrderRefunded OrderStatus = "refunded"
)

// OrderStatuses are every status an order can be in, in the order of its
// life.
var OrderStatuses = []OrderStatus{OrderReserved, OrderPaying, OrderConfirmed, OrderRefunded,
	OrderExpired, OrderCancelled, OrderPaymentFailed}

// HoldsStock reports whether an order in this status keeps its units out of
// the available stock (reserved, paying or sold).
func (s OrderStatus) HoldsStock() bool {
	return s == OrderReserved || s == OrderPaying || s.Sold()
}

// Sold reports whether the order's units are sold: confirmed, or refunded
// after (the units left the stock when sold, whatever became of the money).
func (s OrderStatus) Sold() bool { return s == OrderConfirmed || s == OrderRefunded }

// Pending reports whether the order is a live reservation (not yet sold).
func (s OrderStatus) Pending() bool {
	return s == OrderReserved || s == OrderPaying
}

// Order is a user's claim on units of one item: a reservation until paid.
type Order struct {
	ID               string
	SaleID           string
	ItemID           string
	UserID           string
	Quantity         int64
	Status           OrderStatus
	UnitPrice        Money
	Currency         string
	ReservedAt       time.Time
	ExpiresAt        time.Time
	ConfirmedAt      time.Time // zero until confirmed
	UpdatedAt        time.Time
	PaymentAttempts  int
	LastPaymentError string
	// PaymentID is the provider's id of the successful charge.
	PaymentID string
	// IdempotencyKey is the client's Idempotency-Key of the request that
	// created the order, if it sent one.
	IdempotencyKey string
	// CardFingerprint is the payment card of the order's latest payment
	// attempt (the provider's fingerprint: one card, one value, whatever
	// the token or the account); empty before the first attempt. While the
	// order is paying or confirmed its units count against the card's
	// share of the sale's per_card limit.
	CardFingerprint string
	// Identities are the phone and address the sale's limits count the
	// order's units under while it is reserved, paying or confirmed; the
	// store refuses an order that would pass a limit.
	Identities
}

// TotalAmount is what the order costs.
func (o *Order) TotalAmount() Money { return o.UnitPrice * Money(o.Quantity) }

// Payment is one charge attempt against an order.
type Payment struct {
	ID             string // provider's payment id; empty when no charge was made
	OrderID        string
	Attempt        int
	IdempotencyKey string
	Amount         Money
	Currency       string
	Method         string
	Status         PaymentStatus
	FailureReason  string
	CreatedAt      time.Time
}

// PaymentStatus is the outcome of a charge.
type PaymentStatus string

const (
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentDeclined  PaymentStatus = "declined"
)
