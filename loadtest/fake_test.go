package loadtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/challenge"
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
	// The service's per-IP limit, as it answers (writeLimited), saying
	// limitWait: refuseOrders refuses the first n place-order attempts,
	// limitFollowUps the first n of each of the generator's own requests
	// (the same method and path: an order's look-up, payment, cancel or
	// queued status, an admin read, a draw read).
	refuseOrders, limitFollowUps int
	limitWait                    time.Duration
	// queueOrders answers every place-order 202 with a status URL whose
	// reads answer what the place-order would have (queued admission).
	queueOrders bool
	// delay holds every answer this long, as a slow service; requests wait
	// it out concurrently.
	delay time.Duration
	// The waiting room of a sale created with one: queuePollAfter is
	// every ticket's poll_after_ms (default 20 ms) and queueAbandon its
	// abandon_seconds (default 2 s), whatever the sale asked for, so that
	// tests run in seconds. admitAll lets everyone in at once, whatever
	// the rate; ignoreAdmission takes orders without an admission token;
	// expireOnPoll expires a place at its n-th poll (0: never).
	queuePollAfter  time.Duration
	queueAbandon    time.Duration
	admitAll        bool
	ignoreAdmission bool
	expireOnPoll    int
	// expireReservations lets a reservation lapse once its sale's
	// reservation_ttl_seconds have passed, its unit back in stock; the
	// fake brings its orders up to date at each request that reads them.
	expireReservations bool
	// The lottery's faults: lotteryDuplicates creates a second entry for
	// a user who enters again; lotteryByEntryTime makes the earliest
	// entrants the winners and the waitlist, whatever the published seed
	// says; lotterySkipWaitlist never gives the first on the waitlist a
	// unit; lotteryIgnoresCards takes every entry of a sale with
	// per_card whatever its card holds.
	lotteryDuplicates, lotteryByEntryTime, lotterySkipWaitlist, lotteryIgnoresCards bool
	// lineIgnoresCards gives a place in a line that counts cards to every
	// join, whatever account holds its card's place.
	lineIgnoresCards bool
	// warmedAt holds when each GET /healthz came: the generator's
	// connections opened before the traffic.
	warmedAt []time.Time
	// A sale created with a challenge asks one of a press or a join of
	// its line without a valid solution (always), or of one within 150 ms
	// of the moment its button came alive, the start for a press and the
	// line's opening for a join (suspicious); refuseSolutions refuses
	// every solution. A paced sale's solution is taken no sooner than its
	// notbefore, and paceLag later still: the fake's clock behind the
	// generator's.
	refuseSolutions bool
	paceLag         time.Duration
	issuer          *challenge.Issuer
	// solutions counts the valid solutions spent, challenges the
	// challenges issued, early the solutions answered as sent before
	// their time; forwarded holds each user's X-Forwarded-For.
	solutions, challenges, early int
	spent                        map[string]bool
	forwarded                    map[string]map[string]bool

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
	// What the waiting room saw of the generator: polls sooner than the
	// ticket said, place-orders without a valid admission token, the
	// users shown an admitted ticket, DELETEs while waiting and while
	// admitted.
	earlyPolls, tokenless      int
	shownAdmitted              map[string]bool
	leftWaiting, leftAdmitted  int
	joinedPreQueue, joinedLate int
	// What the card limit saw: each user's payment tokens and
	// Flashsale-Device values (on place-order and pay), and the payments
	// it refused.
	payTokens, devices map[string]map[string]bool
	cardRefusals       int
	// What a lottery's card limit saw: each user's payment tokens at
	// the entry, and the entries it refused.
	entryTokens       map[string]map[string]bool
	entryCardRefusals int
	// What a line's card limit saw: each user's payment tokens at the
	// join, and the joins it refused.
	joinTokens       map[string]map[string]bool
	joinCardRefusals int
	// refused counts the refusals of each follow-up (limitFollowUps);
	// outcomes holds each queued place-order's answer (queueOrders).
	refused  map[string]int
	outcomes map[string]*httptest.ResponseRecorder
}

// fakeRoom is a sale's line: FIFO, admitting rate/s since the start as
// requests arrive (each request brings the line up to date), abandoning
// places unseen for abandon.
type fakeRoom struct {
	admitPerMinute, maxActive int64
	preQueue, abandon         time.Duration
	places                    map[string]*fakePlace
	line                      []*fakePlace
	admittedTotal, abandoned  int64
	admitAll                  bool
	// cards holds the user each card's place belongs to, in a sale that
	// counts cards.
	cards map[string]string
}

