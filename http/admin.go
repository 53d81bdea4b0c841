package http

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/flashsale/flashsale"
)

type createSaleRequest struct {
	Name                  string              `json:"name"`
	StartTime             string              `json:"start_time"`
	EndTime               string              `json:"end_time"`
	Mode                  string              `json:"mode"`
	Admission             string              `json:"admission"`
	ReservationTTLSeconds *int64              `json:"reservation_ttl_seconds"`
	Items                 []createItemRequest `json:"items"`
	WaitingRoom           *waitingRoomRequest `json:"waiting_room"`
	Challenge             *challengeRequest   `json:"challenge"`
	// Limits is the API's object itself: what it leaves out is no limit.
	Limits *flashsale.PurchaseLimits `json:"limits"`
	// Lottery is a lottery sale's entries window.
	Lottery *struct {
		EntriesOpen  string `json:"entries_open"`
		EntriesClose string `json:"entries_close"`
	} `json:"lottery"`
}

// challengeRequest is a sale's "challenge" object as an admin sends it.
type challengeRequest struct {
	Policy    *string `json:"policy"`
	MaxNumber *int64  `json:"max_number"`
	Pace      *int64  `json:"pace"`
}

// waitingRoomRequest is a sale's "waiting_room" object as an admin sends
// it: what it leaves out takes flashsale.DefaultWaitingRoom's values.
type waitingRoomRequest struct {
	AdmitPerMinute  *int64   `json:"admit_per_minute"`
	MaxActive       *int64   `json:"max_active"`
	SessionSeconds  *int64   `json:"session_seconds"`
	PreQueueSeconds *int64   `json:"pre_queue_seconds"`
	Order           *string  `json:"order"`
	AbandonSeconds  *int64   `json:"abandon_seconds"`
	Overbook        *float64 `json:"overbook"`
}

// toConfig reads the object; the checkout validates it.
func (req *waitingRoomRequest) toConfig() (*flashsale.WaitingRoomConfig, error) {
	if req.AdmitPerMinute == nil {
		return nil, flashsale.InvalidField("waiting_room.admit_per_minute", "waiting_room.admit_per_minute is required")
	}
	c := flashsale.DefaultWaitingRoom()
	c.AdmitPerMinute = *req.AdmitPerMinute
	seconds := func(field string, v *int64, into *time.Duration) error {
		if v == nil {
			return nil
		}
		if *v < 0 || *v > math.MaxInt64/int64(time.Second) {
			return flashsale.InvalidField("waiting_room."+field, "waiting_room.%s is out of range", field)
		}
		*into = time.Duration(*v) * time.Second
		return nil
	}
	if req.MaxActive != nil {
		c.MaxActive = *req.MaxActive
	}
	if err := seconds("session_seconds", req.SessionSeconds, &c.Session); err != nil {
		return nil, err
	}
	if err := seconds("pre_queue_seconds", req.PreQueueSeconds, &c.PreQueue); err != nil {
		return nil, err
	}
	if err := seconds("abandon_seconds", req.AbandonSeconds, &c.Abandon); err != nil {
		return nil, err
	}
	if req.Order != nil {
		c.Order = flashsale.QueueOrder(*req.Order)
	}
	if req.Overbook != nil {
		c.Overbook = *req.Overbook
	}
	return &c, nil
}

type createItemRequest struct {
	ProductID     string `json:"product_id"`
	Name          string `json:"name"`
	OriginalPrice string `json:"original_price"`
	SalePrice     string `json:"sale_price"`
	Currency      string `json:"currency"`
	TotalQuantity *int64 `json:"total_quantity"`
	PerUserLimit  *int64 `json:"per_user_limit"`
}

