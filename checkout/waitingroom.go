package checkout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// Admissions mints and checks the passes the waiting room gives admitted
// shoppers (auth.AdmissionSigner): bound to a user and a sale, signed, with
// an expiry.
type Admissions interface {
	Mint(saleID, userID string, expires time.Time) string
	Check(token, saleID, userID string, now time.Time) bool
}

// QueueTicket is a shopper's place in a sale's line as the shopper is
// shown it: the line's ticket, how long the wait should last at the
// current admission rate, when to ask again, whether admission is held,
// and, once admitted, the admission token that place-order asks for.
type QueueTicket struct {
	flashsale.Ticket
	EstimatedWait time.Duration
	PollAfter     time.Duration
	// Paused is set while nobody is admitted because the sale is paused,
	// or (as a waiting shopper sees it) the line is; the place is kept.
	Paused         bool
	AdmissionToken string
}

// QueueJoin is a shopper's request for a place in a sale's line.
type QueueJoin struct {
	SaleID, UserID string
	// Account is checked against the sale's limits: a place in the line
	// is for an account that may buy.
	Account flashsale.Account
	// Challenge, Device and IP are as in PlaceOrder: a sale that asks for
	// challenges asks one of a join too.
	Challenge, Device string
	IP                netip.Addr
	// PaymentToken is the card the place claims, in a sale whose limits
	// count cards (per_card): a card holds one place in the line, so that
	// a farm cannot stand in it once per account. Nothing is charged.
	PaymentToken string
}

// JoinQueue gives the user a place in the sale's line: created is false
// when the user already had one, which comes back as it stands.
func (s *Service) JoinQueue(ctx context.Context, req QueueJoin) (QueueTicket, bool, error) {
	sale, err := s.waitingRoomSale(ctx, req.SaleID)
	if err != nil {
		return QueueTicket{}, false, err
	}
	userID := req.UserID
	opens := s.line(sale).OpensAt()
	if s.now().Before(opens) {
		// The line's own answer, before any challenge: nothing to join yet.
		return QueueTicket{}, false, flashsale.QueueNotOpen(opens)
	}
	if _, err := s.buyer(sale, req.Account, nil); err != nil {
		return QueueTicket{}, false, err
	}
	if err := s.challenged(ctx, sale, requester{userID, req.Device, req.IP}, opens, req.Challenge); err != nil {
		return QueueTicket{}, false, err
	}
	card, err := s.entryCard(ctx, sale, userID, req.PaymentToken)
	if err != nil {
		return QueueTicket{}, false, err
	}
	if err := s.claimLineCard(ctx, sale, userID, card); err != nil {
		return QueueTicket{}, false, err
	}
	var ticket flashsale.Ticket
	var created bool
	err = s.inLine(ctx, sale, func(now time.Time) (err error) {
		ticket, created, err = s.room.Join(ctx, sale.ID, userID, now)
		return err
	})
	if err != nil {
		return QueueTicket{}, false, err
	}
	return s.queueTicket(ctx, sale, ticket), created, nil
}

// lineCardMargin is how long past its sale's end, as known at the join, a
// card's place in the line stays claimed: a sale extended by less keeps
// the card's other accounts out to its new end.
const lineCardMargin = 24 * time.Hour

// claimLineCard gives the card (key) of a sale that counts cards one
// place in the sale's line: the first account to join with it holds it,
// across the fleet, until the sale's end; another account is refused for
// the card, as a lottery entry is. The holder may join again, with this
// card or another. Empty card: the sale does not count cards.
//
// A place, not a count of units: the place's account buys at most the
// items' per_user_limit, and the card's payments stay bounded by per_card
// at payment, as in any sale.
func (s *Service) claimLineCard(ctx context.Context, sale *flashsale.Sale, userID, card string) error {
	if card == "" {
		return nil
	}
	if s.once == nil {
		return errors.New("checkout: a line that counts cards needs a OnceLedger")
	}
	keep := sale.EndTime.Sub(s.now()) + lineCardMargin
	holder, err := s.once.Claim(ctx, "line-card:"+sale.ID+":"+card, userID, keep)
	if err != nil {
		return err
	}
	if holder != userID {
		return flashsale.CardClaimed(sale.Limits.PerCard)
	}
	return nil
}

