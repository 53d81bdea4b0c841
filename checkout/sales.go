package checkout

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// CreateSale validates a sale, gives it and its items ids, stores it and
// loads its items into the inventory. Validation errors name the field as
// the API spells it.
func (s *Service) CreateSale(ctx context.Context, sale *flashsale.Sale) (*flashsale.Sale, error) {
	if sale.Mode == "" {
		sale.Mode = flashsale.ModeFCFS
	}
	if sale.Admission == "" {
		sale.Admission = flashsale.AdmissionDirect
	}
	if sale.ReservationTTL == 0 {
		sale.ReservationTTL = flashsale.DefaultReservationTTL
	}
	if err := ValidateSale(sale); err != nil {
		return nil, err
	}
	if sale.Admission == flashsale.AdmissionQueued && s.queue == nil {
		return nil, flashsale.InvalidField("admission", "queued admission needs an order queue, which this deployment has not configured (FLASHSALE_NATS_URL)")
	}
	if sale.Challenge != nil && s.challenges == nil {
		return nil, flashsale.InvalidField("challenge", "this deployment issues no challenges")
	}
	if sale.Lottery != nil {
		if s.entries == nil {
			return nil, flashsale.InvalidField("mode", "this deployment keeps no lottery entries")
		}
		seed, err := draw.NewSeed()
		if err != nil {
			return nil, err
		}
		sale.LotterySeed = seed
		sale.Lottery.EntriesOpen, sale.Lottery.EntriesClose = sale.Lottery.EntriesOpen.UTC(), sale.Lottery.EntriesClose.UTC()
	}
	if sale.WaitingRoom != nil {
		if s.room == nil {
			return nil, flashsale.InvalidField("waiting_room", "this deployment has no waiting room")
		}
		if sale.Limits != nil && sale.Limits.PerCard > 0 && s.once == nil {
			// The line gives a card one place, claimed in the ledger.
			return nil, flashsale.InvalidField("limits.per_card", "this deployment cannot count cards in a waiting room's line")
		}
		seed, err := draw.NewSeed()
		if err != nil {
			return nil, err
		}
		sale.QueueSeed = seed
	}
	sale.ID = newID()
	sale.CreatedAt = s.now().UTC()
	sale.StartTime, sale.EndTime = sale.StartTime.UTC(), sale.EndTime.UTC()
	for i := range sale.Items {
		sale.Items[i].ID = newID()
		sale.Items[i].SaleID = sale.ID
	}
	if err := s.store.CreateSale(ctx, sale); err != nil {
		return nil, err
	}
	s.remember(sale)
	for i := range sale.Items {
		if err := s.loadItem(ctx, &sale.Items[i]); err != nil {
			return nil, fmt.Errorf("load item %s: %w", sale.Items[i].ID, err)
		}
	}
	if sale.WaitingRoom != nil {
		if err := s.room.Open(ctx, s.line(sale)); err != nil {
			return nil, fmt.Errorf("open the waiting room: %w", err)
		}
		s.lined.expire() // the next tick reads it
	}
	if sale.Lottery != nil {
		s.lotteries.expire()
	}
	return sale, nil
}

// validateLottery checks a lottery's window against its sale's: the draw
// at entries_close starts the winners' reservations, so it falls within
// the sale, and a lottery has no line in front of it nor queue behind it.
func validateLottery(sale *flashsale.Sale) error {
	l := sale.Lottery
	switch {
	case l.EntriesOpen.IsZero():
		return flashsale.InvalidField("lottery.entries_open", "lottery.entries_open is required")
	case l.EntriesClose.IsZero():
		return flashsale.InvalidField("lottery.entries_close", "lottery.entries_close is required")
	case !l.EntriesClose.After(l.EntriesOpen):
		return flashsale.InvalidField("lottery.entries_close", "lottery.entries_close must be after lottery.entries_open")
	case l.EntriesClose.Before(sale.StartTime) || !l.EntriesClose.Before(sale.EndTime):
		return flashsale.InvalidField("lottery.entries_close", "lottery.entries_close must fall within the sale, from start_time to before end_time: the winners' reservations start at the draw")
	case sale.WaitingRoom != nil:
		return flashsale.InvalidField("waiting_room", "a lottery has no waiting room: its entries are the line")
	case sale.Admission != flashsale.AdmissionDirect:
		return flashsale.InvalidField("admission", "a lottery's reservations are made by its draw, in direct admission")
	}
	return nil
}

