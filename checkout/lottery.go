package checkout

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// A lottery sale takes entries from entries_open to entries_close, draws
// each item at entries_close with flashsale-draw-v1 (draw package), and
// reserves for the winners through the usual order flow: a winner pays
// within the sale's reservation TTL. A won reservation that ends unpaid
// frees its units, and the next on the waitlist gets a reservation of its
// own: the waves, until the waitlist or the sale ends.
//
// The timeout leader runs the draws and the waves (TickLotteries), so a
// fleet draws once; a draw run twice (a crash after some items, a leader
// that changed) records each item's outcome once (EntryStore.RecordDraw),
// and the same seed and entries give the same order every time.

// Enter is a shopper's entry of an item in a lottery sale.
type Enter struct {
	SaleID, ItemID, UserID string
	// Account, ShippingAddress, Challenge, Device and IP are as in
	// PlaceOrder: the sale's limits and challenges apply to entries as to
	// orders, an entry claiming the units it may win.
	Account           flashsale.Account
	ShippingAddress   *flashsale.ShippingAddress
	Challenge, Device string
	IP                netip.Addr
	// PaymentToken is the card the entry claims, in a sale whose limits
	// count cards (per_card): a card is claimed at entry, as a raffle
	// pre-authorises one, so that a farm cannot enter once per account.
	PaymentToken string
}

// EnterLottery records the user's entry of an item: created is false when
// the user had one, which comes back as it stands.
func (s *Service) EnterLottery(ctx context.Context, req Enter) (*flashsale.Entry, bool, error) {
	sale, err := s.lotterySale(ctx, req.SaleID)
	if err != nil {
		return nil, false, err
	}
	item, ok := sale.Item(req.ItemID)
	if !ok {
		return nil, false, flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", req.ItemID, req.SaleID)
	}
	window := sale.Lottery
	now := s.now().UTC()
	if now.Before(window.EntriesOpen) || !now.Before(window.EntriesClose) {
		return nil, false, flashsale.EntriesClosed(*window, now)
	}
	ids, err := s.buyer(sale, req.Account, req.ShippingAddress)
	if err != nil {
		return nil, false, err
	}
	if err := s.challenged(ctx, sale, requester{req.UserID, req.Device, req.IP}, window.EntriesOpen, req.Challenge); err != nil {
		return nil, false, err
	}
	if ids.CardKey, err = s.entryCard(ctx, sale, req.UserID, req.PaymentToken); err != nil {
		return nil, false, err
	}
	entry, created, err := s.entries.Enter(ctx, &flashsale.Entry{
		ID: newID(), SaleID: sale.ID, ItemID: item.ID, UserID: req.UserID,
		EnteredAt: now, Status: flashsale.EntryEntered, Identities: ids,
	})
	if errors.Is(err, flashsale.ErrEntriesSealed) {
		// Accepted at the close, stored after the draw began.
		return nil, false, flashsale.EntriesClosed(*window, s.now().UTC())
	}
	return entry, created, err
}

// entryCard is the card key a lottery entry, or a place in a waiting
// room's line, of sale claims with token, or empty when the sale does not
// count cards. The provider is asked after the cheaper refusals and
// before anything is written.
func (s *Service) entryCard(ctx context.Context, sale *flashsale.Sale, userID, token string) (string, error) {
	if sale.Limits == nil || sale.Limits.PerCard == 0 {
		return "", nil
	}
	if token == "" {
		return "", flashsale.InvalidField("payment_token", "this sale counts one buyer per card: send the payment_token of the card you will pay with")
	}
	fingerprint, err := s.fingerprint(ctx, sale, userID, token)
	if err != nil {
		return "", err
	}
	if fingerprint == "" {
		return "", flashsale.InvalidField("payment_token", "payment_token names no card")
	}
	return flashsale.CardKey(fingerprint), nil
}

// LotteryEntries returns the user's entries in a lottery sale; a
// waitlisted entry's Rank is its place on the waitlist, from 1.
func (s *Service) LotteryEntries(ctx context.Context, saleID, userID string) ([]*flashsale.Entry, error) {
	sale, err := s.lotterySale(ctx, saleID)
	if err != nil {
		return nil, err
	}
	entries, err := s.entries.UserEntries(ctx, sale.ID, userID)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if item, ok := sale.Item(e.ItemID); ok && e.Status == flashsale.EntryWaitlisted {
			e.Rank -= winners(item)
		}
	}
	return entries, nil
}

// winners is how many entries of an item its draw makes winners.
func winners(item *flashsale.Item) int64 { return item.TotalQuantity / item.PerUserLimit }

