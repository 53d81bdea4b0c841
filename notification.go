package flashsale

import (
	"context"
	"errors"
	"time"
)

// NotificationEvent names what happened to an order, or to a lottery
// entry, as its user hears it. The names are part of the webhook and
// event-stream contract.
type NotificationEvent string

const (
	EventOrderReserved NotificationEvent = "order.reserved"
	// EventPaymentDeclined is a decline with attempts left: the
	// reservation holds and the user may pay with another method.
	EventPaymentDeclined NotificationEvent = "order.payment_declined"
	EventOrderConfirmed  NotificationEvent = "order.confirmed"
	// EventPaymentFailed is the last decline: the unit is released.
	EventPaymentFailed  NotificationEvent = "order.payment_failed"
	EventOrderExpired   NotificationEvent = "order.expired"
	EventOrderCancelled NotificationEvent = "order.cancelled"
	// EventOrderRefunded is an operator's refund of a confirmed order.
	EventOrderRefunded NotificationEvent = "order.refunded"
	// EventRequestRefused is a queued place-order request that an order
	// worker refused (sold out, already purchased, ...): it made no order,
	// and Reason is the refusal's error code.
	EventRequestRefused NotificationEvent = "order_request.refused"

	// The lottery's events, about an entry (Notification.EntryID). A
	// winner hears EventLotteryWon once their reservation is made, with
	// the order to pay, not at the draw: a won entry without an order
	// would give them nothing to act on.
	EventLotteryWon NotificationEvent = "lottery.won"
	// EventLotteryWaitlisted is written by the draw; Rank is the entry's
	// place on the waitlist.
	EventLotteryWaitlisted NotificationEvent = "lottery.waitlisted"
	// EventLotteryLost: the entry was still on the waitlist when the sale
	// ended or the item sold out.
	EventLotteryLost NotificationEvent = "lottery.lost"
)

// NotificationEventOf returns the event a user hears about when their
// order moves from one status to another (from is empty for a new
// order), and false for a change that tells them nothing: into paying,
// which the user started themselves and whose outcome follows at once.
func NotificationEventOf(from, to OrderStatus) (NotificationEvent, bool) {
	switch to {
	case OrderReserved:
		if from == OrderPaying {
			return EventPaymentDeclined, true
		}
		return EventOrderReserved, true
	case OrderConfirmed:
		return EventOrderConfirmed, true
	case OrderPaymentFailed:
		return EventPaymentFailed, true
	case OrderExpired:
		return EventOrderExpired, true
	case OrderCancelled:
		return EventOrderCancelled, true
	case OrderRefunded:
		return EventOrderRefunded, true
	}
	return "", false
}

// Notification is one event of an order, or of a lottery entry, that its
// user is told about, with the snapshot of the order a message needs,
// taken in the same transaction as the change: a message never describes
// a state the order was not in.
type Notification struct {
	// ID is a UUIDv7 the store gives the notification; it is stable across
	// redeliveries, so receivers deduplicate by it.
	ID     string
	Event  NotificationEvent
	UserID string
	// OrderID is empty for a refused request, which made no order, and for
	// the lottery's events but lottery.won.
	OrderID string
	// RequestID is the queued request the notification answers, if any.
	RequestID string
	// EntryID is the lottery entry of a lottery event, and empty for
	// every other event.
	EntryID string
	// Rank is a lottery.waitlisted entry's place on the waitlist, from 1
	// (its draw rank less the winners); 0 for every other event.
	Rank       int64
	SaleID     string
	ItemID     string
	ItemName   string
	Quantity   int64
	Amount     Money // the order's total
	Currency   string
	Status     OrderStatus
	ExpiresAt  time.Time // the reservation's deadline
	Reason     string    // the decline, for payment_declined and payment_failed
	OccurredAt time.Time
}

// NewNotification is the notification of event for order o as it is after
// a change at at. The store fills in ID and ItemName.
func NewNotification(event NotificationEvent, o *Order, at time.Time) Notification {
	n := Notification{
		Event: event, UserID: o.UserID, OrderID: o.ID, SaleID: o.SaleID, ItemID: o.ItemID,
		Quantity: o.Quantity, Amount: o.TotalAmount(), Currency: o.Currency, Status: o.Status,
		ExpiresAt: o.ExpiresAt, OccurredAt: at,
	}
	if event == EventPaymentDeclined || event == EventPaymentFailed {
		// An earlier decline is no reason for a later confirmation.
		n.Reason = o.LastPaymentError
	}
	return n
}

