package loadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeService implements just enough of API.md for the generator: create
// and read a sale, place orders with stock accounting and a per-user limit
// of one, pay, read an order, stats. Its faults are switched on by fields.
type fakeService struct {
	// oversellEvery answers every n-th sold-out attempt with a 201 for a
	// unit that does not exist (0: never).
	oversellEvery int
	// skewStats adds one to every item's available count in the stats.
	skewStats bool
	// forgetOrders answers 404 to every order look-up.
	forgetOrders bool
	// rateLimitEvery answers every n-th place-order attempt with 429 and
	// Retry-After: 0 (0: never).
	rateLimitEvery int
	// delay holds every answer this long, as a slow service; requests wait
	// it out concurrently.
	delay time.Duration

	// inFlight and maxInFlight count the requests being answered, and
	// the most at once; goroutines is the most goroutines of the test
	// process seen while answering.
	inFlight, maxInFlight, goroutines atomic.Int64

	mu       sync.Mutex
	sales    map[string]*fakeSale
	orders   map[string]*fakeOrder
	nextID   int
	attempts int
	soldOuts int
}

type fakeSale struct {
	id         string
	start, end time.Time
	items      []*fakeItem
}

type fakeItem struct {
	id                               string
	total, available, reserved, sold int64
}

type fakeOrder struct {
	id, saleID, itemID, user, status string
}

// fakeToken is the generator's MintToken for the fake: the token names the
// user and role in clear.
func fakeToken(userID string, admin bool) (string, error) {
	if admin {
		return "admin:" + userID, nil
	}
	return "user:" + userID, nil
}

func startFake(t *testing.T, f *fakeService) *httptest.Server {
	t.Helper()
	f.sales, f.orders = map[string]*fakeSale{}, map[string]*fakeOrder{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/flash-sales", f.createSale)
	mux.HandleFunc("GET /flash-sales/{sale}", f.getSale)
	mux.HandleFunc("POST /flash-sales/{sale}/orders", f.placeOrder)
	mux.HandleFunc("POST /orders/{order}/pay", f.pay)
	mux.HandleFunc("GET /orders/{order}", f.getOrder)
	mux.HandleFunc("GET /admin/flash-sales/{sale}/stats", f.stats)
	server := httptest.NewServer(f.slow(mux))
	t.Cleanup(server.Close)
	return server
}

// slow counts the requests in flight and holds each for delay.
func (f *fakeService) slow(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		raise(&f.maxInFlight, n)
		raise(&f.goroutines, int64(runtime.NumGoroutine()))
		time.Sleep(f.delay)
		next.ServeHTTP(w, r)
	})
}

func raise(highest *atomic.Int64, value int64) {
	for {
		old := highest.Load()
		if value <= old || highest.CompareAndSwap(old, value) {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
}

// caller returns the user id of the bearer token and whether it is admin.
func caller(r *http.Request) (string, bool) {
	role, id, ok := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), ":")
	if !ok {
		return "", false
	}
	return id, role == "admin"
}

func (f *fakeService) createSale(w http.ResponseWriter, r *http.Request) {
	if _, admin := caller(r); !admin {
		writeError(w, http.StatusForbidden, "forbidden")
		return
	}
	var body struct {
		StartTime time.Time `json:"start_time"`
		EndTime   time.Time `json:"end_time"`
		Items     []struct {
			TotalQuantity int64 `json:"total_quantity"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	f.nextID++
	sale := &fakeSale{id: fmt.Sprintf("sale-%d", f.nextID), start: body.StartTime, end: body.EndTime}
	for i, item := range body.Items {
		sale.items = append(sale.items, &fakeItem{id: fmt.Sprintf("%s-item-%d", sale.id, i), total: item.TotalQuantity, available: item.TotalQuantity})
	}
	f.sales[sale.id] = sale
	view := f.saleView(sale)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, view)
}

func (f *fakeService) saleView(s *fakeSale) map[string]any {
	items := []map[string]any{}
	for _, item := range s.items {
		items = append(items, map[string]any{"item_id": item.id, "total_quantity": item.total, "remaining_quantity": item.available})
	}
	return map[string]any{"sale_id": s.id, "start_time": s.start, "end_time": s.end, "server_time": time.Now().UTC(), "items": items}
}

func (f *fakeService) getSale(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sale := f.sales[r.PathValue("sale")]
	if sale == nil {
		writeError(w, http.StatusNotFound, "sale_not_found")
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"%d"`, sale.items[0].available))
	if r.Header.Get("If-None-Match") == w.Header().Get("ETag") {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, f.saleView(sale))
}

