package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flashsale/flashsale"
)

// Pay is a shopper's payment of an order.
type Pay struct {
	UserID  string
	OrderID string
	Token   string
	Method  string
}

// Pay charges for a reservation and confirms it. Paying a confirmed order
// again returns it unchanged and charges nothing. A decline keeps the
// reservation for another try until the attempts run out.
func (s *Service) Pay(ctx context.Context, req Pay) (*flashsale.Order, error) {
	o, err := s.Order(ctx, req.UserID, req.OrderID)
	if err != nil {
		return nil, err
	}
	if o.Status == flashsale.OrderReserved && !s.now().Before(o.ExpiresAt) {
		// Past the deadline but not yet swept: expire it now rather than
		// let a late payment through.
		if o, err = s.expire(ctx, o.ID); err != nil {
			return nil, err
		}
	}
	if o.Status != flashsale.OrderReserved {
		return o, unpayable(o)
	}
	card, err := s.cardClaim(ctx, o, req.Token)
	if err != nil {
		return nil, err
	}
	o, err = s.store.Transition(ctx, flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying,
		At: s.now().UTC(), Deadline: flashsale.BeforeDeadline, CountAttempt: true, Card: card,
	})
	if errors.Is(err, flashsale.ErrCardLimit) {
		return o, flashsale.PurchaseLimitExceeded(flashsale.LimitCard, card.Limit)
	}
	if errors.Is(err, flashsale.ErrTransitionRefused) {
		if o.Status == flashsale.OrderReserved { // the deadline passed meanwhile
			if o, err = s.expire(ctx, o.ID); err != nil {
				return nil, err
			}
		}
		return o, unpayable(o)
	}
	if err != nil {
		return nil, err
	}

	charge := chargeRequest(o)
	charge.Token, charge.Method = req.Token, req.Method
	cctx, cancel := detached(ctx, s.paymentTimeout)
	res, err := s.payments.Charge(cctx, charge)
	cancel()
	if err != nil {
		s.log.Warn("charge outcome unknown, settling", "order_id", o.ID, "err", err)
		if res, err = s.lookup(ctx, o); err != nil {
			s.log.Error("settle charge", "order_id", o.ID, "err", err)
			return nil, &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: 5 * time.Second,
				Message: "the payment provider did not answer; the payment will be settled, check the order's status"}
		}
	}
	return s.settle(ctx, o, req.Method, res)
}

// cardClaim is the card a payment of o claims under its sale's per_card
// limit (a Limit of 0 only records it), or nil when the sale neither
// limits cards nor scores risk, or the token names no card (its charge
// is declined). A sale that scores risk learns which accounts share a
// card. The provider is asked before anything is written: if it does not
// answer, nothing changed and the shopper retries.
func (s *Service) cardClaim(ctx context.Context, o *flashsale.Order, token string) (*flashsale.CardClaim, error) {
	sale, err := s.Sale(ctx, o.SaleID)
	if err != nil {
		return nil, err
	}
	var limit int64
	if sale.Limits != nil {
		limit = sale.Limits.PerCard
	}
	if limit == 0 && !scoresRisk(sale) {
		return nil, nil
	}
	fingerprint, err := s.fingerprint(ctx, sale, o.UserID, token)
	if err != nil || fingerprint == "" {
		return nil, err
	}
	return &flashsale.CardClaim{Fingerprint: fingerprint, Limit: limit}, nil
}

// fingerprint is the fingerprint of the card token names, as the provider
// tells it (empty: no card), recorded for the risk score of a sale that
// scores it: accounts that share a card are a farm's mark. A provider that
// does not answer is a refusal to retry, with nothing written.
func (s *Service) fingerprint(ctx context.Context, sale *flashsale.Sale, userID, token string) (string, error) {
	fctx, cancel := detached(ctx, s.paymentTimeout)
	fingerprint, err := s.payments.Fingerprint(fctx, token)
	cancel()
	if err != nil {
		s.log.Warn("card fingerprint", "sale_id", sale.ID, "user_id", userID, "err", err)
		return "", &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: 2 * time.Second, Err: err,
			Message: "the payment provider did not answer; nothing was charged, please retry"}
	}
	if fingerprint != "" && scoresRisk(sale) {
		s.risks.sale(sale.ID).paidWith(userID, fingerprint)
	}
	return fingerprint, nil
}

