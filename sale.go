package flashsale

import (
	"time"

	"github.com/flashsale/flashsale/draw"
)

// SaleStatus is where a sale stands relative to its window.
type SaleStatus string

const (
	SaleUpcoming SaleStatus = "upcoming"
	SaleActive   SaleStatus = "active"
	SaleEnded    SaleStatus = "ended"
)

// Mode is how a sale allocates its stock.
type Mode string

const (
	ModeFCFS    Mode = "fcfs"
	ModeLottery Mode = "lottery"
)

// Admission is how place-order requests reach the inventory.
type Admission string

const (
	// AdmissionDirect reserves within the request and answers 201 or an error.
	AdmissionDirect Admission = "direct"
	// AdmissionQueued acknowledges 202 and lets order workers settle the request.
	AdmissionQueued Admission = "queued"
)

// Limits of a sale's settings, as API.md states them.
const (
	DefaultReservationTTL = 600 * time.Second
	MinReservationTTL     = 1 * time.Second
	MaxReservationTTL     = 3600 * time.Second
)

// Sale is a flash sale event: a window of time and the items on offer.
type Sale struct {
	ID             string
	Name           string
	StartTime      time.Time
	EndTime        time.Time
	Mode           Mode
	Admission      Admission
	ReservationTTL time.Duration
	Items          []Item // in the order the admin gave them
	CreatedAt      time.Time
	// WaitingRoom, when set, puts a line in front of the Buy button
	// (WaitingRoom); nil: none.
	WaitingRoom *WaitingRoomConfig
	// QueueSeed orders the waiting room's pre-queue at the start. Its
	// commitment is public from when the pre-queue opens, the seed itself
	// only from the start. Zero without a waiting room.
	QueueSeed draw.Seed
	// Challenge, when set, asks shoppers for a solved proof-of-work
	// challenge (Challenge); nil: none.
	Challenge *ChallengeConfig
	// Limits, when set, bounds what one card, phone or address buys across
	// accounts, and which accounts may buy (PurchaseLimits); nil: none.
	Limits *PurchaseLimits
	// Paused is set while an operator has paused the sale: no new
	// reservation, payments of held ones as usual.
	Paused bool
	// Lottery is a lottery sale's entries window; nil for a sale in
	// another mode.
	Lottery *LotteryConfig
	// LotterySeed orders a lottery's draw. Its commitment is public from
	// when the entries open, the seed itself only after the draw. Zero
	// for a sale in another mode.
	LotterySeed draw.Seed
}

// Status reports where the sale stands at now. The window is half-open:
// active from StartTime (inclusive) to EndTime (exclusive).
func (s *Sale) Status(now time.Time) SaleStatus {
	switch {
	case now.Before(s.StartTime):
		return SaleUpcoming
	case now.Before(s.EndTime):
		return SaleActive
	default:
		return SaleEnded
	}
}

// Item returns the sale's item with the given id.
func (s *Sale) Item(id string) (*Item, bool) {
	for i := range s.Items {
		if s.Items[i].ID == id {
			return &s.Items[i], true
		}
	}
	return nil, false
}

// Item is one product on offer in a sale, with its own stock and limit.
type Item struct {
	ID            string
	SaleID        string
	ProductID     string
	Name          string
	OriginalPrice Money
	SalePrice     Money
	Currency      string
	TotalQuantity int64
	PerUserLimit  int64
}

// DiscountPercent is the discount rounded down to a whole percent.
func (it *Item) DiscountPercent() int64 {
	if it.OriginalPrice <= 0 {
		return 0
	}
	return int64((it.OriginalPrice - it.SalePrice) * 100 / it.OriginalPrice)
}

// Stock is an item's units by state. At every instant
// Available + Reserved + Sold == Total and all are >= 0.
type Stock struct {
	Total     int64
	Available int64
	Reserved  int64
	Sold      int64
}

// Consistent reports whether the stock invariant holds.
func (s Stock) Consistent() bool {
	return s.Available >= 0 && s.Reserved >= 0 && s.Sold >= 0 &&
		s.Sold <= s.Total && s.Available+s.Reserved+s.Sold == s.Total
}
