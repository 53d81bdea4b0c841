package waitingroomtest

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// One user joins 1,000 times at once through both instances: one ticket,
// created once.
func testConcurrentJoinsOfOneUser(h *harness) {
	const joins = 1000
	h.open(config())
	tickets := make([]flashsale.Ticket, joins)
	created := make([]bool, joins)
	errs := make([]error, joins)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range joins {
		room := h.rooms[i%2]
		wg.Go(func() {
			<-begin
			tickets[i], created[i], errs[i] = room.Join(h.t.Context(), h.sale.SaleID, "alice", seconds(1))
		})
	}
	close(begin)
	wg.Wait()
	made := 0
	for i := range joins {
		if errs[i] != nil {
			h.t.Fatalf("join %d: %v", i, errs[i])
		}
		if tickets[i] != tickets[0] {
			h.t.Fatalf("joins got tickets %+v and %+v, want one", tickets[0], tickets[i])
		}
		if created[i] {
			made++
		}
	}
	if made != 1 {
		h.t.Fatalf("%d joins were answered created, want 1", made)
	}
	if s := h.stats(seconds(1)); s.Waiting != 1 {
		h.t.Fatalf("Stats = %+v, want one waiting", s)
	}
}

// simClock is the scenario's time, advanced by hand a second at a time;
// changed is closed at each advance, so that shoppers wait for the next
// second without sleeping.
type simClock struct {
	mu      sync.Mutex
	now     time.Time
	changed chan struct{}
}

func (c *simClock) read() (time.Time, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now, c.changed
}

func (c *simClock) advance(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	close(c.changed)
	c.changed = make(chan struct{})
}

// Shoppers on both instances join, poll, reserve or leave while ticks
// alternate between the instances: after every tick, max_active and
// overbook × available hold.
func testConcurrentCapsNeverExceeded(h *harness) {
	const (
		workers, usersPerWorker = 4, 50
		stock                   = 60
		maxActive               = 15
		overbook                = 1.5
		ticks                   = 60
	)
	c := config()
	c.AdmitPerMinute, c.MaxActive, c.Overbook, c.Session = 3000, maxActive, overbook, 20*time.Second
	h.open(c)
	ctx := h.t.Context()
	sim := &simClock{now: start, changed: make(chan struct{})}
	var sold atomic.Int64
	done := make(chan struct{})

	// The shoppers join before the first tick, then poll once a second.
	var wg, joined sync.WaitGroup
	joined.Add(workers)
	for w := range workers {
		room := h.rooms[w%2]
		wg.Go(func() {
			shoppers := users(fmt.Sprintf("worker%d", w), usersPerWorker)
			now, changed := sim.read()
			for _, user := range shoppers {
				if _, _, err := room.Join(ctx, h.sale.SaleID, user, now); err != nil {
					h.t.Errorf("Join(%s): %v", user, err)
				}
			}
			joined.Done()
			finished := map[string]bool{}
			for {
				select {
				case <-done:
					return
				case <-changed:
				}
				now, changed = sim.read()
				for i, user := range shoppers {
					if finished[user] {
						continue
					}
					ticket, err := room.Ticket(ctx, h.sale.SaleID, user, now)
					if err != nil {
						h.t.Errorf("Ticket(%s): %v", user, err)
						return
					}
					switch ticket.Status {
					case flashsale.TicketAdmitted:
						// Every other admitted shopper buys while
						// units last; the rest leave empty-handed.
						if i%2 == 0 && sold.Add(1) <= stock {
							err = room.Reserved(ctx, h.sale.SaleID, user, now)
						} else {
							err = room.Leave(ctx, h.sale.SaleID, user, now)
						}
						finished[user] = true
					case flashsale.TicketExpired, flashsale.TicketSoldOut:
						finished[user] = true
					}
					if err != nil {
						h.t.Errorf("%s: %v", user, err)
						return
					}
				}
			}
		})
	}

	joined.Wait()
	var admittedTotal int
	for n := 1; n <= ticks; n++ {
		now := seconds(float64(n))
		sim.advance(now)
		available := max(stock-sold.Load(), 0)
		admitted, err := h.rooms[n%2].Admit(ctx, h.sale.SaleID, now, available, false)
		if err != nil {
			h.t.Fatalf("Admit: %v", err)
		}
		admittedTotal += len(admitted)
		// Between the tick and this reading shoppers only reserve and
		// leave, which can lower both figures, never raise them.
		s, err := h.rooms[(n+1)%2].Stats(ctx, h.sale.SaleID, now)
		if err != nil {
			h.t.Fatalf("Stats: %v", err)
		}
		if s.Active > maxActive {
			h.t.Fatalf("%d active after the tick at %s, over max_active %d", s.Active, clock(now), maxActive)
		}
		if limit := int64(math.Floor(overbook * float64(available))); s.Unreserved > limit {
			h.t.Fatalf("%d admitted yet to reserve after the tick at %s, over %d (overbook × %d available)", s.Unreserved, clock(now), limit, available)
		}
	}
	close(done)
	wg.Wait()
	if admittedTotal <= maxActive {
		h.t.Fatalf("only %d admitted in %d ticks: the slots never turned over", admittedTotal, ticks)
	}
}