// chargeKey is the idempotency key of an order's current attempt: a retry
// of the same attempt (after a crash, by the settler) can never charge
// twice, while a new attempt with another card is a new charge.
func chargeKey(o *flashsale.Order) string { return fmt.Sprintf("%s/%d", o.ID, o.PaymentAttempts) }

// chargeRequest is the charge of an order's current attempt as far as the
// order holds it: all but the shopper's card, which Pay adds.
func chargeRequest(o *flashsale.Order) flashsale.ChargeRequest {
	return flashsale.ChargeRequest{IdempotencyKey: chargeKey(o), OrderID: o.ID, Amount: o.TotalAmount(), Currency: o.Currency}
}

// lookup asks the provider what became of the charge of o's current
// attempt, whose answer was lost. No charge made counts as a decline:
// nothing was taken from the shopper.
func (s *Service) lookup(ctx context.Context, o *flashsale.Order) (flashsale.ChargeResult, error) {
	lctx, cancel := detached(ctx, s.paymentTimeout)
	defer cancel()
	res, err := s.payments.Lookup(lctx, chargeRequest(o))
	if errors.Is(err, flashsale.ErrNoCharge) {
		return flashsale.ChargeResult{Status: flashsale.PaymentDeclined, DeclineReason: "payment_timeout"}, nil
	}
	return res, err
}

// settle records the outcome of the charge of o's current attempt on o,
// in paying.
func (s *Service) settle(ctx context.Context, o *flashsale.Order, method string, res flashsale.ChargeResult) (*flashsale.Order, error) {
	now := s.now().UTC()
	payment := &flashsale.Payment{
		ID: res.PaymentID, OrderID: o.ID, Attempt: o.PaymentAttempts, IdempotencyKey: chargeKey(o),
		Amount: o.TotalAmount(), Currency: o.Currency, Method: method,
		Status: res.Status, FailureReason: res.DeclineReason, CreatedAt: now,
	}
	t := flashsale.Transition{OrderID: o.ID, From: flashsale.OrderPaying, At: now, Payment: payment}
	if res.Status == flashsale.PaymentSucceeded {
		// A shopper who was charged is a shopper confirmed, deadline or not.
		t.To = flashsale.OrderConfirmed
	} else {
		t.PaymentError = res.DeclineReason
		switch {
		case o.PaymentAttempts >= s.maxAttempts:
			t.To = flashsale.OrderPaymentFailed
		case !now.Before(o.ExpiresAt):
			t.To = flashsale.OrderExpired
		default:
			t.To = flashsale.OrderReserved
		}
	}
	settled, err := s.store.Transition(ctx, t)
	if errors.Is(err, flashsale.ErrTransitionRefused) {
		// Settled meanwhile by the settler with the same provider answer.
		s.follow(ctx, settled)
		if res.Status == flashsale.PaymentSucceeded || settled.Status == flashsale.OrderConfirmed {
			return settled, nil
		}
		return settled, declined(res)
	}
	if err != nil {
		return nil, err
	}
	s.follow(ctx, settled)
	if res.Status == flashsale.PaymentSucceeded {
		return settled, nil
	}
	return settled, declined(res)
}

func declined(res flashsale.ChargeResult) error {
	reason := res.DeclineReason
	if reason == "" {
		reason = "declined"
	}
	return &flashsale.Error{Code: flashsale.EPaymentFailed, Reason: reason,
		Message: "the payment was declined (" + reason + "); you can retry with another payment method"}
}

// unpayable explains why an order in a status other than reserved cannot
// be paid. A confirmed order is not an error: paying it again is a no-op.
func unpayable(o *flashsale.Order) error {
	switch o.Status {
	case flashsale.OrderConfirmed:
		return nil
	case flashsale.OrderExpired:
		return flashsale.Errorf(flashsale.EReservationExpired, "the reservation expired at %s; the unit is back in stock", o.ExpiresAt.Format(time.RFC3339))
	case flashsale.OrderPaying:
		return &flashsale.Error{Code: flashsale.EPaymentInProgress, RetryAfter: 2 * time.Second,
			Message: "a payment for this order is being settled; its status will tell in a moment"}
	default:
		return flashsale.Errorf(flashsale.EOrderNotPayable, "the order is %s and can no longer be paid", o.Status)
	}
}
