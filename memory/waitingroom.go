package memory

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// WaitingRoom is the in-process flashsale.WaitingRoom: each sale's line
// behind a mutex of its own, so that lines never wait for each other.
type WaitingRoom struct {
	mu    sync.RWMutex
	lines map[string]*line
}

var _ flashsale.WaitingRoom = (*WaitingRoom)(nil)

// NewWaitingRoom returns a waiting room with no line open.
func NewWaitingRoom() *WaitingRoom {
	return &WaitingRoom{lines: make(map[string]*line)}
}

// line is one sale's line. Its numbers are kept as the Redis scripts keep
// them (times to the microsecond, the admission credit as a float64 of
// the same operations), so both implementations admit the same shoppers.
type line struct {
	mu   sync.Mutex
	spec flashsale.WaitingLine

	drawn, soldOut, paused bool
	// lastTick and carry are admission's clock: the last tick's instant,
	// and the fraction of an admission it left for the next.
	lastTick time.Time
	carry    float64

	admittedTotal, abandoned int64

	places map[string]*place // by user id
	// preQueue maps the ticket ids of those who joined before the start to
	// their users, until the draw; entries then keeps the ids, sorted.
	preQueue map[string]string
	entries  []string

	// Those waiting stand in line by place number: the pre-queue in draw
	// order, then later joiners by arrival. queue[n] is place n's shopper,
	// nil once admitted or gone; head is the first number that may still
	// be occupied.
	queue   []*place
	ranks   ranks
	waiting int64
	head    int

	admitted   map[string]*place // admitted and not yet expired, by user id
	unreserved int64             // of them, those who have not reserved
}

// place is a user's ticket and what the line knows of the user.
type place struct {
	ticketID, userID string
	status           flashsale.TicketStatus // pre_queue, waiting, admitted or expired
	number           int                    // in queue, while waiting
	// seen is when the user was last seen, or the start if later: the
	// abandonment clock runs only from the start.
	seen                  time.Time
	admittedAt, expiresAt time.Time
	reserved              bool
}

// at is an instant as the line keeps it: to the microsecond, like Redis.
func at(now time.Time) time.Time { return time.UnixMicro(now.UnixMicro()).UTC() }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Open installs the line, or changes its settings and window.
func (r *WaitingRoom) Open(_ context.Context, spec flashsale.WaitingLine) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	spec.StartTime, spec.EndTime = at(spec.StartTime), at(spec.EndTime)
	spec.Config.Session = spec.Config.Session.Truncate(time.Microsecond)
	spec.Config.PreQueue = spec.Config.PreQueue.Truncate(time.Microsecond)
	spec.Config.Abandon = spec.Config.Abandon.Truncate(time.Microsecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.lines[spec.SaleID]
	if !ok {
		r.lines[spec.SaleID] = &line{
			spec:     spec,
			places:   make(map[string]*place),
			preQueue: make(map[string]string),
			admitted: make(map[string]*place),
		}
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spec.Seed != spec.Seed {
		return fmt.Errorf("open waiting room of sale %s: its seed was committed already and cannot change", spec.SaleID)
	}
	l.spec = spec
	return nil
}

// lock returns the sale's line, locked, with the draw made if the start
// has come.
func (r *WaitingRoom) lock(saleID string, now time.Time) (*line, error) {
	r.mu.RLock()
	l, ok := r.lines[saleID]
	r.mu.RUnlock()
	if !ok {
		return nil, flashsale.NoWaitingRoom()
	}
	l.mu.Lock()
	if !l.drawn && !now.Before(l.spec.StartTime) {
		l.draw()
	}
	return l, nil
}

// Join gives the user a place, or returns the one the user has.
func (r *WaitingRoom) Join(_ context.Context, saleID, userID string, now time.Time) (flashsale.Ticket, bool, error) {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return flashsale.Ticket{}, false, err
	}
	defer l.mu.Unlock()
	if l.soldOut {
		return flashsale.Ticket{}, false, flashsale.SaleSoldOut()
	}
	if p := l.places[userID]; p != nil {
		l.settle(p, now)
		if p.status != flashsale.TicketExpired {
			l.see(p, now)
			return l.ticket(p), false, nil
		}
	}
	switch {
	case now.Before(l.spec.OpensAt()):
		return flashsale.Ticket{}, false, flashsale.QueueNotOpen(l.spec.OpensAt())
	case !now.Before(l.spec.EndTime):
		return flashsale.Ticket{}, false, flashsale.SaleHasEnded()
	}
	id, err := uuid.NewV7()
	if err != nil {
		return flashsale.Ticket{}, false, err
	}
	p := &place{ticketID: id.String(), userID: userID, seen: later(now, l.spec.StartTime)}
	l.places[userID] = p // an expired place is replaced: the user goes to the back
	if l.drawn {
		l.stand(p)
	} else {
		p.status = flashsale.TicketPreQueue
		l.preQueue[p.ticketID] = userID
	}
	return l.ticket(p), true, nil
}