func (f *fakeService) orderBody(o *fakeOrder) map[string]any {
	return map[string]any{"order_id": o.id, "sale_id": o.saleID, "item_id": o.itemID, "quantity": 1, "status": o.status}
}

func (f *fakeService) placeOrder(w http.ResponseWriter, r *http.Request) {
	user, _ := caller(r)
	if user == "" {
		writeError(w, http.StatusUnauthorized, "unauthenticated")
		return
	}
	var body struct {
		ItemID string `json:"item_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.rateLimitEvery > 0 && f.attempts%f.rateLimitEvery == 0 {
		w.Header().Set("Retry-After", "0")
		writeError(w, http.StatusTooManyRequests, "rate_limited")
		return
	}
	sale := f.sales[r.PathValue("sale")]
	if sale == nil {
		writeError(w, http.StatusNotFound, "sale_not_found")
		return
	}
	if now := time.Now(); now.Before(sale.start) || now.After(sale.end) {
		writeError(w, http.StatusBadRequest, "sale_not_active")
		return
	}
	var item *fakeItem
	for _, candidate := range sale.items {
		if candidate.id == body.ItemID {
			item = candidate
		}
	}
	if item == nil {
		writeError(w, http.StatusNotFound, "item_not_found")
		return
	}
	for _, o := range f.orders {
		if o.user == user && o.itemID == item.id {
			if o.status == "reserved" {
				writeJSON(w, http.StatusOK, f.orderBody(o))
			} else {
				writeError(w, http.StatusConflict, "already_purchased")
			}
			return
		}
	}
	if item.available == 0 {
		f.soldOuts++
		if f.oversellEvery == 0 || f.soldOuts%f.oversellEvery != 0 {
			writeError(w, http.StatusConflict, "sold_out")
			return
		}
	} else {
		item.available--
		item.reserved++
	}
	f.nextID++
	order := &fakeOrder{id: fmt.Sprintf("order-%d", f.nextID), saleID: sale.id, itemID: item.id, user: user, status: "reserved"}
	f.orders[order.id] = order
	writeJSON(w, http.StatusCreated, f.orderBody(order))
}

func (f *fakeService) ownOrder(w http.ResponseWriter, r *http.Request) *fakeOrder {
	user, _ := caller(r)
	order := f.orders[r.PathValue("order")]
	if order == nil || order.user != user || f.forgetOrders {
		writeError(w, http.StatusNotFound, "order_not_found")
		return nil
	}
	return order
}

func (f *fakeService) pay(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	order := f.ownOrder(w, r)
	if order == nil {
		return
	}
	if order.status == "reserved" {
		order.status = "confirmed"
		for _, sale := range f.sales {
			for _, item := range sale.items {
				if item.id == order.itemID && item.reserved > 0 {
					item.reserved--
					item.sold++
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"order_id": order.id, "status": order.status})
}

func (f *fakeService) getOrder(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if order := f.ownOrder(w, r); order != nil {
		writeJSON(w, http.StatusOK, f.orderBody(order))
	}
}

func (f *fakeService) stats(w http.ResponseWriter, r *http.Request) {
	if _, admin := caller(r); !admin {
		writeError(w, http.StatusForbidden, "forbidden")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sale := f.sales[r.PathValue("sale")]
	if sale == nil {
		writeError(w, http.StatusNotFound, "sale_not_found")
		return
	}
	items := []ItemStats{}
	for _, item := range sale.items {
		s := ItemStats{ItemID: item.id, Total: item.total, Available: item.available, Reserved: item.reserved, Sold: item.sold}
		if f.skewStats {
			s.Available++
		}
		items = append(items, s)
	}
	writeJSON(w, http.StatusOK, SaleStats{SaleID: sale.id, Items: items})
}