type fakePlace struct {
	id, user, status string
	seen, admittedAt time.Time
	reserved         bool
	polls            int
	// answered is when the last ticket went out, and pollAfter what it
	// said.
	answered  time.Time
	pollAfter time.Duration
}

type fakeSale struct {
	id         string
	start, end time.Time
	items      []*fakeItem
	room       *fakeRoom
	ttl        time.Duration
	// cardLimit is the sale's limits.per_card (0: none); cardUnits
	// counts the units each payment token paid for.
	cardLimit int64
	cardUnits map[string]int64
	// lottery is a lottery sale's entries and draw; nil for others.
	lottery *fakeLottery
	// challengePolicy, challengeMax and challengePace are the sale's
	// challenge object.
	challengePolicy string
	challengeMax    int64
	challengePace   int64
}

type fakeItem struct {
	id                               string
	total, available, reserved, sold int64
}

type fakeOrder struct {
	id, saleID, itemID, user, status string
	reservedAt                       time.Time
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
	f.sales, f.orders, f.shownAdmitted = map[string]*fakeSale{}, map[string]*fakeOrder{}, map[string]bool{}
	f.refused, f.outcomes = map[string]int{}, map[string]*httptest.ResponseRecorder{}
	f.payTokens, f.devices, f.entryTokens = map[string]map[string]bool{}, map[string]map[string]bool{}, map[string]map[string]bool{}
	f.joinTokens = map[string]map[string]bool{}
	f.issuer, f.spent, f.forwarded = challenge.NewIssuer([]byte("fake")), map[string]bool{}, map[string]map[string]bool{}
	if f.queuePollAfter == 0 {
		f.queuePollAfter = 20 * time.Millisecond
	}
	if f.queueAbandon == 0 {
		f.queueAbandon = 2 * time.Second
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/flash-sales", f.createSale)
	mux.HandleFunc("GET /flash-sales/{sale}", f.getSale)
	mux.HandleFunc("POST /flash-sales/{sale}/orders", f.queueing(f.placeOrder))
	mux.HandleFunc("GET /order-requests/{request}", f.orderRequest)
	mux.HandleFunc("POST /orders/{order}/pay", f.pay)
	mux.HandleFunc("GET /orders/{order}", f.getOrder)
	mux.HandleFunc("GET /admin/flash-sales/{sale}/stats", f.stats)
	mux.HandleFunc("POST /flash-sales/{sale}/queue", f.joinQueue)
	mux.HandleFunc("GET /flash-sales/{sale}/queue", f.getTicket)
	mux.HandleFunc("DELETE /flash-sales/{sale}/queue", f.leaveQueue)
	mux.HandleFunc("GET /admin/flash-sales/{sale}/queue", f.queueStats)
	mux.HandleFunc("POST /flash-sales/{sale}/entries", f.enterLottery)
	mux.HandleFunc("GET /flash-sales/{sale}/entries", f.getEntries)
	mux.HandleFunc("GET /flash-sales/{sale}/draw", f.getDraw)
	mux.HandleFunc("GET /flash-sales/{sale}/draw/{item}/entries", f.getDrawEntries)
	mux.HandleFunc("POST /orders/{order}/cancel", f.cancelOrder)
	mux.HandleFunc("GET /healthz", func(http.ResponseWriter, *http.Request) {
		f.mu.Lock()
		f.warmedAt = append(f.warmedAt, time.Now())
		f.mu.Unlock()
	})
	server := httptest.NewServer(f.slow(f.limitingFollowUps(mux)))
	t.Cleanup(server.Close)
	return server
}

// writeLimited answers 429 rate_limited as the service's per-IP limit does
// (package ratelimit's fields), saying wait: in whole seconds in
// Retry-After and the RateLimit field, exactly in retry_after_ms.
func writeLimited(w http.ResponseWriter, wait time.Duration) {
	seconds := int64((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.FormatInt(seconds, 10))
	w.Header().Set("RateLimit-Policy", `"ip-1s";q=10;w=1`)
	w.Header().Set("RateLimit", fmt.Sprintf(`"ip-1s";r=0;t=%d`, seconds))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{"code": "rate_limited", "message": "rate_limited",
		"retry_after_ms": wait.Milliseconds()}})
}