// QueueTicket returns the user's ticket as it stands; asking counts as the
// user being still here.
func (s *Service) QueueTicket(ctx context.Context, saleID, userID string) (QueueTicket, error) {
	sale, err := s.waitingRoomSale(ctx, saleID)
	if err != nil {
		return QueueTicket{}, err
	}
	var ticket flashsale.Ticket
	err = s.inLine(ctx, sale, func(now time.Time) (err error) {
		ticket, err = s.room.Ticket(ctx, sale.ID, userID, now)
		return err
	})
	if err != nil {
		return QueueTicket{}, err
	}
	return s.queueTicket(ctx, sale, ticket), nil
}

// LeaveQueue gives the user's place up: the next shopper gets it at the
// next admission.
func (s *Service) LeaveQueue(ctx context.Context, saleID, userID string) error {
	sale, err := s.waitingRoomSale(ctx, saleID)
	if err != nil {
		return err
	}
	return s.inLine(ctx, sale, func(now time.Time) error { return s.room.Leave(ctx, sale.ID, userID, now) })
}

// QueueStats returns the line's figures.
func (s *Service) QueueStats(ctx context.Context, saleID string) (flashsale.WaitingRoomStats, error) {
	sale, err := s.waitingRoomSale(ctx, saleID)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	var stats flashsale.WaitingRoomStats
	err = s.inLine(ctx, sale, func(now time.Time) (err error) {
		stats, err = s.room.Stats(ctx, sale.ID, now)
		return err
	})
	return stats, err
}

// AdjustQueue changes the line's admission rate, cap or pause live. The
// change lasts as long as the line: a line rebuilt after a loss starts
// again from the sale's settings.
func (s *Service) AdjustQueue(ctx context.Context, saleID string, change flashsale.WaitingRoomChange) (flashsale.WaitingRoomStats, error) {
	sale, err := s.waitingRoomSale(ctx, saleID)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	if _, err := change.Apply(*sale.WaitingRoom); err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	var stats flashsale.WaitingRoomStats
	err = s.inLine(ctx, sale, func(now time.Time) (err error) {
		stats, err = s.room.Adjust(ctx, sale.ID, now, change)
		return err
	})
	return stats, err
}

// QueueDraw is the pre-queue's draw as published: the commitment from the
// start, the seed and the entries once the start has ordered them.
type QueueDraw struct {
	Commitment string
	// Drawn is set from the start on; the fields below are empty before.
	Drawn         bool
	Seed          string
	EntriesDigest string
	// Entries are the pre-queue's ticket ids, sorted by their bytes.
	Entries []string
}

// QueueDraw returns the sale's pre-queue draw as anyone may check it.
func (s *Service) QueueDraw(ctx context.Context, saleID string) (QueueDraw, error) {
	sale, err := s.waitingRoomSale(ctx, saleID)
	if err != nil {
		return QueueDraw{}, err
	}
	d := QueueDraw{Commitment: sale.QueueSeed.Commitment()}
	var entries []string
	var drawn bool
	err = s.inLine(ctx, sale, func(now time.Time) (err error) {
		entries, drawn, err = s.room.PreQueue(ctx, sale.ID, now)
		return err
	})
	if err != nil || !drawn {
		return d, err
	}
	if entries == nil {
		entries = []string{}
	}
	d.Drawn, d.Seed, d.EntriesDigest, d.Entries = true, sale.QueueSeed.String(), draw.Digest(entries), entries
	return d, nil
}

// TickWaitingRooms is one heartbeat of every line whose sale is on: it
// admits shoppers as each line's settings and the stock allow. The
// timeout leader runs it every tick. A line that fails its tick does not
// hold the others back.
func (s *Service) TickWaitingRooms(ctx context.Context) error {
	if s.room == nil {
		return nil
	}
	sales, err := s.linedSales(ctx)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	var failed []error
	for _, sale := range sales {
		if sale.WaitingRoom == nil || now.Before(s.line(sale).OpensAt()) || !now.Before(sale.EndTime) {
			continue
		}
		if err := s.tickWaitingRoom(ctx, sale); err != nil {
			failed = append(failed, fmt.Errorf("sale %s: %w", sale.ID, err))
		}
	}
	return errors.Join(failed...)
}