// LotteryDraw is a lottery's published draw: the commitment from the
// opening of the entries, the seed and each item's draw once every item
// is drawn.
type LotteryDraw struct {
	Commitment string
	Drawn      bool
	Seed       string
	Items      []flashsale.ItemDraw // in the sale's item order
}

// LotteryDraw returns the sale's draw as it may be published now: nothing
// before the entries open (entries_closed), the commitment alone until
// every item is drawn.
func (s *Service) LotteryDraw(ctx context.Context, saleID string) (LotteryDraw, error) {
	sale, err := s.lotterySale(ctx, saleID)
	if err != nil {
		return LotteryDraw{}, err
	}
	now := s.now().UTC()
	if now.Before(sale.Lottery.EntriesOpen) {
		return LotteryDraw{}, flashsale.EntriesClosed(*sale.Lottery, now)
	}
	d := LotteryDraw{Commitment: sale.LotterySeed.Commitment()}
	if now.Before(sale.Lottery.EntriesClose) {
		return d, nil
	}
	draws, err := s.entries.ItemDraws(ctx, sale.ID)
	if err != nil {
		return LotteryDraw{}, err
	}
	byItem := make(map[string]flashsale.ItemDraw, len(draws))
	for _, it := range draws {
		byItem[it.ItemID] = it
	}
	for _, item := range sale.Items {
		it, ok := byItem[item.ID]
		if !ok {
			return d, nil // not every item drawn yet: the seed stays secret
		}
		d.Items = append(d.Items, it)
	}
	d.Drawn, d.Seed = true, sale.LotterySeed.String()
	return d, nil
}

// LotteryDrawEntries returns the entry ids an item's draw was computed
// over, sorted by their bytes, once the sale's draw is published.
func (s *Service) LotteryDrawEntries(ctx context.Context, saleID, itemID string) ([]string, error) {
	d, err := s.LotteryDraw(ctx, saleID)
	if err != nil {
		return nil, err
	}
	if !d.Drawn {
		return nil, flashsale.Errorf(flashsale.ENotFound, "the entries are listed once the draw is published, after entries_close")
	}
	for _, it := range d.Items {
		if it.ItemID == itemID {
			return s.entries.EntryIDs(ctx, itemID)
		}
	}
	return nil, flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", itemID, saleID)
}

// lotterySale returns a lottery sale, or not_a_lottery.
func (s *Service) lotterySale(ctx context.Context, saleID string) (*flashsale.Sale, error) {
	sale, err := s.Sale(ctx, saleID)
	if err != nil {
		return nil, err
	}
	if sale.Lottery == nil {
		return nil, flashsale.Errorf(flashsale.ENotLottery, "sale %q is not a lottery: place orders instead", saleID)
	}
	return sale, nil
}

// TickLotteries draws the lotteries whose entries have closed and makes
// the reservations their draws owe, as the stock allows: the winners',
// then, as won reservations end unpaid, the waitlist's. The timeout leader
// runs it every tick. A sale that fails its tick does not hold the others
// back.
func (s *Service) TickLotteries(ctx context.Context) error {
	if s.entries == nil {
		return nil
	}
	sales, err := s.lotterySales(ctx)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	var failed []error
	for _, sale := range sales {
		if now.Before(sale.Lottery.EntriesClose) {
			continue
		}
		if err := s.tickLottery(ctx, sale, now); err != nil {
			failed = append(failed, fmt.Errorf("sale %s: %w", sale.ID, err))
		}
	}
	return errors.Join(failed...)
}

func (s *Service) tickLottery(ctx context.Context, sale *flashsale.Sale, now time.Time) error {
	draws, err := s.entries.ItemDraws(ctx, sale.ID)
	if err != nil {
		return err
	}
	drawn := make(map[string]bool, len(draws))
	for _, d := range draws {
		drawn[d.ItemID] = true
	}
	for i := range sale.Items {
		item := &sale.Items[i]
		if !drawn[item.ID] {
			if err := s.drawItem(ctx, sale, item, now); err != nil {
				return fmt.Errorf("draw item %s: %w", item.ID, err)
			}
		}
		if err := s.reserveForEntries(ctx, sale, item, now); err != nil {
			return fmt.Errorf("reserve for the entries of item %s: %w", item.ID, err)
		}
	}
	return nil
}

// drawItem records an item's draw: its entries in draw order, the first
// total/per_user_limit of them winners.
func (s *Service) drawItem(ctx context.Context, sale *flashsale.Sale, item *flashsale.Item, now time.Time) error {
	// An entry accepted just before entries_close may still be on its way
	// to the store: the seal waits for it and shuts out any later one, so
	// the list drawn from is every entry there will ever be.
	if err := s.entries.SealEntries(ctx, item.ID, now); err != nil {
		return err
	}
	ids, err := s.entries.EntryIDs(ctx, item.ID)
	if err != nil {
		return err
	}
	d := flashsale.ItemDraw{SaleID: sale.ID, ItemID: item.ID, EntriesDigest: draw.Digest(ids),
		EntryCount: int64(len(ids)), DrawnAt: now}
	_, err = s.entries.RecordDraw(ctx, d, draw.Order(sale.LotterySeed, ids), int(winners(item)))
	return err
}

