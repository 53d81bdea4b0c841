package http

import (
	"time"

	"github.com/flashsale/flashsale"
)

// saleView is a sale as GET /flash-sales/{id} shows it.
type saleView struct {
	SaleID                string     `json:"sale_id"`
	Name                  string     `json:"name"`
	Status                string     `json:"status"`
	StartTime             time.Time  `json:"start_time"`
	EndTime               time.Time  `json:"end_time"`
	ServerTime            time.Time  `json:"server_time"`
	Mode                  string     `json:"mode"`
	Admission             string     `json:"admission"`
	ReservationTTLSeconds int64      `json:"reservation_ttl_seconds"`
	Items                 []itemView `json:"items"`
	// WaitingRoom is the sale's "waiting_room" object, when it has one.
	WaitingRoom *flashsale.WaitingRoomConfig `json:"waiting_room,omitempty"`
	// Challenge is the sale's "challenge" object, when it has one.
	Challenge *flashsale.ChallengeConfig `json:"challenge,omitempty"`
	// Limits is the sale's "limits" object, when it has one.
	Limits *flashsale.PurchaseLimits `json:"limits,omitempty"`
	// Lottery is a lottery sale's entries window.
	Lottery *flashsale.LotteryConfig `json:"lottery,omitempty"`
	// Paused is set while an operator has paused the sale.
	Paused bool `json:"paused,omitempty"`
}

type itemView struct {
	ItemID            string `json:"item_id"`
	ProductID         string `json:"product_id"`
	Name              string `json:"name"`
	OriginalPrice     string `json:"original_price"`
	SalePrice         string `json:"sale_price"`
	Currency          string `json:"currency"`
	DiscountPercent   int64  `json:"discount_percent"`
	TotalQuantity     int64  `json:"total_quantity"`
	RemainingQuantity int64  `json:"remaining_quantity"`
	PerUserLimit      int64  `json:"per_user_limit"`
	SoldOut           bool   `json:"sold_out"`
}

func newSaleView(sale *flashsale.Sale, now time.Time, remaining map[string]int64) saleView {
	v := saleView{
		SaleID: sale.ID, Name: sale.Name, Status: string(sale.Status(now)),
		StartTime: sale.StartTime, EndTime: sale.EndTime, ServerTime: now,
		Mode: string(sale.Mode), Admission: string(sale.Admission),
		ReservationTTLSeconds: int64(sale.ReservationTTL / time.Second),
		Items:                 make([]itemView, len(sale.Items)),
		WaitingRoom:           sale.WaitingRoom,
		Challenge:             sale.Challenge,
		Limits:                sale.Limits,
		Lottery:               sale.Lottery,
		Paused:                sale.Paused,
	}
	for i := range sale.Items {
		it := &sale.Items[i]
		left := remaining[it.ID]
		v.Items[i] = itemView{
			ItemID: it.ID, ProductID: it.ProductID, Name: it.Name,
			OriginalPrice: it.OriginalPrice.String(), SalePrice: it.SalePrice.String(), Currency: it.Currency,
			DiscountPercent: it.DiscountPercent(), TotalQuantity: it.TotalQuantity,
			RemainingQuantity: left, PerUserLimit: it.PerUserLimit, SoldOut: left == 0,
		}
	}
	return v
}

// orderView is an order as every order endpoint shows it. The payment
// fields appear once the order is confirmed.
type orderView struct {
	OrderID          string     `json:"order_id"`
	SaleID           string     `json:"sale_id"`
	ItemID           string     `json:"item_id"`
	Quantity         int64      `json:"quantity"`
	Status           string     `json:"status"`
	TotalAmount      string     `json:"total_amount"`
	Currency         string     `json:"currency"`
	ReservedAt       time.Time  `json:"reserved_at"`
	ExpiresAt        time.Time  `json:"reservation_expires_at"`
	PaymentURL       string     `json:"payment_url"`
	ConfirmedAt      *time.Time `json:"confirmed_at"`
	PaymentAttempts  int        `json:"payment_attempts"`
	LastPaymentError *string    `json:"last_payment_error"`
	AmountCharged    string     `json:"amount_charged,omitempty"`
	PaymentID        string     `json:"payment_id,omitempty"`
}

func newOrderView(o *flashsale.Order) orderView {
	v := orderView{
		OrderID: o.ID, SaleID: o.SaleID, ItemID: o.ItemID, Quantity: o.Quantity, Status: string(o.Status),
		TotalAmount: o.TotalAmount().String(), Currency: o.Currency,
		ReservedAt: o.ReservedAt, ExpiresAt: o.ExpiresAt,
		PaymentURL:      "/orders/" + o.ID + "/pay",
		PaymentAttempts: o.PaymentAttempts,
	}
	if o.LastPaymentError != "" {
		v.LastPaymentError = &o.LastPaymentError
	}
	if o.Status == flashsale.OrderConfirmed {
		at := o.ConfirmedAt
		v.ConfirmedAt = &at
		v.AmountCharged = o.TotalAmount().String()
		v.PaymentID = o.PaymentID
	}
	return v
}

type statsView struct {
	SaleID string          `json:"sale_id"`
	Items  []itemStatsView `json:"items"`
}

type itemStatsView struct {
	ItemID     string           `json:"item_id"`
	Total      int64            `json:"total"`
	Available  int64            `json:"available"`
	Reserved   int64            `json:"reserved"`
	Sold       int64            `json:"sold"`
	Attempts   int64            `json:"attempts"`
	Rejections map[string]int64 `json:"rejections"`
}
