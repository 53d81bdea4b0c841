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
	// request that made no order (order_request.refused). Entry is the
	// lottery entry of a lottery event; lottery.won also carries the
	// order reserved for it, to pay.
	Order   *EventOrder   `json:"order,omitempty"`
	Request *EventRequest `json:"request,omitempty"`
	Entry   *EventEntry   `json:"entry,omitempty"`
}

// EventEntry is a lottery entry as the event left it; its fields are
// named as in the API's entry body, with the sale and the item's name so
// that a receiver needs no other call to tell the user.
type EventEntry struct {
	EntryID  string `json:"entry_id"`
	SaleID   string `json:"sale_id"`
	ItemID   string `json:"item_id"`
	ItemName string `json:"item_name"`
	// Status is won, waitlisted or lost, as the event says.
	Status string `json:"status"`
	// Rank is a waitlisted entry's place on the waitlist, from 1, as
	// GET /flash-sales/{sale_id}/entries gives it.
	Rank int64 `json:"rank,omitempty"`
	// OrderID is a won entry's reservation, also the event's order.
	OrderID string `json:"order_id,omitempty"`
}

// entryStatuses are the statuses an entry has after each lottery event.
var entryStatuses = map[flashsale.NotificationEvent]flashsale.EntryStatus{
	flashsale.EventLotteryWon:        flashsale.EntryWon,
	flashsale.EventLotteryWaitlisted: flashsale.EntryWaitlisted,
	flashsale.EventLotteryLost:       flashsale.EntryLost,
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
	if n.EntryID != "" {
		e.Entry = &EventEntry{EntryID: n.EntryID, SaleID: n.SaleID, ItemID: n.ItemID, ItemName: n.ItemName,
			Status: string(entryStatuses[n.Event]), Rank: n.Rank, OrderID: n.OrderID}
		if n.OrderID == "" {
			return e // waitlisted or lost: no order
		}
	} else if n.OrderID == "" {
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