// isFollowUp tells the generator's own requests from the load's.
func isFollowUp(r *http.Request) bool {
	path := r.URL.Path
	return strings.HasPrefix(path, "/orders/") || strings.HasPrefix(path, "/order-requests/") ||
		r.Method == http.MethodGet && (strings.HasPrefix(path, "/admin/") || strings.Contains(path, "/draw"))
}

// limitingFollowUps refuses the first limitFollowUps of each follow-up.
func (f *fakeService) limitingFollowUps(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.limitFollowUps > 0 && isFollowUp(r) {
			key := r.Method + " " + r.URL.Path
			f.mu.Lock()
			f.refused[key]++
			refuse := f.refused[key] <= f.limitFollowUps
			f.mu.Unlock()
			if refuse {
				writeLimited(w, f.limitWait)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// queueing answers place-orders 202 when queueOrders is set, keeping what
// place answered for the status URL.
func (f *fakeService) queueing(place http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !f.queueOrders {
			place(w, r)
			return
		}
		outcome := httptest.NewRecorder()
		place(outcome, r)
		f.mu.Lock()
		f.nextID++
		id := fmt.Sprintf("request-%d", f.nextID)
		f.outcomes[id] = outcome
		f.mu.Unlock()
		writeJSON(w, http.StatusAccepted, map[string]any{"request_id": id, "status": "queued", "status_url": "/order-requests/" + id})
	}
}

func (f *fakeService) orderRequest(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	outcome := f.outcomes[r.PathValue("request")]
	f.mu.Unlock()
	if outcome == nil {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	maps.Copy(w.Header(), outcome.Header())
	w.WriteHeader(outcome.Code)
	_, _ = w.Write(outcome.Body.Bytes())
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

func writeRefusal(w http.ResponseWriter, status int, code, reason string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code, "reason": reason}})
}

// remember adds value to the set of key in sets (nothing when empty).
func remember(sets map[string]map[string]bool, key, value string) {
	if value == "" {
		return
	}
	if sets[key] == nil {
		sets[key] = map[string]bool{}
	}
	sets[key][value] = true
}

// expire lets the reservations whose sale's TTL has passed lapse, when
// expireReservations is set.
func (f *fakeService) expire(now time.Time) {
	if !f.expireReservations {
		return
	}
	for _, o := range f.orders {
		sale := f.sales[o.saleID]
		if o.status != "reserved" || now.Sub(o.reservedAt) < sale.ttl {
			continue
		}
		o.status = "expired"
		for _, item := range sale.items {
			if item.id == o.itemID {
				item.reserved--
				item.available++
			}
		}
	}
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
		TTL       int64     `json:"reservation_ttl_seconds"`
		Limits    *struct {
			PerCard int64 `json:"per_card"`
		} `json:"limits"`
		Items []struct {
			TotalQuantity int64 `json:"total_quantity"`
		} `json:"items"`
		Challenge *struct {
			Policy    string `json:"policy"`
			MaxNumber int64  `json:"max_number"`
			Pace      int64  `json:"pace"`
		} `json:"challenge"`
		Lottery *struct {
			EntriesOpen  time.Time `json:"entries_open"`
			EntriesClose time.Time `json:"entries_close"`
		} `json:"lottery"`
		WaitingRoom *struct {
			AdmitPerMinute  int64 `json:"admit_per_minute"`
			MaxActive       int64 `json:"max_active"`
			PreQueueSeconds int64 `json:"pre_queue_seconds"`
		} `json:"waiting_room"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	f.nextID++
	sale := &fakeSale{id: fmt.Sprintf("sale-%d", f.nextID), start: body.StartTime, end: body.EndTime,
		ttl: time.Duration(body.TTL) * time.Second, cardUnits: map[string]int64{}}
	if body.Limits != nil {
		sale.cardLimit = body.Limits.PerCard
	}
	for i, item := range body.Items {
		sale.items = append(sale.items, &fakeItem{id: fmt.Sprintf("%s-item-%d", sale.id, i), total: item.TotalQuantity, available: item.TotalQuantity})
	}
	if l := body.Lottery; l != nil {
		sale.lottery = newFakeLottery(l.EntriesOpen, l.EntriesClose)
	}
	if c := body.Challenge; c != nil {
		sale.challengePolicy, sale.challengeMax, sale.challengePace = c.Policy, c.MaxNumber, c.Pace
	}
	if w := body.WaitingRoom; w != nil {
		sale.room = &fakeRoom{admitPerMinute: w.AdmitPerMinute, maxActive: w.MaxActive, preQueue: time.Duration(w.PreQueueSeconds) * time.Second,
			abandon: f.queueAbandon, places: map[string]*fakePlace{}, cards: map[string]string{}, admitAll: f.admitAll}
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
	view := map[string]any{"sale_id": s.id, "start_time": s.start, "end_time": s.end, "server_time": time.Now().UTC(), "items": items}
	if s.cardLimit > 0 {
		view["limits"] = map[string]any{"per_card": s.cardLimit}
	}
	if s.lottery != nil {
		view["mode"] = "lottery"
		view["lottery"] = map[string]any{"entries_open": s.lottery.open, "entries_close": s.lottery.close}
	}
	if room := s.room; room != nil {
		view["waiting_room"] = map[string]any{"admit_per_minute": room.admitPerMinute, "max_active": room.maxActive,
			"pre_queue_seconds": int64(room.preQueue / time.Second), "order": "fifo",
			"abandon_seconds": int64(room.abandon / time.Second), "session_seconds": 600, "overbook": 2.0}
	}
	return view
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
	return map[string]any{"order_id": o.id, "sale_id": o.saleID, "item_id": o.itemID, "quantity": 1, "status": o.status, "reserved_at": o.reservedAt}
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
	f.expire(time.Now())
	remember(f.devices, user, r.Header.Get("Flashsale-Device"))
	f.attempts++
	if f.rateLimitEvery > 0 && f.attempts%f.rateLimitEvery == 0 {
		w.Header().Set("Retry-After", "0")
		writeError(w, http.StatusTooManyRequests, "rate_limited")
		return
	}
	if f.attempts <= f.refuseOrders {
		writeLimited(w, f.limitWait)
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
	remember(f.forwarded, user, r.Header.Get("X-Forwarded-For"))
	if f.challenged(w, r, sale, user, sale.start) {
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
	var place *fakePlace
	if sale.room != nil && item.available > 0 {
		sale.room.advance(time.Now(), sale)
		place = sale.room.places[user]
		if place == nil || place.status != "admitted" || r.Header.Get("Flashsale-Admission") != admissionToken(sale.id, user) {
			f.tokenless++
			if !f.ignoreAdmission {
				writeError(w, http.StatusForbidden, "admission_required")
				return
			}
		}
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
		if place != nil {
			place.reserved = true
		}
	}
	f.nextID++
	order := &fakeOrder{id: fmt.Sprintf("order-%d", f.nextID), saleID: sale.id, itemID: item.id, user: user, status: "reserved", reservedAt: time.Now()}
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
	var body struct {
		Token string `json:"payment_token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Token == "" {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(time.Now())
	order := f.ownOrder(w, r)
	if order == nil {
		return
	}
	remember(f.payTokens, order.user, body.Token)
	remember(f.devices, order.user, r.Header.Get("Flashsale-Device"))
	switch order.status {
	case "expired":
		writeError(w, http.StatusGone, "reservation_expired")
		return
	case "reserved":
		sale := f.sales[order.saleID]
		if sale.cardLimit > 0 && sale.cardUnits[body.Token] >= sale.cardLimit {
			// As the service: refused, the reservation kept for
			// another card.
			f.cardRefusals++
			writeRefusal(w, http.StatusConflict, "purchase_limit_exceeded", "card")
			return
		}
		sale.cardUnits[body.Token]++
		order.status = "confirmed"
		for _, item := range sale.items {
			if item.id == order.itemID && item.reserved > 0 {
				item.reserved--
				item.sold++
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"order_id": order.id, "status": order.status})
}

func (f *fakeService) getOrder(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(time.Now())
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
	f.expire(time.Now())
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

func admissionToken(saleID, user string) string { return "adm:" + saleID + ":" + user }

// soldOut reports whether every item of the sale is gone.
func (s *fakeSale) soldOut() bool {
	for _, item := range s.items {
		if item.available > 0 {
			return false
		}
	}
	return true
}

// advance brings the line to now: abandons the places unseen for abandon
// from the start, then admits the first waiting shoppers up to the rate
// since the start (everyone with admitAll), never past maxActive.
func (room *fakeRoom) advance(now time.Time, sale *fakeSale) {
	if now.Before(sale.start) {
		return
	}
	active := int64(0)
	for _, p := range room.line {
		if p.status == "pre_queue" {
			p.status = "waiting"
		}
		if (p.status == "waiting" || p.status == "admitted" && !p.reserved) && now.Sub(later(p.seen, sale.start)) >= room.abandon {
			p.status = "expired"
			room.abandoned++
		}
		if p.status == "admitted" {
			active++
		}
	}
	if sale.soldOut() {
		return
	}
	allowed := int64(float64(room.admitPerMinute) / 60 * now.Sub(sale.start).Seconds())
	if room.admitAll {
		allowed = int64(len(room.line))
	}
	for _, p := range room.line {
		if room.admittedTotal >= allowed || room.maxActive > 0 && active >= room.maxActive {
			return
		}
		if p.status == "waiting" {
			p.status, p.admittedAt = "admitted", now
			room.admittedTotal++
			active++
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ticket writes u's ticket as it stands.
func (f *fakeService) ticket(w http.ResponseWriter, status int, sale *fakeSale, p *fakePlace, now time.Time) {
	view := map[string]any{"ticket_id": p.id, "sale_id": sale.id, "status": p.status, "poll_after_ms": f.queuePollAfter.Milliseconds()}
	if sale.soldOut() && p.status != "expired" {
		view["status"] = "sold_out"
	}
	switch view["status"] {
	case "waiting", "pre_queue":
		position := int64(1)
		for _, other := range sale.room.line {
			if other == p {
				break
			}
			if other.status == "waiting" || other.status == "pre_queue" {
				position++
			}
		}
		if p.status == "waiting" {
			view["position"] = position
			view["estimated_wait_seconds"] = int64(math.Ceil(float64(position) / (float64(sale.room.admitPerMinute) / 60)))
		}
	case "admitted":
		view["admitted_at"] = p.admittedAt.UTC()
		view["admission_expires_at"] = p.admittedAt.Add(10 * time.Minute).UTC()
		view["admission_token"] = admissionToken(sale.id, p.user)
		f.shownAdmitted[p.user] = true
	}
	p.answered, p.pollAfter = now, f.queuePollAfter
	writeJSON(w, status, view)
}

// roomOf returns the sale of the request with its line brought to now, or
// answers the refusal.
func (f *fakeService) roomOf(w http.ResponseWriter, r *http.Request, now time.Time) (*fakeSale, string) {
	user, _ := caller(r)
	sale := f.sales[r.PathValue("sale")]
	switch {
	case user == "":
		writeError(w, http.StatusUnauthorized, "unauthenticated")
	case sale == nil:
		writeError(w, http.StatusNotFound, "sale_not_found")
	case sale.room == nil:
		writeError(w, http.StatusConflict, "no_waiting_room")
	default:
		sale.room.advance(now, sale)
		return sale, user
	}
	return nil, ""
}

func (f *fakeService) joinQueue(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"payment_token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil && err != io.EOF {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	sale, user := f.roomOf(w, r, now)
	switch {
	case sale == nil:
		return
	case now.Before(sale.start.Add(-sale.room.preQueue)):
		writeError(w, http.StatusBadRequest, "queue_not_open")
		return
	case f.challenged(w, r, sale, user, sale.start.Add(-sale.room.preQueue)):
		return
	case sale.soldOut():
		writeError(w, http.StatusConflict, "sold_out")
		return
	}
	if sale.cardLimit > 0 {
		// As the service: the join names its card, and a card holds one
		// place, its first account's.
		if body.Token == "" {
			writeError(w, http.StatusBadRequest, "invalid_request")
			return
		}
		remember(f.joinTokens, user, body.Token)
		if holder := sale.room.cards[body.Token]; holder != "" && holder != user && !f.lineIgnoresCards {
			f.joinCardRefusals++
			writeRefusal(w, http.StatusConflict, "purchase_limit_exceeded", "card")
			return
		}
		sale.room.cards[body.Token] = cmp.Or(sale.room.cards[body.Token], user)
	}
	if p := sale.room.places[user]; p != nil && p.status != "expired" {
		p.seen = now
		f.ticket(w, http.StatusOK, sale, p, now)
		return
	}
	f.nextID++
	p := &fakePlace{id: fmt.Sprintf("ticket-%d", f.nextID), user: user, status: "waiting", seen: now}
	if now.Before(sale.start) {
		p.status = "pre_queue"
		f.joinedPreQueue++
	} else {
		f.joinedLate++
	}
	sale.room.places[user] = p
	sale.room.line = append(sale.room.line, p)
	sale.room.advance(now, sale)
	f.ticket(w, http.StatusCreated, sale, p, now)
}

func (f *fakeService) getTicket(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	sale, user := f.roomOf(w, r, now)
	if sale == nil {
		return
	}
	p := sale.room.places[user]
	if p == nil {
		writeError(w, http.StatusNotFound, "ticket_not_found")
		return
	}
	// The scheduler may run a step up to a millisecond early.
	if now.Sub(p.answered) < p.pollAfter-2*time.Millisecond {
		f.earlyPolls++
	}
	p.polls++
	if f.expireOnPoll > 0 && p.polls >= f.expireOnPoll && p.status == "waiting" {
		p.status = "expired"
	}
	if p.status != "expired" {
		p.seen = now
	}
	f.ticket(w, http.StatusOK, sale, p, now)
}

func (f *fakeService) leaveQueue(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sale, user := f.roomOf(w, r, time.Now())
	if sale == nil {
		return
	}
	p := sale.room.places[user]
	if p == nil {
		writeError(w, http.StatusNotFound, "ticket_not_found")
		return
	}
	switch p.status {
	case "admitted":
		f.leftAdmitted++
	case "waiting", "pre_queue":
		f.leftWaiting++
	}
	delete(sale.room.places, user)
	p.status = "left"
	writeJSON(w, http.StatusOK, map[string]string{"sale_id": sale.id, "status": "left"})
}

func (f *fakeService) queueStats(w http.ResponseWriter, r *http.Request) {
	if _, admin := caller(r); !admin {
		writeError(w, http.StatusForbidden, "forbidden")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sale, _ := f.roomOf(w, r, time.Now())
	if sale == nil {
		return
	}
	room := sale.room
	var waiting, preQueue, active int64
	for _, p := range room.line {
		switch p.status {
		case "waiting":
			waiting++
		case "pre_queue":
			preQueue++
		case "admitted":
			active++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"waiting": waiting, "pre_queue": preQueue, "admitted_total": room.admittedTotal,
		"active": active, "abandoned": room.abandoned, "admit_per_minute": room.admitPerMinute, "max_active": room.maxActive,
		"paused": false, "sold_out": sale.soldOut()})
}

// challenged answers 403 challenge_required with a fresh challenge when
// the sale asks one of this request, whose button came alive at opened,
// and it carries no valid, unspent solution. The caller holds f.mu.
func (f *fakeService) challenged(w http.ResponseWriter, r *http.Request, sale *fakeSale, user string, opened time.Time) bool {
	now := time.Now()
	switch sale.challengePolicy {
	case "always":
	case "suspicious":
		if now.Sub(opened) >= 150*time.Millisecond {
			return false
		}
	default:
		return false
	}
	if header := r.Header.Get("Flashsale-Challenge"); header != "" && !f.refuseSolutions {
		if got, ok := f.issuer.Check(header, sale.id, user, now); ok && !f.spent[got.ID] {
			if takes := got.NotBefore.Add(f.paceLag); !got.NotBefore.IsZero() && now.Before(takes) {
				f.early++
				writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{"code": "rate_limited", "reason": "challenge_early",
					"message": "too soon", "retry_after_ms": takes.Sub(now).Milliseconds() + 1}})
				return true
			}
			f.spent[got.ID] = true
			f.solutions++
			return false
		}
	}
	var notBefore time.Time
	if sale.challengePace > 0 {
		notBefore = now.Add(flashsale.ChallengeWait(sale.challengeMax, sale.challengePace))
	}
	c, err := f.issuer.Issue(sale.id, user, sale.challengeMax, notBefore, now.Add(time.Minute))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal")
		return true
	}
	f.challenges++
	writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]string{"code": "challenge_required", "message": "solve it"}, "challenge": c})
	return true
}