// reserveForEntries makes the reservations an item's draw owes while its
// stock allows: each of per_user_limit units, for the next entries in draw
// order. Once the sale has ended or the item is sold, the waitlist has
// lost.
func (s *Service) reserveForEntries(ctx context.Context, sale *flashsale.Sale, item *flashsale.Item, now time.Time) error {
	stock, err := s.Stock(ctx, item.ID)
	if err != nil {
		return err
	}
	if !now.Before(sale.EndTime) || stock.Sold == stock.Total {
		_, err := s.entries.LoseWaitlisted(ctx, item.ID, now)
		return err
	}
	owed := int(stock.Available / item.PerUserLimit)
	if owed == 0 {
		return nil
	}
	next, err := s.entries.NextToReserve(ctx, item.ID, owed)
	if err != nil {
		return err
	}
	// A wave's reservations and awards each go many at once, so that
	// their commits share the store's group commits: one after the other,
	// a draw's first 100 winners waited 5.3 s for theirs under load.
	orders := make([]string, len(next)) // by entry: its reservation, "" if none
	failed := inWave(len(next), func(i int) error {
		e := next[i]
		// The entry's id is the reservation's idempotency key: a tick that
		// failed after the reservation finds it again.
		o, _, err := s.placeOrder(ctx, sale, item, PlaceOrder{
			UserID: e.UserID, SaleID: sale.ID, ItemID: item.ID, Quantity: item.PerUserLimit,
			IdempotencyKey: "lottery:" + e.ID,
		})
		switch {
		case flashsale.IsCode(err, flashsale.ESoldOut):
			return nil // reserved elsewhere meanwhile; the next tick sees it
		case err != nil:
			return fmt.Errorf("entry %s: %w", e.ID, err)
		}
		orders[i] = o.ID
		return nil
	})
	// An award's lottery.won carries the order as the store holds it, and
	// a journaled reservation is acknowledged before the store has it: the
	// journal goes into the store first, once for the whole wave.
	if s.journal != nil && slices.ContainsFunc(orders, func(id string) bool { return id != "" }) {
		if err := s.journal.Persist(ctx); err != nil {
			return errors.Join(failed, fmt.Errorf("persist the wave's reservations: %w", err))
		}
	}
	awardFailed := inWave(len(next), func(i int) error {
		if orders[i] == "" {
			return nil
		}
		if err := s.entries.Award(ctx, next[i].ID, orders[i], s.now().UTC()); err != nil && !errors.Is(err, flashsale.ErrAlreadyAwarded) {
			return fmt.Errorf("award entry %s: %w", next[i].ID, err)
		}
		return nil
	})
	return errors.Join(failed, awardFailed)
}

// waveConcurrency bounds the steps of a wave in flight at once.
const waveConcurrency = 64

// inWave runs step for 0..n-1, waveConcurrency at a time, and returns
// their errors joined.
func inWave(n int, step func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, waveConcurrency)
	)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := step(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lotterySales are the lottery sales (see cachedSales).
func (s *Service) lotterySales(ctx context.Context) ([]*flashsale.Sale, error) {
	return s.lotteries.get(ctx, s.store, func(sale *flashsale.Sale) bool { return sale.Lottery != nil })
}

// cachedSales are the sales of one kind that the leader ticks, read from
// the store at most once a second: the leader ticks every expiry tick (a
// quarter second by default), and a sale created on another instance is
// then ticked within a second (one created here, at the next tick: see
// expire).
type cachedSales struct {
	mu    sync.Mutex
	read  time.Time
	sales []*flashsale.Sale
}

func (c *cachedSales) get(ctx context.Context, store flashsale.OrderStore, keep func(*flashsale.Sale) bool) ([]*flashsale.Sale, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.read) >= time.Second {
		sales, err := store.Sales(ctx)
		if err != nil {
			return nil, err
		}
		var kept []*flashsale.Sale // a new slice: a caller may still range over the last
		for _, sale := range sales {
			if keep(sale) {
				kept = append(kept, sale)
			}
		}
		c.sales, c.read = kept, now
	}
	return c.sales, nil
}

// expire makes the next get read the store.
func (c *cachedSales) expire() {
	c.mu.Lock()
	c.read = time.Time{}
	c.mu.Unlock()
}