// Ticket returns the user's ticket and counts the user as still here.
func (r *WaitingRoom) Ticket(_ context.Context, saleID, userID string, now time.Time) (flashsale.Ticket, error) {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return flashsale.Ticket{}, err
	}
	defer l.mu.Unlock()
	p := l.places[userID]
	if p == nil {
		return flashsale.Ticket{}, flashsale.TicketNotFound()
	}
	l.settle(p, now)
	l.see(p, now)
	return l.ticket(p), nil
}

// Leave gives the user's place up.
func (r *WaitingRoom) Leave(_ context.Context, saleID, userID string, now time.Time) error {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return err
	}
	defer l.mu.Unlock()
	p := l.places[userID]
	if p == nil {
		return flashsale.TicketNotFound()
	}
	if p.status == flashsale.TicketPreQueue {
		// Only before the draw: once the start has come, the draw's
		// entries are what they were at the start.
		delete(l.preQueue, p.ticketID)
	}
	l.vacate(p)
	delete(l.places, userID)
	return nil
}

// Reserved frees the admitted user's share of overbook.
func (r *WaitingRoom) Reserved(_ context.Context, saleID, userID string, now time.Time) error {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return err
	}
	defer l.mu.Unlock()
	p := l.places[userID]
	if p == nil {
		return nil
	}
	l.settle(p, now)
	if p.status == flashsale.TicketAdmitted && !p.reserved {
		p.reserved = true
		l.unreserved--
	}
	return nil
}

// Admit runs one tick of the line.
func (r *WaitingRoom) Admit(_ context.Context, saleID string, now time.Time, available int64, salePaused bool) ([]flashsale.Ticket, error) {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return nil, err
	}
	defer l.mu.Unlock()
	l.soldOut = available <= 0

	// Ended admissions first, so that a shopper whose session ended is not
	// also counted as abandoned; a tick that may have left some places to
	// expire for the next admits nobody (see flashsale.ExpiriesPerTick).
	var ended, gone []*place
	for _, p := range l.admitted {
		if !now.Before(p.expiresAt) {
			ended = append(ended, p)
		}
	}
	swept := l.expireOldest(ended, func(p *place) time.Time { return p.expiresAt }, false)
	if !now.Before(l.spec.StartTime) {
		for _, p := range l.admitted {
			if l.abandonable(p) && now.Sub(p.seen) >= l.spec.Config.Abandon {
				gone = append(gone, p)
			}
		}
		for _, p := range l.queue[l.head:] {
			if p != nil && now.Sub(p.seen) >= l.spec.Config.Abandon {
				gone = append(gone, p)
			}
		}
		swept = l.expireOldest(gone, func(p *place) time.Time { return p.seen }, true) && swept
	}

	if now.Before(l.spec.StartTime) || !now.Before(l.spec.EndTime) {
		return nil, nil
	}
	elapsed := now.Sub(later(l.lastTick, l.spec.StartTime)).Microseconds()
	if elapsed < 0 {
		// Another instance ticked at a later instant: its clock is ahead.
		elapsed = 0
	}
	l.lastTick = later(l.lastTick, now)
	if l.paused || salePaused || l.soldOut {
		l.carry = 0
		return nil, nil
	}
	credit := l.carry + float64(elapsed)*float64(l.spec.Config.AdmitPerMinute)/60e6
	budget := math.Floor(credit)
	l.carry = credit - budget

	room := int64(budget)
	if !swept {
		room = 0
	}
	if l.spec.Config.MaxActive > 0 {
		room = min(room, l.spec.Config.MaxActive-int64(len(l.admitted)))
	}
	room = min(room, int64(math.Floor(l.spec.Config.Overbook*float64(available)))-l.unreserved, l.waiting)
	var admitted []flashsale.Ticket
	for range room {
		p := l.next()
		l.vacate(p)
		p.status = flashsale.TicketAdmitted
		p.admittedAt, p.expiresAt = now, now.Add(l.spec.Config.Session)
		l.admitted[p.userID] = p
		l.unreserved++
		l.admittedTotal++
		admitted = append(admitted, l.ticket(p))
	}
	return admitted, nil
}

// next returns whom admission lets in next: the first waiting, or one
// drawn among all waiting.
func (l *line) next() *place {
	if l.spec.Config.Order == flashsale.QueueRandom {
		return l.queue[l.ranks.kth(1+rand.Int64N(l.waiting))]
	}
	for l.queue[l.head] == nil {
		l.head++
	}
	return l.queue[l.head]
}

// Stats returns the line's figures.
func (r *WaitingRoom) Stats(_ context.Context, saleID string, now time.Time) (flashsale.WaitingRoomStats, error) {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	defer l.mu.Unlock()
	return l.stats(now), nil
}

// Adjust changes the line's rate, cap or pause.
func (r *WaitingRoom) Adjust(_ context.Context, saleID string, now time.Time, change flashsale.WaitingRoomChange) (flashsale.WaitingRoomStats, error) {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	defer l.mu.Unlock()
	config, err := change.Apply(l.spec.Config)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	l.spec.Config = config
	if change.Paused != nil {
		l.paused = *change.Paused
	}
	return l.stats(now), nil
}

