package http

import (
	"net/http"

	"github.com/flashsale/flashsale"
)

// PaymentEvents reads the payment provider's webhook deliveries
// (stripe.Provider does).
type PaymentEvents interface {
	// Event verifies a delivery's signature and returns the charge it is
	// about; ok is false for an event about anything else.
	Event(payload []byte, header http.Header) (ev flashsale.PaymentEvent, ok bool, err error)
}

// handlePaymentEvent takes a provider's webhook delivery: POST
// /webhooks/payments. The signature is the only credential; a delivery
// that does not verify changes nothing and is told why, so that the
// provider's dashboard shows it. Any 2xx stops the provider's retries, so
// an event this service has no use for is answered 200 too.
func (s *server) handlePaymentEvent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			s.error(w, r, errTooLarge)
			return
		}
		payload, err := readBody(w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		ev, ok, err := s.PaymentEvents.Event(payload, r.Header)
		if err != nil {
			s.error(w, r, &flashsale.Error{Code: flashsale.EInvalidRequest, Err: err,
				Message: "the delivery's signature does not verify: " + err.Error()})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			writeJSON(w, http.StatusOK, paymentEventView{Outcome: "ignored"})
			return
		}
		outcome, o, err := s.Checkout.PaymentEvent(r.Context(), ev)
		if err != nil {
			s.error(w, r, err)
			return
		}
		view := paymentEventView{Outcome: string(outcome)}
		if o != nil {
			view.OrderID, view.Status = o.ID, string(o.Status)
		}
		writeJSON(w, http.StatusOK, view)
	})
}

// paymentEventView is the answer to a webhook delivery, for the
// provider's log of deliveries.
type paymentEventView struct {
	Outcome string `json:"outcome"`
	OrderID string `json:"order_id,omitempty"`
	Status  string `json:"status,omitempty"`
}
