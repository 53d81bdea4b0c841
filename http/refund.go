package http

import (
	"net/http"
)

// handleRefund refunds a confirmed order: POST /admin/orders/{order_id}/refund
// with an optional {"restock": true} that puts its units back on sale.
func (s *server) handleRefund() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Restock bool `json:"restock"`
		}
		if err := decode(w, r, &req, true); err != nil {
			s.error(w, r, err)
			return
		}
		o, err := s.Checkout.Refund(r.Context(), r.PathValue("order_id"), req.Restock)
		if err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, newOrderView(o))
	})
}
