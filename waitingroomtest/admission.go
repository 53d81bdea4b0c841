package waitingroomtest

import (
	"math"
	"slices"
	"time"

	"github.com/flashsale/flashsale"
)

// The scenarios of admission: the rate, the caps, the order, and what
// ends a place or an admission.

// With admit_per_minute 600, ticking every second, N seconds after the
// start 10·N shoppers are in, in the order they joined.
func testAdmissionRate(h *harness) {
	h.open(config())
	shoppers := users("shopper", 400)
	for i, user := range shoppers {
		h.join(user, start.Add(time.Duration(i)*time.Microsecond), true)
	}
	if got := h.admit(start, plenty); len(got) != 0 {
		h.t.Fatalf("the tick at the start admitted %d, want 0: no time has passed", len(got))
	}
	var admitted []string
	for n := 1; n <= 30; n++ {
		admitted = append(admitted, h.admit(seconds(float64(n)), plenty)...)
		if len(admitted) != 10*n {
			h.t.Fatalf("%d admitted after %d s, want %d", len(admitted), n, 10*n)
		}
	}
	if !slices.Equal(admitted, shoppers[:300]) {
		h.t.Fatal("fifo did not admit in the order of arrival")
	}
	h.wantTicket(shoppers[299], seconds(30), flashsale.TicketAdmitted, 0)
	h.wantTicket(shoppers[300], seconds(30), flashsale.TicketWaiting, 1)
	if s := h.stats(seconds(30)); s.AdmittedTotal != 300 || s.Active != 300 || s.Unreserved != 300 || s.Waiting != 100 {
		h.t.Fatalf("Stats = %+v", s)
	}
}

// Ticks that come at uneven intervals admit as many as the time passed
// allows, carrying fractions: within one admission of 10·N.
func testAdmissionRateCarriesFractions(h *harness) {
	h.open(config())
	for _, user := range users("shopper", 200) {
		h.join(user, start, true)
	}
	total := 0
	for tick := 1; tick <= 40; tick++ {
		now := start.Add(time.Duration(tick) * 350 * time.Millisecond)
		total += len(h.admit(now, plenty))
		if want := 3.5 * float64(tick); math.Abs(float64(total)-want) >= 1 {
			h.t.Fatalf("%d admitted after %s, want %.1f within one", total, clock(now), want)
		}
	}
	// A tick late by five seconds makes up for them: the rate is per
	// second of time, not per tick.
	if got := len(h.admit(seconds(19), plenty)); got != 50 {
		h.t.Fatalf("a tick five seconds late admitted %d, want 50", got)
	}
}

// Never more admitted and unexpired than max_active.
func testMaxActive(h *harness) {
	c := config()
	c.AdmitPerMinute, c.MaxActive = 6000, 5
	h.open(c)
	for _, user := range users("shopper", 20) {
		h.join(user, start, true)
	}
	if got := h.admit(seconds(1), plenty); len(got) != 5 {
		h.t.Fatalf("admitted %d under max_active 5", len(got))
	}
	if got := h.admit(seconds(2), plenty); len(got) != 0 {
		h.t.Fatalf("admitted %d more with every slot taken", len(got))
	}
	h.reserved("shopper-0000", seconds(2)) // reserving keeps the slot
	if got := h.admit(seconds(3), plenty); len(got) != 0 {
		h.t.Fatalf("admitted %d more after a reservation", len(got))
	}
	if s := h.stats(seconds(3)); s.Active != 5 || s.Unreserved != 4 {
		h.t.Fatalf("Stats = %+v, want 5 active, 4 unreserved", s)
	}
}

// Never more admitted and yet to reserve than overbook × available.
func testOverbook(h *harness) {
	c := config()
	c.AdmitPerMinute, c.Overbook = 6000, 1.5
	h.open(c)
	for _, user := range users("shopper", 20) {
		h.join(user, start, true)
	}
	if got := h.admit(seconds(1), 3); len(got) != 4 { // floor(1.5 × 3)
		h.t.Fatalf("admitted %d for 3 units at overbook 1.5, want 4", len(got))
	}
	h.reserved("shopper-0000", seconds(1))
	h.reserved("shopper-0001", seconds(1))
	// Two units reserved leave one: floor(1.5) = 1 may be yet to reserve,
	// and two are.
	if got := h.admit(seconds(2), 1); len(got) != 0 {
		h.t.Fatalf("admitted %d with the overbook reached", len(got))
	}
	h.reserved("shopper-0002", seconds(2))
	if got := h.admit(seconds(3), 1); len(got) != 0 {
		h.t.Fatalf("admitted %d with the overbook reached", len(got))
	}
	h.reserved("shopper-0003", seconds(3))
	if got := h.admit(seconds(4), 1); !slices.Equal(got, []string{"shopper-0004"}) {
		h.t.Fatalf("admitted %q, want shopper-0004 alone", got)
	}
	// Reserving twice, or when not admitted, changes nothing.
	h.reserved("shopper-0003", seconds(4))
	h.reserved("shopper-0010", seconds(4))
	if s := h.stats(seconds(4)); s.Unreserved != 1 || s.Active != 5 {
		h.t.Fatalf("Stats = %+v, want 1 unreserved of 5 active", s)
	}
}

