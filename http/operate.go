package http

import (
	"fmt"
	"net/http"

	"github.com/flashsale/flashsale"
)

// changeSaleRequest is PATCH /admin/flash-sales/{sale_id}: what it leaves
// out stays as it is.
type changeSaleRequest struct {
	Paused  *bool   `json:"paused"`
	EndTime *string `json:"end_time"`
	Items   []struct {
		ItemID      string `json:"item_id"`
		AddQuantity *int64 `json:"add_quantity"`
	} `json:"items"`
}

// toChange reads the request, naming the field of the first value that
// cannot be read; the checkout checks the rest.
func (req *changeSaleRequest) toChange(saleID string) (flashsale.SaleChange, error) {
	c := flashsale.SaleChange{SaleID: saleID, Paused: req.Paused}
	if req.EndTime != nil {
		end, err := parseTime("end_time", *req.EndTime)
		if err != nil {
			return c, err
		}
		c.EndTime = &end
	}
	for i, it := range req.Items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		switch {
		case it.ItemID == "":
			return c, flashsale.InvalidField(field("item_id"), "item_id is required")
		case it.AddQuantity == nil:
			return c, flashsale.InvalidField(field("add_quantity"), "add_quantity is required")
		case *it.AddQuantity < 1 || *it.AddQuantity > 100_000_000:
			return c, flashsale.InvalidField(field("add_quantity"), "add_quantity must be from 1 to 100000000")
		}
		if c.Restock == nil {
			c.Restock = map[string]int64{}
		}
		if _, twice := c.Restock[it.ItemID]; twice {
			return c, flashsale.InvalidField(field("item_id"), "item %q is listed twice", it.ItemID)
		}
		c.Restock[it.ItemID] = *it.AddQuantity
	}
	return c, nil
}

func (s *server) handleChangeSale() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req changeSaleRequest
		if err := decode(w, r, &req, false); err != nil {
			s.error(w, r, err)
			return
		}
		change, err := req.toChange(r.PathValue("sale_id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		sale, err := s.Checkout.ChangeSale(r.Context(), change)
		if err != nil {
			s.error(w, r, err)
			return
		}
		remaining, err := s.remaining(r, sale)
		if err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, newSaleView(sale, s.now(), remaining))
	})
}