// toSale turns the request into a sale, naming the field of the first
// value that cannot be read. The checkout validates the sale's rules.
func (req *createSaleRequest) toSale() (*flashsale.Sale, error) {
	sale := &flashsale.Sale{Name: req.Name, Mode: flashsale.Mode(req.Mode), Admission: flashsale.Admission(req.Admission)}
	var err error
	if sale.StartTime, err = parseTime("start_time", req.StartTime); err != nil {
		return nil, err
	}
	if sale.EndTime, err = parseTime("end_time", req.EndTime); err != nil {
		return nil, err
	}
	if req.ReservationTTLSeconds != nil {
		ttl := *req.ReservationTTLSeconds
		if ttl < 1 || ttl > int64(flashsale.MaxReservationTTL/time.Second) {
			return nil, flashsale.InvalidField("reservation_ttl_seconds", "reservation_ttl_seconds must be from 1 to 3600")
		}
		sale.ReservationTTL = time.Duration(ttl) * time.Second
	}
	for i, it := range req.Items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		item := flashsale.Item{ProductID: it.ProductID, Name: it.Name, Currency: it.Currency, PerUserLimit: 1}
		if item.OriginalPrice, err = parseMoney(field("original_price"), it.OriginalPrice); err != nil {
			return nil, err
		}
		if item.SalePrice, err = parseMoney(field("sale_price"), it.SalePrice); err != nil {
			return nil, err
		}
		if it.TotalQuantity == nil {
			return nil, flashsale.InvalidField(field("total_quantity"), "total_quantity is required")
		}
		item.TotalQuantity = *it.TotalQuantity
		if it.PerUserLimit != nil {
			item.PerUserLimit = *it.PerUserLimit
		}
		sale.Items = append(sale.Items, item)
	}
	if req.WaitingRoom != nil {
		if sale.WaitingRoom, err = req.WaitingRoom.toConfig(); err != nil {
			return nil, err
		}
	}
	if c := req.Challenge; c != nil {
		// The contract's defaults: policy off, the base difficulty.
		sale.Challenge = &flashsale.ChallengeConfig{Policy: flashsale.ChallengeOff, MaxNumber: flashsale.DefaultChallengeNumber}
		if c.Policy != nil {
			sale.Challenge.Policy = flashsale.ChallengePolicy(*c.Policy)
		}
		if c.MaxNumber != nil {
			sale.Challenge.MaxNumber = *c.MaxNumber
		}
		if c.Pace != nil {
			sale.Challenge.Pace = *c.Pace
		}
	}
	sale.Limits = req.Limits
	if l := req.Lottery; l != nil {
		sale.Lottery = new(flashsale.LotteryConfig)
		if sale.Lottery.EntriesOpen, err = parseTime("lottery.entries_open", l.EntriesOpen); err != nil {
			return nil, err
		}
		if sale.Lottery.EntriesClose, err = parseTime("lottery.entries_close", l.EntriesClose); err != nil {
			return nil, err
		}
	}
	return sale, nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, flashsale.InvalidField(field, "%s is required (RFC 3339, e.g. 2026-06-01T12:00:00Z)", field)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, flashsale.InvalidField(field, "%s must be an RFC 3339 time such as 2026-06-01T12:00:00Z", field)
	}
	return t.UTC(), nil
}

func parseMoney(field, s string) (flashsale.Money, error) {
	if s == "" {
		return 0, flashsale.InvalidField(field, "%s is required, as a decimal string such as \"499.00\"", field)
	}
	m, err := flashsale.ParseMoney(s)
	if err != nil {
		return 0, flashsale.InvalidField(field, "%s: %v", field, err)
	}
	return m, nil
}

func (s *server) handleCreateSale() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req createSaleRequest
		if err := decode(w, r, &req, false); err != nil {
			s.error(w, r, err)
			return
		}
		sale, err := req.toSale()
		if err != nil {
			s.error(w, r, err)
			return
		}
		if sale, err = s.Checkout.CreateSale(r.Context(), sale); err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("Location", "/flash-sales/"+sale.ID)
		remaining := make(map[string]int64, len(sale.Items))
		for _, it := range sale.Items {
			remaining[it.ID] = it.TotalQuantity
		}
		writeJSON(w, http.StatusCreated, newSaleView(sale, s.now(), remaining))
	})
}

func (s *server) handleStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saleID := r.PathValue("sale_id")
		stats, err := s.Checkout.Stats(r.Context(), saleID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v := statsView{SaleID: saleID, Items: make([]itemStatsView, len(stats))}
		for i, st := range stats {
			v.Items[i] = itemStatsView{ItemID: st.ItemID, Total: st.Stock.Total, Available: st.Stock.Available,
				Reserved: st.Stock.Reserved, Sold: st.Stock.Sold, Attempts: st.Attempts, Rejections: st.Rejections}
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, v)
	})
}

func (s *server) handleReconcile() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := decode(w, r, &struct{}{}, true); err != nil {
			s.error(w, r, err)
			return
		}
		report, err := s.Checkout.Reconcile(r.Context(), r.PathValue("sale_id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, report)
	})
}

// fairnessView is what operators see of a sale's challenges, as the
// instance that answers counted them.
type fairnessView struct {
	SaleID        string             `json:"sale_id"`
	Challenged    int64              `json:"challenged"`
	Solved        int64              `json:"solved"`
	Failed        int64              `json:"failed"`
	Early         int64              `json:"early"`
	SharedDevices []sharedDeviceView `json:"shared_devices"`
}

type sharedDeviceView struct {
	Device   string `json:"device"`
	Accounts int    `json:"accounts"`
}

func (s *server) handleFairness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saleID := r.PathValue("sale_id")
		report, err := s.Checkout.Fairness(r.Context(), saleID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v := fairnessView{SaleID: saleID, Challenged: report.Challenged, Solved: report.Solved, Failed: report.Failed,
			Early: report.Early, SharedDevices: []sharedDeviceView{}}
		for _, d := range report.SharedDevices {
			v.SharedDevices = append(v.SharedDevices, sharedDeviceView{d.Device, d.Accounts})
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, v)
	})
}
