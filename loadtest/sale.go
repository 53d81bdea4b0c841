package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// saleTarget is the sale under load, with times on the local clock.
type saleTarget struct {
	id      string
	items   []saleItem
	start   time.Time
	end     time.Time
	created bool
	// waitingRoom is the sale's "waiting_room" object; nil without one.
	waitingRoom *waitingRoomView
	// cardLimit is the sale's per_card limit as the service shows it; 0
	// without one.
	cardLimit int64
	// entriesOpen and entriesClose are a lottery's entry window; zero
	// for other sales.
	entriesOpen, entriesClose time.Time
}

// opensAt is when the sale's line takes its first place: pre_queue_seconds
// before the start (the start without a waiting room).
func (s saleTarget) opensAt() time.Time {
	if s.waitingRoom == nil {
		return s.start
	}
	return s.start.Add(-time.Duration(s.waitingRoom.PreQueueSeconds) * time.Second)
}

type saleItem struct {
	id    string
	total int64
	// perUserLimit is the item's per_user_limit: a lottery's draw makes
	// total/perUserLimit winners.
	perUserLimit int64
}

func (s saleTarget) totalUnits() int64 {
	var total int64
	for _, item := range s.items {
		total += item.total
	}
	return total
}

// saleView is the part of GET /flash-sales/{id} the generator reads.
type saleView struct {
	SaleID     string    `json:"sale_id"`
	StartTime  time.Time `json:"start_time"`
	EndTime    time.Time `json:"end_time"`
	ServerTime time.Time `json:"server_time"`
	Items      []struct {
		ItemID        string `json:"item_id"`
		TotalQuantity int64  `json:"total_quantity"`
		PerUserLimit  int64  `json:"per_user_limit"`
	} `json:"items"`
	WaitingRoom *waitingRoomView `json:"waiting_room"`
	Limits      *struct {
		PerCard int64 `json:"per_card"`
	} `json:"limits"`
	Lottery *struct {
		EntriesOpen  time.Time `json:"entries_open"`
		EntriesClose time.Time `json:"entries_close"`
	} `json:"lottery"`
}

// waitingRoomView is a sale's "waiting_room" object as the API shows it.
type waitingRoomView struct {
	AdmitPerMinute  int64   `json:"admit_per_minute"`
	MaxActive       int64   `json:"max_active"`
	PreQueueSeconds int64   `json:"pre_queue_seconds"`
	Order           string  `json:"order"`
	AbandonSeconds  int64   `json:"abandon_seconds"`
	Overbook        float64 `json:"overbook"`
}