// Random order admits the number due, drawn among everyone waiting.
func testRandomOrder(h *harness) {
	c := config()
	c.Order = flashsale.QueueRandom
	h.open(c)
	shoppers := users("shopper", 100)
	for _, user := range shoppers {
		h.join(user, start, true)
	}
	got := h.admit(seconds(1), plenty)
	if len(got) != 10 {
		h.t.Fatalf("admitted %d, want 10", len(got))
	}
	// The ten first by arrival would come out one time in 1.7e13.
	if slices.Equal(got, shoppers[:10]) {
		h.t.Fatal("random order admitted the first ten by arrival")
	}
	for _, user := range got {
		h.wantTicket(user, seconds(1), flashsale.TicketAdmitted, 0)
	}
	waiting := 0
	for _, user := range shoppers {
		if t := h.ticket(user, seconds(1)); t.Status == flashsale.TicketWaiting {
			waiting++
			if t.Position != int64(waiting) {
				h.t.Fatalf("%s waits at %d, want %d: positions count those waiting", user, t.Position, waiting)
			}
		}
	}
	if waiting != 90 {
		h.t.Fatalf("%d waiting, want 90", waiting)
	}
}

// 30 join, 10 slots; the 10 at the front stop polling: once not seen for
// abandon_seconds they lose their slots, and the other 20 are all in
// within abandon_seconds and one tick, each leaving once served.
func testAbandonment(h *harness) {
	c := config()
	c.AdmitPerMinute, c.MaxActive, c.Abandon = 6000, 10, time.Minute
	h.open(c)
	gone, polling := users("gone", 10), users("polling", 20)
	for _, user := range append(slices.Clone(gone), polling...) {
		h.join(user, start, true)
	}
	served := map[string]bool{}
	limit := int(c.Abandon/time.Second) + 1
	for n := 1; n <= limit; n++ {
		now := seconds(float64(n))
		for _, user := range polling {
			if served[user] {
				continue
			}
			if h.ticket(user, now).Status == flashsale.TicketAdmitted {
				served[user] = true
				h.leave(user, now)
			}
		}
		for _, user := range h.admit(now, plenty) {
			if slices.Contains(gone, user) && n > 1 {
				h.t.Fatalf("%s admitted at %s, after the first tick", user, clock(now))
			}
		}
		if n < limit-1 && len(served) > 0 {
			h.t.Fatalf("%d polling shoppers got in at %s while the slots were held", len(served), clock(now))
		}
	}
	for _, user := range polling {
		if !served[user] {
			h.wantTicket(user, seconds(float64(limit)), flashsale.TicketAdmitted, 0)
		}
	}
	for _, user := range gone {
		h.wantTicket(user, seconds(float64(limit)), flashsale.TicketExpired, 0)
	}
	if s := h.stats(seconds(float64(limit))); s.Abandoned != 10 || s.AdmittedTotal != 30 {
		h.t.Fatalf("Stats = %+v, want 10 abandoned, 30 admitted in all", s)
	}
	// An abandoned shopper who comes back joins at the back.
	back := h.join("gone-0000", seconds(float64(limit)), true)
	if back.Status != flashsale.TicketWaiting || back.Position != 1 {
		h.t.Fatalf("joining again = %+v", back)
	}
}

// Reading the ticket counts as still here; not reading it for
// abandon_seconds loses the place, even before a tick notices. A
// pre-queue place needs no polling until the start.
func testReadingKeepsThePlace(h *harness) {
	h.open(config())
	h.join("early", start.Add(-10*time.Minute), true)
	h.join("poller", seconds(0), true)
	h.join("idle", seconds(0), true)
	for n := 30; n <= 90; n += 30 {
		h.wantTicket("poller", seconds(float64(n)), flashsale.TicketWaiting, 2)
	}
	h.wantTicket("idle", seconds(90), flashsale.TicketExpired, 0)
	h.wantTicket("early", seconds(90), flashsale.TicketExpired, 0)
	h.wantTicket("poller", seconds(120), flashsale.TicketWaiting, 1)
	if s := h.stats(seconds(120)); s.Abandoned != 2 || s.Waiting != 1 {
		h.t.Fatalf("Stats = %+v, want 2 abandoned, 1 waiting", s)
	}
}

