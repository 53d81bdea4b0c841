package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
)

type placeOrderRequest struct {
	ItemID   string          `json:"item_id"`
	Quantity json.RawMessage `json:"quantity"`
	// ShippingAddress is where the order goes, for sales that limit
	// purchases per address.
	ShippingAddress *flashsale.ShippingAddress `json:"shipping_address"`
}

// maxIdempotencyKey bounds a client's Idempotency-Key.
const maxIdempotencyKey = 255

func (s *server) handlePlaceOrder() http.Handler {
	spend := s.orderLimit()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req placeOrderRequest
		if err := decode(w, r, &req, false); err != nil {
			s.error(w, r, err)
			return
		}
		if strings.TrimSpace(req.ItemID) == "" {
			s.error(w, r, flashsale.InvalidField("item_id", "item_id is required"))
			return
		}
		quantity, err := positiveInteger(req.Quantity)
		if err != nil {
			s.error(w, r, err)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		if len(key) > maxIdempotencyKey {
			s.error(w, r, flashsale.InvalidField("Idempotency-Key", "the Idempotency-Key header is longer than %d bytes", maxIdempotencyKey))
			return
		}
		order := checkout.PlaceOrder{
			UserID: identityOf(r).UserID, Account: identityOf(r).Account, ShippingAddress: req.ShippingAddress,
			SaleID: r.PathValue("sale_id"), ItemID: req.ItemID,
			Quantity: quantity, IdempotencyKey: key, Admission: r.Header.Get("Flashsale-Admission"),
			Challenge: r.Header.Get("Flashsale-Challenge"), Device: r.Header.Get("Flashsale-Device"), IP: s.clientIP(r),
		}
		if spend != nil {
			order.Spend = func(context.Context) error { return spend(w, r) }
		}
		sub, err := s.Checkout.SubmitOrder(r.Context(), order)
		success := "reserved"
		if sub.Request != nil {
			success = "queued"
		}
		s.metrics.placeOrder.WithLabelValues(outcome(r.Context(), err, success)).Inc()
		switch {
		case err != nil:
			s.error(w, r, err)
		case sub.Request != nil:
			writeQueued(w, *sub.Request)
		default:
			writeOrder(w, sub.Order, sub.Created)
		}
	})
}

// writeOrder answers with a reservation: 201 when it is new, 200 when it
// is the user's existing one.
func writeOrder(w http.ResponseWriter, order *flashsale.Order, created bool) {
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/orders/"+order.ID)
	}
	writeJSON(w, status, newOrderView(order))
}

// queuedView is a request of a sale in queued admission, still waiting.
type queuedView struct {
	RequestID string    `json:"request_id"`
	Status    string    `json:"status"`
	StatusURL string    `json:"status_url"`
	QueuedAt  time.Time `json:"queued_at"`
}

// writeQueued answers 202 with where to learn the request's outcome, and
// when to look: order workers settle requests within about a second
// unless the queue is long.
func writeQueued(w http.ResponseWriter, req flashsale.OrderRequest) {
	url := "/order-requests/" + req.ID
	w.Header().Set("Location", url)
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Cache-Control", "private, no-store")
	writeJSON(w, http.StatusAccepted, queuedView{RequestID: req.ID, Status: "queued", StatusURL: url, QueuedAt: req.QueuedAt})
}

// handleGetOrderRequest is a queued request's status URL: 202 while it
// waits, then the outcome place-order would have given, the reservation
// (201, or 200 for the user's existing one) in its current state, or the
// refusal (409 sold_out, ...).
func (s *server) handleGetOrderRequest() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := identityOf(r).UserID
		req, settled, err := s.Checkout.OrderRequest(r.Context(), user, r.PathValue("request_id"))
		switch {
		case err != nil:
			s.error(w, r, err)
		case settled == nil:
			writeQueued(w, req)
		case settled.Error != nil:
			s.error(w, r, settled.Error)
		default:
			order, err := s.Checkout.Order(r.Context(), user, settled.OrderID)
			if err != nil {
				s.error(w, r, err)
				return
			}
			w.Header().Set("Cache-Control", "private, no-store")
			writeOrder(w, order, settled.Created)
		}
	})
}

// outcome labels a result for metrics: success, or the error code.
func outcome(ctx context.Context, err error, success string) string {
	if err == nil {
		return success
	}
	return flashsale.OutcomeCode(ctx, err)
}

// positiveInteger accepts a JSON integer >= 1; anything else (a string, a
// fraction, zero, a negative, missing) is invalid_quantity.
func positiveInteger(raw json.RawMessage) (int64, error) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 1 {
		return 0, &flashsale.Error{Code: flashsale.EInvalidQuantity, Field: "quantity",
			Message: "quantity must be a positive whole number"}
	}
	return n, nil
}

func (s *server) handleGetOrder() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		order, err := s.Checkout.Order(r.Context(), identityOf(r).UserID, r.PathValue("order_id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		writeJSON(w, http.StatusOK, newOrderView(order))
	})
}

type payRequest struct {
	PaymentToken  string `json:"payment_token"`
	PaymentMethod string `json:"payment_method"`
}

func (s *server) handlePay() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req payRequest
		if err := decode(w, r, &req, false); err != nil {
			s.error(w, r, err)
			return
		}
		switch {
		case req.PaymentToken == "" || len(req.PaymentToken) > 255:
			s.error(w, r, flashsale.InvalidField("payment_token", "payment_token is required (at most 255 bytes)"))
			return
		case req.PaymentMethod == "" || len(req.PaymentMethod) > 64:
			s.error(w, r, flashsale.InvalidField("payment_method", "payment_method is required, e.g. credit_card"))
			return
		}
		order, err := s.Checkout.Pay(r.Context(), checkout.Pay{
			UserID: identityOf(r).UserID, OrderID: r.PathValue("order_id"),
			Token: req.PaymentToken, Method: req.PaymentMethod,
		})
		s.metrics.payments.WithLabelValues(outcome(r.Context(), err, "confirmed")).Inc()
		if err != nil {
			s.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, newOrderView(order))
	})
}

func (s *server) handleCancel() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := decode(w, r, &struct{}{}, true); err != nil {
			s.error(w, r, err)
			return
		}
		order, err := s.Checkout.Cancel(r.Context(), identityOf(r).UserID, r.PathValue("order_id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, newOrderView(order))
	})
}