// setupSale creates the sale, or reads the existing one the config names.
// Either request waits out the service's rate limits: a 429 is answered
// before the service acts, so even the creation is safe to send again.
func (r *run) setupSale(ctx context.Context) error {
	var resp response
	var received time.Time
	if r.cfg.SaleID == "" {
		body, err := json.Marshal(r.newSaleBody())
		if err != nil {
			return err
		}
		resp = r.paced(ctx, request{endpoint: endpointCreateSale, method: http.MethodPost, path: "/admin/flash-sales",
			token: r.adminToken, body: body})
		received = time.Now()
		if resp.status != http.StatusCreated {
			return fmt.Errorf("create sale: %s", describe(resp))
		}
	} else {
		resp = r.paced(ctx, request{endpoint: endpointGetSale, method: http.MethodGet,
			path: "/flash-sales/" + url.PathEscape(r.cfg.SaleID), token: r.adminToken})
		received = time.Now()
		if resp.status != http.StatusOK {
			return fmt.Errorf("read sale %s: %s", r.cfg.SaleID, describe(resp))
		}
	}
	var view saleView
	if err := json.Unmarshal(resp.body, &view); err != nil || view.SaleID == "" || len(view.Items) == 0 {
		return fmt.Errorf("sale answer without sale_id or items: %.200s", resp.body)
	}
	// The server's clock rules the sale window; translate it to ours by the
	// server_time it reported (half a round trip is well within the jitter).
	var skew time.Duration
	if !view.ServerTime.IsZero() {
		skew = view.ServerTime.Sub(received)
	}
	r.skew = skew
	r.sale = saleTarget{id: view.SaleID, start: view.StartTime.Add(-skew), end: view.EndTime.Add(-skew), created: r.cfg.SaleID == "",
		waitingRoom: view.WaitingRoom}
	if view.Limits != nil {
		r.sale.cardLimit = view.Limits.PerCard
	}
	if view.Lottery != nil {
		r.sale.entriesOpen, r.sale.entriesClose = view.Lottery.EntriesOpen.Add(-skew), view.Lottery.EntriesClose.Add(-skew)
	}
	if r.sale.created && r.cfg.CardLimit > 0 && r.sale.cardLimit != int64(r.cfg.CardLimit) {
		// A service without purchase limits ignores the object: the run
		// would measure a sale without the limit it was asked for.
		r.setupNotes = append(r.setupNotes, fmt.Sprintf("the sale was created with per_card %d but the service shows %d: it does not take the card limit", r.cfg.CardLimit, r.sale.cardLimit))
	}
	if view.EndTime.IsZero() {
		// No end_time: the sale stays open as far as the run can tell.
		r.sale.end = time.Now().Add(100 * 365 * 24 * time.Hour)
	}
	wanted := map[string]bool{}
	for _, id := range r.cfg.ItemIDs {
		wanted[id] = true
	}
	for _, item := range view.Items {
		if len(wanted) == 0 || wanted[item.ItemID] {
			r.sale.items = append(r.sale.items, saleItem{id: item.ItemID, total: item.TotalQuantity, perUserLimit: max(item.PerUserLimit, 1)})
			delete(wanted, item.ItemID)
		}
	}
	for id := range wanted {
		return fmt.Errorf("item %s is not in sale %s", id, view.SaleID)
	}
	for _, item := range r.sale.items {
		body, err := json.Marshal(map[string]any{"item_id": item.id, "quantity": 1})
		if err != nil {
			return err
		}
		r.placeBodies = append(r.placeBodies, body)
	}
	if skew > time.Second || skew < -time.Second {
		r.setupNotes = append(r.setupNotes, fmt.Sprintf("server clock is %v off the generator's; sale times corrected", skew.Round(time.Millisecond)))
	}
	if time.Now().After(r.sale.end) {
		r.setupNotes = append(r.setupNotes, "the sale has already ended: orders will be rejected")
	}
	return nil
}

func (r *run) newSaleBody() map[string]any {
	start := time.Now().Add(r.cfg.StartDelay).Truncate(time.Millisecond).UTC()
	end := start.Add(r.cfg.Duration + 10*time.Minute)
	items := make([]map[string]any, r.cfg.Items)
	for i := range items {
		items[i] = map[string]any{
			"product_id":     fmt.Sprintf("loadtest-%s-product-%d", r.runID, i+1),
			"name":           fmt.Sprintf("Load test item %d", i+1),
			"original_price": "100.00",
			"sale_price":     "50.00",
			"currency":       "USD",
			"total_quantity": r.cfg.UnitsPerItem,
			"per_user_limit": r.cfg.PerUserLimit,
		}
	}
	body := map[string]any{
		"name":                    fmt.Sprintf("Load test %s (%s)", r.runID, r.cfg.Scenario),
		"start_time":              start.Format(time.RFC3339Nano),
		"end_time":                end.Format(time.RFC3339Nano),
		"mode":                    "fcfs",
		"reservation_ttl_seconds": int(r.cfg.ReservationTTL / time.Second),
		"items":                   items,
	}
	if r.cfg.CardLimit > 0 {
		body["limits"] = map[string]any{"per_card": r.cfg.CardLimit}
	}
	if r.cfg.challenged() {
		challenge := map[string]any{"policy": r.cfg.Challenge, "max_number": r.cfg.ChallengeMaxNumber}
		if r.cfg.ChallengePace > 0 {
			challenge["pace"] = r.cfg.ChallengePace
		}
		body["challenge"] = challenge
	}
	if r.cfg.Scenario == ScenarioLottery {
		// The entries open with the sale and the draw comes at their
		// close; the sale lasts the run and ten minutes more, so that
		// the waves run until the stock is sold, not until the sale ends.
		body["mode"] = "lottery"
		body["lottery"] = map[string]any{
			"entries_open":  start.Format(time.RFC3339Nano),
			"entries_close": start.Add(r.cfg.EntryWindow).Format(time.RFC3339Nano),
		}
	}
	if r.cfg.lined() {
		w := r.cfg.WaitingRoom
		body["waiting_room"] = map[string]any{
			"admit_per_minute": w.AdmitPerMinute, "max_active": w.MaxActive,
			"pre_queue_seconds": int64(w.PreQueue / time.Second), "order": w.Order,
			"abandon_seconds": int64(w.Abandon / time.Second),
		}
	}
	return body
}
