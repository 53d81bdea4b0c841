package http

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/flashsale/flashsale"
)

func (s *server) handleListSales() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		filter := r.URL.Query().Get("status")
		switch flashsale.SaleStatus(filter) {
		case "", flashsale.SaleUpcoming, flashsale.SaleActive, flashsale.SaleEnded:
		default:
			s.error(w, r, flashsale.InvalidField("status", "status must be upcoming, active or ended"))
			return
		}
		e, err := s.sales.get("list?"+filter, s.now(), func() (*rendered, error) {
			sales, err := s.Checkout.Sales(r.Context())
			if err != nil {
				return nil, err
			}
			now := s.now()
			views := []saleView{}
			for _, sale := range sales {
				if filter == "" || sale.Status(now) == flashsale.SaleStatus(filter) {
					remaining, err := s.remaining(r, sale)
					if err != nil {
						return nil, err
					}
					views = append(views, newSaleView(sale, now, remaining))
				}
			}
			return renderWithETag(struct {
				Sales      []saleView `json:"sales"`
				ServerTime time.Time  `json:"server_time"`
			}{views, now}, "public, max-age=1")
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
		serveRendered(w, r, e)
	})
}

func (s *server) handleGetSale() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("sale_id")
		if r.Header.Get("Authorization") != "" {
			// The page is public; a signed-in fetch also tells the risk
			// score when the shopper could first have seen the Buy
			// button. A bad token is the page's business no more than no
			// token is.
			s.Checkout.SawSalePage(r.Context(), id, func() (string, bool) {
				who, err := s.authenticate(r)
				return who.UserID, err == nil
			})
		}
		e, err := s.sales.get("sale/"+id, s.now(), func() (*rendered, error) {
			sale, err := s.Checkout.Sale(r.Context(), id)
			if err != nil {
				return nil, err
			}
			now := s.now()
			cacheControl := "public, max-age=1"
			if sale.Status(now) == flashsale.SaleEnded {
				cacheControl = "public, max-age=60"
			}
			remaining, err := s.remaining(r, sale)
			if err != nil {
				return nil, err
			}
			return renderWithETag(newSaleView(sale, now, remaining), cacheControl)
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
		serveRendered(w, r, e)
	})
}

// remaining reads the available units of a sale's items. When the
// inventory cannot answer the page fails with 503 rather than show a
// made-up count.
func (s *server) remaining(r *http.Request, sale *flashsale.Sale) (map[string]int64, error) {
	out := make(map[string]int64, len(sale.Items))
	for _, it := range sale.Items {
		stock, err := s.Checkout.Stock(r.Context(), it.ID)
		if err != nil {
			s.Logger.Warn("stock for sale page", "item_id", it.ID, "err", err)
			return nil, &flashsale.Error{Code: flashsale.EUnavailable, Message: "stock levels are not available right now", RetryAfter: time.Second}
		}
		out[it.ID] = stock.Available
	}
	return out, nil
}

// renderWithETag renders v and computes its ETag over the body without
// server_time, so a client revalidating gets 304 while nothing it shows
// has changed.
func renderWithETag(v any, cacheControl string) (*rendered, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	delete(fields, "server_time")
	stable, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return &rendered{body: append(body, '\n'), etag: etagOf(stable), cacheControl: cacheControl}, nil
}