// Outbox is the order store's notification outbox. A store that
// implements it writes a notification in the same transaction as every
// order change a user hears about (see NotificationEventOf), and every
// lottery change (the lottery events: see EntryStore), and owes it to
// each delivery channel the store was opened with; a refused or
// retried write writes none. No caller can forget a notification, and
// none is sent for a change that did not happen.
//
// Each (notification, channel) pair is delivered at least once: a
// dispatcher claims due deliveries under a lease, delivers, and marks them
// delivered or failed. A claim whose dispatcher died comes due again when
// its lease ends.
type Outbox interface {
	// ClaimDeliveries leases up to limit deliveries of channel that are
	// due at now, longest due first, until now+lease: no other claim gets
	// them before then. Each claim counts as an attempt.
	ClaimDeliveries(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// MarkDelivered records that notifications reached channel at at.
	// Marking one already delivered changes nothing.
	MarkDelivered(ctx context.Context, channel string, at time.Time, notificationIDs ...string) error
	// RecordFailedDelivery records that an attempt failed: the delivery
	// comes due again at f.RetryAt, or never when RetryAt is zero (given
	// up). It is ignored unless f.Attempt is the delivery's latest claim
	// and the delivery is still pending, so that a dispatcher whose lease
	// ran out cannot overrule the one that took over.
	RecordFailedDelivery(ctx context.Context, f FailedDelivery) error
	// Deliveries returns the delivery state of a notification on every
	// channel it is owed to, by channel name.
	Deliveries(ctx context.Context, notificationID string) ([]DeliveryState, error)
	// AddNotification records a notification that no order change
	// carries (EventRequestRefused), owed to every channel, as if written
	// with a change. The caller gives its ID: adding one whose ID or
	// RequestID is already recorded adds nothing, so a retry is safe.
	AddNotification(ctx context.Context, n Notification) error
	// NotificationsAfter returns up to limit of the user's notifications
	// that follow afterID (the first ones when afterID is empty), in the
	// order the store committed them. A notification not yet visible is
	// always ordered after every one returned, so a reader that resumes
	// after the last one it got never skips any. An afterID that is not a
	// notification of this user is ErrUnknownNotification.
	NotificationsAfter(ctx context.Context, userID, afterID string, limit int) ([]Notification, error)
}

// ErrUnknownNotification reports a notification id the store does not
// hold for the user.
var ErrUnknownNotification = errors.New("no such notification of this user")

// Delivery is a notification claimed for one channel.
type Delivery struct {
	Notification Notification
	Channel      string
	// Attempt counts the claims of this delivery, this one included.
	Attempt int
	// LastError is the previous attempt's failure, if any.
	LastError string
}

// FailedDelivery is the outcome of an attempt that did not deliver.
type FailedDelivery struct {
	Channel        string
	NotificationID string
	Attempt        int
	Error          string
	// RetryAt is when to try again; zero gives up.
	RetryAt time.Time
}

// DeliveryState is where a notification stands on one channel.
type DeliveryState struct {
	Channel  string
	Attempts int
	// NextAttemptAt is when the delivery is next due (a lease's end while
	// claimed); zero once delivered or given up.
	NextAttemptAt time.Time
	DeliveredAt   time.Time // zero until delivered
	LastError     string
}

// Pending reports whether the delivery will still be attempted.
func (d DeliveryState) Pending() bool { return !d.NextAttemptAt.IsZero() }

// OutboxSignal is offered by a store that can tell, within its own
// process, that it has just committed notifications: a dispatcher in the
// same process then delivers at once instead of at its next poll.
type OutboxSignal interface {
	// NotificationsCommitted returns a channel that is closed when
	// notifications are next committed. Take it before looking for work,
	// so that a commit in between is not missed.
	NotificationsCommitted() <-chan struct{}
}

// Broker carries "this user has new notifications" to the event streams
// that may be open for the user. In embedded mode it is in-process; in
// distributed mode it fans out across instances (Redis pub/sub, NATS), so
// that a stream hears of an event whichever instance delivered it. It
// carries no payload: a stream reads the events from the outbox, in its
// order, after the last one it sent.
type Broker interface {
	// Publish wakes the user's streams on every instance.
	Publish(ctx context.Context, userID string) error
	// Subscribe returns a channel that receives a value after each
	// Publish for the user (several may merge into one), and a function
	// that ends the subscription.
	Subscribe(userID string) (woken <-chan struct{}, cancel func())
}