// linedSales are the sales with a waiting room (see cachedSales).
func (s *Service) linedSales(ctx context.Context) ([]*flashsale.Sale, error) {
	return s.lined.get(ctx, s.store, func(sale *flashsale.Sale) bool { return sale.WaitingRoom != nil })
}

func (s *Service) tickWaitingRoom(ctx context.Context, sale *flashsale.Sale) error {
	available, err := s.available(ctx, sale)
	if err != nil {
		return err
	}
	var admitted []flashsale.Ticket
	err = s.inLine(ctx, sale, func(now time.Time) (err error) {
		admitted, err = s.room.Admit(ctx, sale.ID, now, available, sale.Paused)
		return err
	})
	if s.broker != nil {
		for _, t := range admitted {
			if err := s.broker.Publish(ctx, t.UserID); err != nil {
				// The stream reads the ticket again at its next poll.
				s.log.Warn("waiting room: wake an admitted shopper's streams", "user_id", t.UserID, "err", err)
				break
			}
		}
	}
	return err
}

// available is the units of the sale's items that are neither reserved
// nor sold: what the admitted shoppers still to reserve may take.
func (s *Service) available(ctx context.Context, sale *flashsale.Sale) (int64, error) {
	var total int64
	for _, it := range sale.Items {
		stock, err := s.inventory.Stock(ctx, it.ID)
		if err != nil {
			return 0, err
		}
		total += stock.Available
	}
	return total, nil
}

// admitted refuses a place-order of a sale with a waiting room that does
// not carry the user's own admission token, unexpired.
func (s *Service) admitted(sale *flashsale.Sale, req PlaceOrder) error {
	if sale.WaitingRoom == nil {
		return nil
	}
	if req.Admission == "" || !s.admissions.Check(req.Admission, sale.ID, req.UserID, s.now()) {
		return flashsale.AdmissionRequired()
	}
	return nil
}

// reservedInLine tells the line that an admitted shopper reserved, so that
// the shopper no longer counts against the stock still to be offered. A
// failure only delays that: the admission runs out on its own.
func (s *Service) reservedInLine(ctx context.Context, sale *flashsale.Sale, userID string) {
	if sale.WaitingRoom == nil {
		return
	}
	if err := s.room.Reserved(ctx, sale.ID, userID, s.now().UTC()); err != nil {
		s.log.Warn("waiting room: tell the line of a reservation", "sale_id", sale.ID, "err", err)
	}
}

// waitingRoomSale is the sale of the waiting room's paths.
func (s *Service) waitingRoomSale(ctx context.Context, saleID string) (*flashsale.Sale, error) {
	sale, err := s.Sale(ctx, saleID)
	if err != nil {
		return nil, err
	}
	if sale.WaitingRoom == nil || s.room == nil {
		return nil, flashsale.NoWaitingRoom()
	}
	return sale, nil
}

func (s *Service) line(sale *flashsale.Sale) flashsale.WaitingLine {
	return flashsale.WaitingLine{SaleID: sale.ID, StartTime: sale.StartTime, EndTime: sale.EndTime,
		Config: *sale.WaitingRoom, Seed: sale.QueueSeed}
}

// inLine runs step on the sale's line. A line the room does not know (an
// embedded instance restarted, a Redis that lost its data) is opened anew
// from the sale and the step taken again: the line starts over empty,
// with the same seed, and every shopper joins again.
func (s *Service) inLine(ctx context.Context, sale *flashsale.Sale, step func(now time.Time) error) error {
	err := step(s.now().UTC())
	if !flashsale.IsCode(err, flashsale.ENoWaitingRoom) {
		return err
	}
	if err := s.room.Open(ctx, s.line(sale)); err != nil {
		return err
	}
	return step(s.now().UTC())
}

