package checkout

import (
	"context"
	"time"

	"github.com/flashsale/flashsale"
)

// PaymentEventOutcome is what became of a provider's notification.
type PaymentEventOutcome string

const (
	// PaymentEventSettled: the event's charge was the order's payment in
	// progress, and its outcome is now recorded.
	PaymentEventSettled PaymentEventOutcome = "settled"
	// PaymentEventAlreadySettled: the order had moved on (the payment's
	// own answer came first, or the event is about an earlier attempt).
	PaymentEventAlreadySettled PaymentEventOutcome = "already_settled"
	// PaymentEventDuplicate: the event was delivered before.
	PaymentEventDuplicate PaymentEventOutcome = "duplicate"
	// PaymentEventUnknownOrder: no such order here (another deployment
	// that shares the provider's account made the charge).
	PaymentEventUnknownOrder PaymentEventOutcome = "unknown_order"
)

// paymentEventMemory is how long an event id is remembered: Stripe
// redelivers an event for up to three days.
const paymentEventMemory = 72 * time.Hour

// PaymentEvent applies a provider's notification that a charge changed
// (a webhook). It is the fast path of what the sweep does for a payment
// whose answer was lost: if the charge is the order's payment in
// progress, its outcome is asked of the provider, not taken from the
// event, and recorded as Pay records it. So an event before the charge's
// own answer, twice, or out of order, comes to the one outcome the
// provider holds, and an event about an earlier attempt changes nothing.
// Delivered ids are remembered across the fleet (Config.Once) so that a
// redelivery costs no look-up; if recording fails, the sweep still
// settles the payment.
func (s *Service) PaymentEvent(ctx context.Context, ev flashsale.PaymentEvent) (PaymentEventOutcome, *flashsale.Order, error) {
	if s.once != nil {
		first, err := s.once.UseOnce(ctx, "payment-event:"+ev.ID, paymentEventMemory)
		if err != nil {
			return "", nil, err
		}
		if !first {
			return PaymentEventDuplicate, nil, nil
		}
	}
	o, err := s.store.Order(ctx, ev.OrderID)
	if flashsale.IsCode(err, flashsale.EOrderNotFound) {
		return PaymentEventUnknownOrder, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if o.Status != flashsale.OrderPaying || chargeKey(o) != ev.IdempotencyKey {
		return PaymentEventAlreadySettled, o, nil
	}
	res, err := s.lookup(ctx, o)
	if err != nil {
		return "", nil, err
	}
	settled, err := s.settle(ctx, o, "", res)
	if err != nil && !flashsale.IsCode(err, flashsale.EPaymentFailed) {
		return "", nil, err
	}
	return PaymentEventSettled, settled, nil
}