// PreQueue returns the draw's entries once it is made.
func (r *WaitingRoom) PreQueue(_ context.Context, saleID string, now time.Time) ([]string, bool, error) {
	now = at(now)
	l, err := r.lock(saleID, now)
	if err != nil {
		return nil, false, err
	}
	defer l.mu.Unlock()
	if !l.drawn {
		return nil, false, nil
	}
	return slices.Clone(l.entries), true, nil
}

func (l *line) stats(now time.Time) flashsale.WaitingRoomStats {
	s := flashsale.WaitingRoomStats{
		Waiting:        l.waiting,
		PreQueue:       int64(len(l.preQueue)),
		AdmittedTotal:  l.admittedTotal,
		Unreserved:     l.unreserved,
		Abandoned:      l.abandoned,
		AdmitPerMinute: l.spec.Config.AdmitPerMinute,
		MaxActive:      l.spec.Config.MaxActive,
		Paused:         l.paused,
		SoldOut:        l.soldOut,
	}
	for _, p := range l.admitted {
		if now.Before(p.expiresAt) {
			s.Active++
		}
	}
	return s
}

// draw puts the pre-queue in line, in flashsale-draw-v1's order, ahead of
// everyone who comes later.
func (l *line) draw() {
	l.entries = make([]string, 0, len(l.preQueue))
	for id := range l.preQueue {
		l.entries = append(l.entries, id)
	}
	for _, id := range draw.Order(l.spec.Seed, l.entries) {
		p := l.places[l.preQueue[id]]
		p.seen = l.spec.StartTime
		l.stand(p)
	}
	slices.Sort(l.entries)
	l.preQueue = make(map[string]string)
	l.drawn = true
}

// stand puts p at the back of the line.
func (l *line) stand(p *place) {
	p.status = flashsale.TicketWaiting
	p.number = l.ranks.push()
	if len(l.queue) == 0 {
		l.queue = append(l.queue, nil) // numbers start at 1
		l.head = 1
	}
	l.queue = append(l.queue, p)
	l.waiting++
}

// vacate takes p out of the line or its admission slot.
func (l *line) vacate(p *place) {
	switch p.status {
	case flashsale.TicketWaiting:
		l.queue[p.number] = nil
		l.ranks.free(p.number)
		l.waiting--
	case flashsale.TicketAdmitted:
		delete(l.admitted, p.userID)
		if !p.reserved {
			l.unreserved--
		}
	}
}

// settle expires p if its admission has ended or, failing that, if it was
// abandoned: a shopper whose admission ended is not counted as abandoned.
func (l *line) settle(p *place, now time.Time) {
	switch {
	case p.status == flashsale.TicketAdmitted && !now.Before(p.expiresAt):
		l.expire(p, false)
	case l.abandonable(p) && !now.Before(l.spec.StartTime) && now.Sub(p.seen) >= l.spec.Config.Abandon:
		l.expire(p, true)
	}
}

// expireOldest expires the places, or the ExpiriesPerTick oldest of them
// by when, ties by user id (as the Redis script's sorted sets order
// them), and reports whether that left none for the next tick.
func (l *line) expireOldest(places []*place, when func(*place) time.Time, abandoned bool) bool {
	if len(places) > flashsale.ExpiriesPerTick {
		slices.SortFunc(places, func(a, b *place) int {
			if c := when(a).Compare(when(b)); c != 0 {
				return c
			}
			return strings.Compare(a.userID, b.userID)
		})
		places = places[:flashsale.ExpiriesPerTick]
	}
	for _, p := range places {
		l.expire(p, abandoned)
	}
	return len(places) < flashsale.ExpiriesPerTick
}

func (l *line) expire(p *place, abandoned bool) {
	l.vacate(p)
	p.status = flashsale.TicketExpired
	if abandoned {
		l.abandoned++
	}
}

// abandonable: a shopper who is waiting, or admitted and yet to reserve,
// must keep being seen.
func (l *line) abandonable(p *place) bool {
	return p.status == flashsale.TicketWaiting || p.status == flashsale.TicketAdmitted && !p.reserved
}

// see records that the user of p is still here.
func (l *line) see(p *place, now time.Time) {
	if l.abandonable(p) {
		p.seen = later(p.seen, now)
	}
}

func (l *line) ticket(p *place) flashsale.Ticket {
	t := flashsale.Ticket{ID: p.ticketID, SaleID: l.spec.SaleID, UserID: p.userID, Status: p.status}
	switch {
	case l.soldOut:
		t.Status = flashsale.TicketSoldOut
	case p.status == flashsale.TicketWaiting:
		t.Position = l.ranks.count(p.number)
		t.Ahead = t.Position - 1
	case p.status == flashsale.TicketAdmitted:
		t.AdmittedAt, t.AdmissionExpiresAt = p.admittedAt, p.expiresAt
	}
	return t
}