// queueTicket dresses a ticket for the shopper.
func (s *Service) queueTicket(ctx context.Context, sale *flashsale.Sale, t flashsale.Ticket) QueueTicket {
	q := QueueTicket{Ticket: t, Paused: sale.Paused}
	now := s.now()
	switch t.Status {
	case flashsale.TicketPreQueue:
		q.EstimatedWait = sale.StartTime.Sub(now)
	case flashsale.TicketWaiting:
		perSecond, waiting, linePaused := s.admissionRates.measure(ctx, s, sale, now)
		q.Paused = q.Paused || linePaused
		ahead := float64(t.Position)
		if sale.WaitingRoom.Order == flashsale.QueueRandom {
			// Each round draws among all who wait: a shopper's place in
			// the draws to come is even over the line, whatever its
			// position, so half the line is the expected wait.
			ahead = float64(max(waiting, t.Position)+1) / 2
		}
		q.EstimatedWait = time.Duration(math.Ceil(ahead/perSecond)) * time.Second
	case flashsale.TicketAdmitted:
		q.AdmissionToken = s.admissions.Mint(sale.ID, t.UserID, t.AdmissionExpiresAt)
	}
	q.PollAfter = pollAfter(q, sale.WaitingRoom.Abandon)
	return q
}

// pollAfter spreads the shoppers' next polls: a quarter of the wait left,
// from one to fifteen seconds, with a fifth either way at random, so that a
// line that joined in the same second does not come back in the same
// second; always well inside the abandonment time, which an admitted
// shopper who has not reserved is held to as well.
func pollAfter(q QueueTicket, abandon time.Duration) time.Duration {
	var wait time.Duration
	switch q.Status {
	case flashsale.TicketExpired, flashsale.TicketSoldOut:
		return 0
	case flashsale.TicketAdmitted:
		wait = min(15*time.Second, abandon/3)
	default:
		wait = min(max(q.EstimatedWait/4, time.Second), 15*time.Second, abandon/3)
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(wait) * jitter).Round(time.Millisecond)
}

// admissionRates are the admissions per second each line has measured
// lately, from which a waiting shopper's wait is estimated: the set rate
// overstates it whenever the cap or the stock holds admissions back, and a
// shopper told 2 minutes who waits 20 stops trusting the page. Each
// instance reads a line's admitted total at most once a second, and
// smooths what it sees.
type admissionRates struct {
	mu    sync.Mutex
	lines map[string]*admissionRate
}

type admissionRate struct {
	at        time.Time
	total     int64
	waiting   int64
	paused    bool
	perSecond float64 // 0 until measured over a second
}

// measure returns the line's measured admission rate, or its set rate
// until one is measured (and while none could be: the line paused or sold
// out), how many were waiting and whether the line was paused when last
// read.
func (a *admissionRates) measure(ctx context.Context, s *Service, sale *flashsale.Sale, now time.Time) (perSecond float64, waiting int64, paused bool) {
	set := float64(sale.WaitingRoom.AdmitPerMinute) / 60
	a.mu.Lock()
	if a.lines == nil {
		a.lines = map[string]*admissionRate{}
	}
	r := a.lines[sale.ID]
	if r == nil {
		r = &admissionRate{}
		a.lines[sale.ID] = r
	}
	if now.Sub(r.at) < time.Second {
		measured, waiting, paused := r.perSecond, r.waiting, r.paused
		a.mu.Unlock()
		return cmp.Or(measured, set), waiting, paused
	}
	previous := *r
	r.at = now // one reader a second
	a.mu.Unlock()

	stats, err := s.room.Stats(ctx, sale.ID, now)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		return cmp.Or(r.perSecond, set), r.waiting, r.paused
	}
	r.total, r.waiting, r.paused = stats.AdmittedTotal, stats.Waiting, stats.Paused
	if elapsed := now.Sub(previous.at).Seconds(); !previous.at.IsZero() && elapsed < 60 && stats.AdmittedTotal >= previous.total {
		latest := float64(stats.AdmittedTotal-previous.total) / elapsed
		r.perSecond = cmp.Or(previous.perSecond, latest)*0.5 + latest*0.5
	}
	if stats.Paused || stats.SoldOut || r.perSecond <= 0 {
		return set, r.waiting, r.paused
	}
	// A line held back by its cap for a while measures next to nothing:
	// the estimate stays long, not endless.
	return max(r.perSecond, set/100), r.waiting, r.paused
}