// Two instances that both believe they run the ticks (an election in
// flux) tick at the same instants at once: together they admit no more
// than the rate, since a tick admits only for the time since the last.
func testConcurrentTicks(h *harness) {
	const seconds = 10
	h.open(config())
	for _, user := range users("shopper", 200) {
		h.join(user, start, true)
	}
	var total atomic.Int64
	for n := 1; n <= seconds; n++ {
		now := start.Add(time.Duration(n) * time.Second)
		var wg sync.WaitGroup
		for _, room := range h.rooms {
			wg.Go(func() {
				admitted, err := room.Admit(h.t.Context(), h.sale.SaleID, now, plenty, false)
				if err != nil {
					h.t.Errorf("Admit: %v", err)
				}
				total.Add(int64(len(admitted)))
			})
		}
		wg.Wait()
		if got := total.Load(); got != int64(10*n) {
			h.t.Fatalf("two instances ticking at once admitted %d in %d s, want %d", got, n, 10*n)
		}
	}
}

// The start is met by many calls at once on both instances, each of which
// may make the draw: the pre-queue is placed once, in the draw's order,
// and everyone who joins at the start stands behind it.
func testConcurrentCallsMeetTheStart(h *harness) {
	const early, late = 100, 100
	h.open(config())
	earlyUsers, lateUsers := users("early", early), users("late", late)
	ticketOf := map[string]string{}
	for _, user := range earlyUsers {
		ticketOf[h.join(user, start.Add(-time.Second), true).ID] = user
	}
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i := range early + late {
		room := h.rooms[i%2]
		wg.Go(func() {
			<-begin
			var err error
			if i < early {
				_, err = room.Ticket(h.t.Context(), h.sale.SaleID, earlyUsers[i], start)
			} else {
				_, _, err = room.Join(h.t.Context(), h.sale.SaleID, lateUsers[i-early], start)
			}
			if err != nil {
				h.t.Errorf("call %d at the start: %v", i, err)
			}
		})
	}
	close(begin)
	wg.Wait()

	entries, drawn, err := h.room().PreQueue(h.t.Context(), h.sale.SaleID, start)
	if err != nil || !drawn || len(entries) != early {
		h.t.Fatalf("PreQueue = %d entries, %t, %v", len(entries), drawn, err)
	}
	for i, id := range draw.Order(seed, entries) {
		h.wantTicket(ticketOf[id], start, flashsale.TicketWaiting, int64(i+1))
	}
	positions := map[int64]bool{}
	for _, user := range lateUsers {
		t := h.ticket(user, start)
		if t.Position <= early || t.Position > early+late || positions[t.Position] {
			h.t.Fatalf("%s joined at the start stands at %d, want a place of its own behind the pre-queue's %d", user, t.Position, early)
		}
		positions[t.Position] = true
	}
}

// When more shoppers are gone at once than a tick expires, the tick
// expires the bound's worth and admits nobody, lest it let in one who is
// gone; the next tick finishes and admits again.
func testExpiriesPerTick(h *harness) {
	const gone = flashsale.ExpiriesPerTick + 50
	h.open(config())
	var wg sync.WaitGroup
	const joiners = 16
	for j := range joiners {
		room := h.rooms[j%2]
		wg.Go(func() {
			for i := j; i < gone; i += joiners {
				if _, _, err := room.Join(h.t.Context(), h.sale.SaleID, fmt.Sprintf("gone-%05d", i), start); err != nil {
					h.t.Errorf("Join: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	h.join("poller", start, true)
	h.wantTicket("poller", seconds(30), flashsale.TicketWaiting, gone+1)
	h.wantTicket("poller", seconds(60), flashsale.TicketWaiting, gone+1)

	if got := h.admit(seconds(60), plenty); len(got) != 0 {
		h.t.Fatalf("a tick that left places to expire admitted %q", got)
	}
	if s := h.stats(seconds(60)); s.Abandoned != flashsale.ExpiriesPerTick || s.Waiting != 51 {
		h.t.Fatalf("Stats after the first tick = %+v, want %d abandoned and 51 waiting", s, flashsale.ExpiriesPerTick)
	}
	if got := h.admit(seconds(61), plenty); len(got) != 1 || got[0] != "poller" {
		h.t.Fatalf("the next tick admitted %q, want the poller", got)
	}
	if s := h.stats(seconds(61)); s.Abandoned != gone || s.Waiting != 0 {
		h.t.Fatalf("Stats after the second tick = %+v, want %d abandoned and none waiting", s, gone)
	}
}
