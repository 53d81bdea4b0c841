package notify

import (
	"encoding/json"
	"time"

	"github.com/flashsale/flashsale"
)

// Event is a notification as webhooks and event streams carry it, in the
// API's conventions: money as a decimal string beside its currency,
// times in RFC 3339 UTC.
type Event struct {
	// ID is the notification's stable id: the same on every delivery
	// attempt and every channel, for receivers to deduplicate by.
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	// Order is the order the event is about; Request, instead, a queued
	// request that made no order (order_request.refused).
	Order   *EventOrder   `json:"order,omitempty"`
	Request *EventRequest `json:"request,omitempty"`
}

// EventRequest is a queued place-order request that an order worker
// refused; Reason is the error code place-order would have answered
// (sold_out, already_purchased, ...).
type EventRequest struct {
	RequestID string `json:"request_id"`
	UserID    string `json:"user_id"`
	SaleID    string `json:"sale_id"`
	ItemID    string `json:"item_id"`
	ItemName  string `json:"item_name"`
	Quantity  int64  `json:"quantity"`
	Reason    string `json:"reason"`
}

// EventOrder is the order as the event left it; its fields are named as
// in the API's order body.
type EventOrder struct {
	OrderID              string    `json:"order_id"`
	UserID               string    `json:"user_id"`
	SaleID               string    `json:"sale_id"`
	ItemID               string    `json:"item_id"`
	ItemName             string    `json:"item_name"`
	Quantity             int64     `json:"quantity"`
	Status               string    `json:"status"`
	TotalAmount          string    `json:"total_amount"`
	Currency             string    `json:"currency"`
	ReservationExpiresAt time.Time `json:"reservation_expires_at"`
	// Reason is the decline of payment_declined and payment_failed.
	Reason string `json:"reason,omitempty"`
}

// NewEvent returns n as an Event.
func NewEvent(n flashsale.Notification) Event {
	e := Event{ID: n.ID, Type: string(n.Event), CreatedAt: n.OccurredAt.UTC()}
	if n.OrderID == "" {
		e.Request = &EventRequest{RequestID: n.RequestID, UserID: n.UserID, SaleID: n.SaleID, ItemID: n.ItemID,
			ItemName: n.ItemName, Quantity: n.Quantity, Reason: n.Reason}
		return e
	}
	e.Order = &EventOrder{
		OrderID: n.OrderID, UserID: n.UserID, SaleID: n.SaleID, ItemID: n.ItemID, ItemName: n.ItemName,
		Quantity: n.Quantity, Status: string(n.Status), TotalAmount: n.Amount.String(), Currency: n.Currency,
		ReservationExpiresAt: n.ExpiresAt.UTC(), Reason: n.Reason,
	}
	return e
}

// MarshalEvent returns n's Event as JSON.
func MarshalEvent(n flashsale.Notification) ([]byte, error) { return json.Marshal(NewEvent(n)) }