// An admission lasts session_seconds; the shopper then joins at the back.
func testSessionEnds(h *harness) {
	c := config()
	c.AdmitPerMinute, c.MaxActive, c.Session = 60, 1, 30*time.Second
	h.open(c)
	h.join("alice", start, true)
	h.join("bob", start, true)
	h.admit(seconds(1), plenty)
	h.reserved("alice", seconds(1))
	admitted := h.wantTicket("alice", seconds(30.5), flashsale.TicketAdmitted, 0)
	if !admitted.AdmittedAt.Equal(seconds(1)) || !admitted.AdmissionExpiresAt.Equal(seconds(31)) {
		h.t.Fatalf("admission = %+v, want from start+1s to start+31s", admitted)
	}
	h.wantTicket("bob", seconds(30.5), flashsale.TicketWaiting, 1)
	h.wantTicket("alice", seconds(31), flashsale.TicketExpired, 0)
	if got := h.admit(seconds(31), plenty); !slices.Equal(got, []string{"bob"}) {
		h.t.Fatalf("admitted %q after alice's session, want bob", got)
	}
	again := h.join("alice", seconds(32), true)
	if again.Status != flashsale.TicketWaiting || again.Position != 1 || again.ID == admitted.ID {
		h.t.Fatalf("joining again = %+v", again)
	}
}

// An admitted shopper who leaves frees the slot at once.
func testLeaveFreesTheSlot(h *harness) {
	c := config()
	c.MaxActive = 1
	h.open(c)
	h.join("alice", start, true)
	h.join("bob", start, true)
	h.admit(seconds(1), plenty)
	h.wantTicket("alice", seconds(1), flashsale.TicketAdmitted, 0)
	h.leave("alice", seconds(1.5))
	if s := h.stats(seconds(1.5)); s.Active != 0 || s.Unreserved != 0 {
		h.t.Fatalf("Stats after leaving = %+v, want the slot free", s)
	}
	_, err := h.room().Ticket(h.t.Context(), h.sale.SaleID, "alice", seconds(1.5))
	h.refused("Ticket after leaving", err, flashsale.TicketNotFound())
	if got := h.admit(seconds(2), plenty); !slices.Equal(got, []string{"bob"}) {
		h.t.Fatalf("admitted %q, want bob in the freed slot", got)
	}
}

// A waiting shopper who leaves moves everyone behind up at once.
func testLeaveMovesTheLine(h *harness) {
	h.open(config())
	for _, user := range []string{"a", "b", "c", "d"} {
		h.join(user, start, true)
	}
	h.leave("b", seconds(1))
	h.wantTicket("c", seconds(1), flashsale.TicketWaiting, 2)
	h.wantTicket("d", seconds(1), flashsale.TicketWaiting, 3)
	again := h.join("b", seconds(1), true)
	if again.Position != 4 {
		h.t.Fatalf("joining again = %+v, want position 4", again)
	}
}

// While nothing is left every ticket reads sold_out and joins are refused;
// when units come back the line goes on where it was.
func testSoldOut(h *harness) {
	c := config()
	c.MaxActive = 1
	h.open(c)
	h.join("early", start.Add(-time.Minute), true)
	h.join("admitted", start, true)
	h.join("waiting", start, true)
	h.leave("early", start)
	h.join("early", start, true)
	if got := h.admit(seconds(1), plenty); !slices.Equal(got, []string{"admitted"}) {
		h.t.Fatalf("admitted %q, want the first in line", got)
	}
	h.wantTicket("waiting", seconds(1), flashsale.TicketWaiting, 1)
	h.wantTicket("early", seconds(1), flashsale.TicketWaiting, 2)

	h.admit(seconds(2), 0)
	for _, user := range []string{"early", "admitted", "waiting"} {
		h.wantTicket(user, seconds(2), flashsale.TicketSoldOut, 0)
	}
	_, _, err := h.room().Join(h.t.Context(), h.sale.SaleID, "newcomer", seconds(2))
	h.refused("Join of a sold-out sale", err, flashsale.SaleSoldOut())
	if s := h.stats(seconds(2)); !s.SoldOut {
		h.t.Fatalf("Stats = %+v, want sold out", s)
	}

	h.admit(seconds(3), 2)
	h.wantTicket("admitted", seconds(3), flashsale.TicketAdmitted, 0)
	h.wantTicket("waiting", seconds(3), flashsale.TicketWaiting, 1)
	h.wantTicket("early", seconds(3), flashsale.TicketWaiting, 2)
	if again := h.join("newcomer", seconds(3), true); again.Position != 3 {
		h.t.Fatalf("joining after the restock = %+v, want position 3", again)
	}
}

