package http

import (
	"encoding/base64"
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// The bounds of a page of GET /admin/flash-sales/{id}/orders, and the page
// the CSV export reads at a time: the export holds one page in memory,
// whatever the sale's size.
const (
	defaultOrderPage = 100
	maxOrderPage     = 1000
)

// orderListQuery reads the listing's query: status, cursor and limit,
// each refused with its name when it cannot be read.
func orderListQuery(r *http.Request) (flashsale.OrderQuery, error) {
	q := flashsale.OrderQuery{SaleID: r.PathValue("sale_id"), Limit: defaultOrderPage}
	values := r.URL.Query()
	if status := values.Get("status"); status != "" {
		if !slices.Contains(flashsale.OrderStatuses, flashsale.OrderStatus(status)) {
			return q, flashsale.InvalidField("status", "status must be one of %s", orderStatusNames)
		}
		q.Status = flashsale.OrderStatus(status)
	}
	if cursor := values.Get("cursor"); cursor != "" {
		// Decoding alone takes more than the listing writes: line breaks
		// anywhere and any low bits in the last digit, so many spellings
		// of one cursor. Only the spelling next_cursor gives is taken.
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) == 0 || len(after) > 128 || base64.RawURLEncoding.EncodeToString(after) != cursor {
			return q, flashsale.InvalidField("cursor", "cursor is not one this listing gave (next_cursor)")
		}
		q.After = string(after)
	}
	if limit := values.Get("limit"); limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > maxOrderPage {
			return q, flashsale.InvalidField("limit", "limit must be a whole number from 1 to %d", maxOrderPage)
		}
		q.Limit = n
	}
	return q, nil
}

// orderStatusNames is the listing's refusal of an unknown status.
var orderStatusNames = func() string {
	names := make([]string, len(flashsale.OrderStatuses))
	for i, s := range flashsale.OrderStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}()

// saleOrderView is an order as the sale's listing shows it to an
// operator: with its buyer, as the CSV export has it.
type saleOrderView struct {
	orderView
	UserID string `json:"user_id"`
}

// handleSaleOrders lists a sale's orders a page at a time, or, asked for
// text/csv, streams them all as CSV for fulfilment.
func (s *server) handleSaleOrders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := orderListQuery(r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if strings.Contains(r.Header.Get("Accept"), "text/csv") {
			s.exportOrders(w, r, q)
			return
		}
		orders, err := s.Checkout.SaleOrders(r.Context(), q)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v := struct {
			Orders     []saleOrderView `json:"orders"`
			NextCursor string          `json:"next_cursor,omitempty"`
		}{Orders: make([]saleOrderView, len(orders))}
		for i, o := range orders {
			v.Orders[i] = saleOrderView{newOrderView(o), o.UserID}
		}
		if len(orders) == q.Limit {
			v.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(orders[len(orders)-1].ID))
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, v)
	})
}

// exportOrders streams every order of the sale from q on as CSV, a page
// at a time. An error before the first byte is an error answer; after
// it, the stream ends early, which a client sees as a short body.
func (s *server) exportOrders(w http.ResponseWriter, r *http.Request, q flashsale.OrderQuery) {
	q.Limit = maxOrderPage
	orders, err := s.Checkout.SaleOrders(r.Context(), q)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="orders-`+q.SaleID+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	out := csv.NewWriter(w)
	out.Write([]string{"order_id", "user_id", "item_id", "quantity", "status", "unit_price", "total_amount", "currency",
		"reserved_at", "confirmed_at", "payment_id"})
	for len(orders) > 0 {
		for _, o := range orders {
			confirmed := ""
			if !o.ConfirmedAt.IsZero() {
				confirmed = o.ConfirmedAt.Format(time.RFC3339Nano)
			}
			out.Write([]string{o.ID, o.UserID, o.ItemID, strconv.FormatInt(o.Quantity, 10), string(o.Status),
				o.UnitPrice.String(), o.TotalAmount().String(), o.Currency,
				o.ReservedAt.Format(time.RFC3339Nano), confirmed, o.PaymentID})
		}
		out.Flush()
		if out.Error() != nil || len(orders) < q.Limit {
			return
		}
		q.After = orders[len(orders)-1].ID
		if orders, err = s.Checkout.SaleOrders(r.Context(), q); err != nil {
			s.Logger.Warn("order export cut short", "sale_id", q.SaleID, "err", err)
			return
		}
	}
}