// ValidateSale checks a sale as an admin submitted it.
func ValidateSale(sale *flashsale.Sale) error {
	switch {
	case strings.TrimSpace(sale.Name) == "":
		return flashsale.InvalidField("name", "name is required")
	case len(sale.Name) > 255:
		return flashsale.InvalidField("name", "name is longer than 255 bytes")
	case sale.StartTime.IsZero():
		return flashsale.InvalidField("start_time", "start_time is required")
	case sale.EndTime.IsZero():
		return flashsale.InvalidField("end_time", "end_time is required")
	case !sale.EndTime.After(sale.StartTime):
		return flashsale.InvalidField("end_time", "end_time must be after start_time")
	case sale.Mode != flashsale.ModeFCFS && sale.Mode != flashsale.ModeLottery:
		return flashsale.InvalidField("mode", "mode must be fcfs or lottery")
	case (sale.Mode == flashsale.ModeLottery) != (sale.Lottery != nil):
		return flashsale.InvalidField("lottery", "a sale has the lottery object exactly when its mode is lottery")
	case sale.Lottery != nil && validateLottery(sale) != nil:
		return validateLottery(sale)
	case sale.Admission != flashsale.AdmissionDirect && sale.Admission != flashsale.AdmissionQueued:
		return flashsale.InvalidField("admission", "admission must be direct or queued")
	case sale.ReservationTTL < flashsale.MinReservationTTL || sale.ReservationTTL > flashsale.MaxReservationTTL ||
		sale.ReservationTTL%time.Second != 0:
		return flashsale.InvalidField("reservation_ttl_seconds", "reservation_ttl_seconds must be a whole number from 1 to 3600")
	case len(sale.Items) == 0:
		return flashsale.InvalidField("items", "a sale needs at least one item")
	case sale.WaitingRoom != nil && sale.WaitingRoom.Validate() != nil:
		return sale.WaitingRoom.Validate()
	case sale.Challenge != nil && sale.Challenge.Validate() != nil:
		return sale.Challenge.Validate()
	case sale.Limits != nil && sale.Limits.Validate() != nil:
		return sale.Limits.Validate()
	case len(sale.Items) > 1000:
		return flashsale.InvalidField("items", "a sale has at most 1000 items")
	}
	for i, it := range sale.Items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		switch {
		case strings.TrimSpace(it.ProductID) == "":
			return flashsale.InvalidField(field("product_id"), "product_id is required")
		case strings.TrimSpace(it.Name) == "":
			return flashsale.InvalidField(field("name"), "name is required")
		case it.OriginalPrice <= 0:
			return flashsale.InvalidField(field("original_price"), "original_price must be above zero")
		case it.SalePrice <= 0:
			return flashsale.InvalidField(field("sale_price"), "sale_price must be above zero")
		case it.SalePrice > it.OriginalPrice:
			return flashsale.InvalidField(field("sale_price"), "sale_price must not be above original_price")
		case !validCurrency(it.Currency):
			return flashsale.InvalidField(field("currency"), "currency must be a three-letter ISO 4217 code such as USD")
		case it.TotalQuantity < 0:
			return flashsale.InvalidField(field("total_quantity"), "total_quantity must not be negative")
		case it.TotalQuantity > 100_000_000:
			return flashsale.InvalidField(field("total_quantity"), "total_quantity is at most 100000000")
		case it.PerUserLimit < 1:
			return flashsale.InvalidField(field("per_user_limit"), "per_user_limit must be at least 1")
		case flashsale.Money(it.PerUserLimit) > flashsale.MaxMoney/it.SalePrice:
			return flashsale.InvalidField(field("per_user_limit"), "per_user_limit times sale_price is too large")
		}
	}
	return nil
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// saleFreshness is how long a sale read from the store is answered from
// memory: an operator's change (pause, end, restock) made on another
// instance reaches this one's answers within it. A rush reads each sale
// from the store once a second per instance, not once a request.
const saleFreshness = time.Second

// cachedSale is a sale as last read, and when.
type cachedSale struct {
	sale *flashsale.Sale
	read time.Time
	// refreshing is set while one request reads the sale again; the
	// others answer from the sale as last read meanwhile.
	refreshing atomic.Bool
}

// Sale returns a sale, read from the store at most once per
// saleFreshness.
func (s *Service) Sale(ctx context.Context, id string) (*flashsale.Sale, error) {
	if v, ok := s.sales.Load(id); ok {
		c := v.(*cachedSale)
		if time.Since(c.read) < saleFreshness || !c.refreshing.CompareAndSwap(false, true) {
			return c.sale, nil
		}
		sale, err := s.store.Sale(ctx, id)
		if err != nil {
			c.refreshing.Store(false)
			return c.sale, nil // the last reading stands until the store answers
		}
		s.remember(sale)
		return sale, nil
	}
	sale, err := s.store.Sale(ctx, id)
	if err != nil {
		return nil, err
	}
	s.remember(sale)
	return sale, nil
}

// remember keeps sale as read now.
func (s *Service) remember(sale *flashsale.Sale) {
	s.sales.Store(sale.ID, &cachedSale{sale: sale, read: time.Now()})
}

// Sales lists every sale, earliest start first.
func (s *Service) Sales(ctx context.Context) ([]*flashsale.Sale, error) {
	return s.store.Sales(ctx)
}

// Stock returns the live counts of an item of a sale from the inventory.
// An inventory without the item has lost its state: the answer is "retry"
// while it is rebuilt, never "no such item" nor made-up counts.
func (s *Service) Stock(ctx context.Context, itemID string) (flashsale.Stock, error) {
	stock, err := s.inventory.Stock(ctx, itemID)
	return stock, s.inventoryLost(itemID, err)
}

// ItemStats is an item's stock with the place-order outcomes this process saw.
type ItemStats struct {
	ItemID     string
	Stock      flashsale.Stock
	Attempts   int64
	Rejections map[string]int64
}

// Stats reports every item of a sale.
func (s *Service) Stats(ctx context.Context, saleID string) ([]ItemStats, error) {
	sale, err := s.Sale(ctx, saleID)
	if err != nil {
		return nil, err
	}
	out := make([]ItemStats, 0, len(sale.Items))
	for _, it := range sale.Items {
		stock, err := s.Stock(ctx, it.ID)
		if err != nil {
			return nil, err
		}
		c := s.counters(it.ID)
		out = append(out, ItemStats{ItemID: it.ID, Stock: stock, Attempts: c.attempts.Load(), Rejections: c.rejectionCounts()})
	}
	return out, nil
}