// The rate and the cap change from the next tick on.
func testAdjustLive(h *harness) {
	h.open(config())
	for _, user := range users("shopper", 100) {
		h.join(user, start, true)
	}
	h.admit(seconds(1), plenty)
	rate, cap := int64(1200), int64(25)
	s, err := h.room().Adjust(h.t.Context(), h.sale.SaleID, seconds(1), flashsale.WaitingRoomChange{AdmitPerMinute: &rate, MaxActive: &cap})
	if err != nil {
		h.t.Fatal(err)
	}
	if s.AdmitPerMinute != 1200 || s.MaxActive != 25 || s.AdmittedTotal != 10 {
		h.t.Fatalf("Adjust = %+v", s)
	}
	if got := h.admit(seconds(2), plenty); len(got) != 15 { // 20 due, capped at 25 active
		h.t.Fatalf("admitted %d after the change, want 15", len(got))
	}
	uncapped := int64(0)
	if _, err := h.room().Adjust(h.t.Context(), h.sale.SaleID, seconds(2), flashsale.WaitingRoomChange{MaxActive: &uncapped}); err != nil {
		h.t.Fatal(err)
	}
	if got := h.admit(seconds(3), plenty); len(got) != 20 {
		h.t.Fatalf("admitted %d without a cap, want 20", len(got))
	}
}

// A paused line admits nobody, and resuming makes no burst of the time
// paused.
func testPause(h *harness) {
	h.open(config())
	for _, user := range users("shopper", 100) {
		h.join(user, start, true)
	}
	paused, resumed := true, false
	s, err := h.room().Adjust(h.t.Context(), h.sale.SaleID, start, flashsale.WaitingRoomChange{Paused: &paused})
	if err != nil || !s.Paused {
		h.t.Fatalf("Adjust to pause = %+v, %v", s, err)
	}
	for n := 1; n <= 5; n++ {
		if got := h.admit(seconds(float64(n)), plenty); len(got) != 0 {
			h.t.Fatalf("a paused line admitted %d", len(got))
		}
	}
	if _, err := h.room().Adjust(h.t.Context(), h.sale.SaleID, seconds(5), flashsale.WaitingRoomChange{Paused: &resumed}); err != nil {
		h.t.Fatal(err)
	}
	if got := h.admit(seconds(6), plenty); len(got) != 10 {
		h.t.Fatalf("admitted %d in the first second after resuming, want 10", len(got))
	}
}

// A paused sale holds its line as the line's own pause does: nobody
// admitted, admissions still ending, places kept, and no burst of the
// time paused at the resumption.
func testSalePause(h *harness) {
	cfg := config()
	cfg.Session = 3 * time.Second
	h.open(cfg)
	for _, user := range users("shopper", 100) {
		h.join(user, start, true)
	}
	if got := h.admit(seconds(1), plenty); len(got) != 10 {
		h.t.Fatalf("admitted %d in the first second, want 10", len(got))
	}
	for n := 2; n <= 5; n++ {
		if got := h.admitWhile(seconds(float64(n)), plenty, true); len(got) != 0 {
			h.t.Fatalf("the line of a paused sale admitted %d", len(got))
		}
	}
	s := h.stats(seconds(5))
	if s.Active != 0 || s.Waiting != 90 {
		h.t.Fatalf("after the pause: %d active (sessions of 3 s end), %d waiting; want 0 and 90", s.Active, s.Waiting)
	}
	if got := h.admit(seconds(6), plenty); len(got) != 10 {
		h.t.Fatalf("admitted %d in the first second after the sale resumed, want 10", len(got))
	}
}

// Nobody is admitted before the start or from the end.
func testSaleEnd(h *harness) {
	h.open(config())
	h.join("early", start.Add(-time.Minute), true)
	if got := h.admit(start.Add(-time.Second), plenty); len(got) != 0 {
		h.t.Fatalf("admitted %q before the start", got)
	}
	h.join("late", end.Add(-time.Second), true)
	if got := h.admit(end, plenty); len(got) != 0 {
		h.t.Fatalf("admitted %q at the end", got)
	}
}
