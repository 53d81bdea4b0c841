package waitingroomtest

import (
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// One place per user: joining again returns the same ticket.
func testJoinOnce(h *harness) {
	h.open(config())
	first := h.join("alice", seconds(1), true)
	id, err := uuid.Parse(first.ID)
	if err != nil || id.Version() != 7 {
		h.t.Fatalf("ticket id %q is not a UUIDv7", first.ID)
	}
	if first.Status != flashsale.TicketWaiting || first.Position != 1 || first.Ahead != 0 {
		h.t.Fatalf("first ticket = %+v, want waiting at 1", first)
	}
	h.join("bob", seconds(2), true)
	again := h.join("alice", seconds(3), false)
	if again != first {
		h.t.Fatalf("Join again = %+v, want %+v", again, first)
	}
	h.wantTicket("bob", seconds(4), flashsale.TicketWaiting, 2)
	if s := h.stats(seconds(4)); s.Waiting != 2 || s.PreQueue != 0 {
		h.t.Fatalf("Stats = %+v, want 2 waiting", s)
	}
}

// Every refusal of Join, code and message.
func testJoinRefusals(h *harness) {
	h.open(config())
	opens := start.Add(-h.sale.Config.PreQueue)
	_, _, err := h.room().Join(h.t.Context(), h.sale.SaleID, "early", opens.Add(-time.Second))
	h.refused("Join before the line opens", err, flashsale.QueueNotOpen(opens))
	if want := "the waiting room opens at 2030-03-01T08:45:00Z"; flashsale.QueueNotOpen(opens).Message != want {
		h.t.Fatalf("QueueNotOpen says %q, want %q", flashsale.QueueNotOpen(opens).Message, want)
	}
	h.join("early", opens, true)

	_, _, err = h.room().Join(h.t.Context(), h.sale.SaleID, "late", end)
	h.refused("Join at the end", err, flashsale.SaleHasEnded())

	h.admit(seconds(1), 0)
	_, _, err = h.room().Join(h.t.Context(), h.sale.SaleID, "new", seconds(2))
	h.refused("Join of a sold-out sale", err, flashsale.SaleSoldOut())
	_, _, err = h.room().Join(h.t.Context(), h.sale.SaleID, "early", seconds(2))
	h.refused("Join again of a sold-out sale", err, flashsale.SaleSoldOut())
}

// A sale without a line is answered no_waiting_room by every method.
func testNoWaitingRoom(h *harness) {
	ctx, room, sale, now := h.t.Context(), h.room(), "sale-"+uuid.NewString(), seconds(1)
	want := flashsale.NoWaitingRoom()
	_, _, err := room.Join(ctx, sale, "alice", now)
	h.refused("Join", err, want)
	_, err = room.Ticket(ctx, sale, "alice", now)
	h.refused("Ticket", err, want)
	h.refused("Leave", room.Leave(ctx, sale, "alice", now), want)
	h.refused("Reserved", room.Reserved(ctx, sale, "alice", now), want)
	_, err = room.Admit(ctx, sale, now, plenty)
	h.refused("Admit", err, want)
	_, err = room.Stats(ctx, sale, now)
	h.refused("Stats", err, want)
	_, err = room.Adjust(ctx, sale, now, flashsale.WaitingRoomChange{})
	h.refused("Adjust", err, want)
	_, _, err = room.PreQueue(ctx, sale, now)
	h.refused("PreQueue", err, want)
}

func testTicketNotFound(h *harness) {
	h.open(config())
	_, err := h.room().Ticket(h.t.Context(), h.sale.SaleID, "alice", seconds(1))
	h.refused("Ticket before joining", err, flashsale.TicketNotFound())
	h.refused("Leave before joining", h.room().Leave(h.t.Context(), h.sale.SaleID, "alice", seconds(1)), flashsale.TicketNotFound())
	// Reserved of a user not admitted is no error: the reservation was
	// made; the line has nothing to change.
	h.reserved("alice", seconds(1))
}

// A line no implementation could run is refused, naming the field.
func testBadConfig(h *harness) {
	bad := map[string]func(c *flashsale.WaitingRoomConfig){
		"waiting_room.admit_per_minute":  func(c *flashsale.WaitingRoomConfig) { c.AdmitPerMinute = 0 },
		"waiting_room.max_active":        func(c *flashsale.WaitingRoomConfig) { c.MaxActive = -1 },
		"waiting_room.session_seconds":   func(c *flashsale.WaitingRoomConfig) { c.Session = 0 },
		"waiting_room.pre_queue_seconds": func(c *flashsale.WaitingRoomConfig) { c.PreQueue = -time.Second },
		"waiting_room.order":             func(c *flashsale.WaitingRoomConfig) { c.Order = "lifo" },
		"waiting_room.abandon_seconds":   func(c *flashsale.WaitingRoomConfig) { c.Abandon = time.Second },
		"waiting_room.overbook":          func(c *flashsale.WaitingRoomConfig) { c.Overbook = math.NaN() },
	}
	messages := map[string]string{
		"waiting_room.admit_per_minute":  "must be from 1 to 6000000",
		"waiting_room.max_active":        "must be from 0 (no cap) to 100000000",
		"waiting_room.session_seconds":   "must be from 1 to 86400 seconds",
		"waiting_room.pre_queue_seconds": "must be from 0 to 604800 seconds",
		"waiting_room.order":             `must be "fifo" or "random"`,
		"waiting_room.abandon_seconds":   "must be from 10 to 3600 seconds",
		"waiting_room.overbook":          "must be from 1 to 100",
	}
	for field, spoil := range bad {
		c := config()
		spoil(&c)
		line := flashsale.WaitingLine{SaleID: "sale-" + uuid.NewString(), StartTime: start, EndTime: end, Config: c, Seed: seed}
		h.refused("Open with a bad "+field, h.room().Open(h.t.Context(), line), flashsale.InvalidField(field, "%s", messages[field]))
		_, err := h.room().Stats(h.t.Context(), line.SaleID, start)
		h.refused("Stats of a line refused", err, flashsale.NoWaitingRoom())
	}
	backwards := flashsale.WaitingLine{SaleID: "sale-" + uuid.NewString(), StartTime: end, EndTime: start, Config: config(), Seed: seed}
	if err := h.room().Open(h.t.Context(), backwards); err == nil {
		h.t.Fatal("Open of a line that ends before it starts succeeded")
	}

	h.open(config())
	zero, tooMany := int64(0), int64(flashsale.MaxMaxActive+1)
	_, err := h.room().Adjust(h.t.Context(), h.sale.SaleID, start, flashsale.WaitingRoomChange{AdmitPerMinute: &zero})
	h.refused("Adjust to no admissions", err, flashsale.InvalidField("waiting_room.admit_per_minute", "must be from 1 to 6000000"))
	_, err = h.room().Adjust(h.t.Context(), h.sale.SaleID, start, flashsale.WaitingRoomChange{MaxActive: &tooMany})
	h.refused("Adjust to too high a cap", err, flashsale.InvalidField("waiting_room.max_active", "must be from 0 (no cap) to 100000000"))
	if s := h.stats(start); s.AdmitPerMinute != 600 || s.MaxActive != 0 {
		h.t.Fatalf("a refused Adjust changed the line: %+v", s)
	}
}

// Opening a line again changes its settings and keeps its places; its
// seed cannot change.
func testReopenKeepsPlaces(h *harness) {
	h.open(config())
	h.join("alice", start.Add(-time.Minute), true)
	changed := h.sale
	changed.Config.AdmitPerMinute = 60
	changed.EndTime = end.Add(time.Hour)
	if err := h.room().Open(h.t.Context(), changed); err != nil {
		h.t.Fatalf("Open again: %v", err)
	}
	h.wantTicket("alice", start.Add(-time.Second), flashsale.TicketPreQueue, 0)
	if s := h.stats(start.Add(-time.Second)); s.AdmitPerMinute != 60 || s.PreQueue != 1 {
		h.t.Fatalf("Stats after reopening = %+v", s)
	}
	h.join("bob", end.Add(time.Minute), true) // the new end
	reseeded := changed
	reseeded.Seed[0]++
	if err := h.room().Open(h.t.Context(), reseeded); err == nil {
		h.t.Fatal("Open with another seed succeeded")
	}
}

// 2,000 join before the start in a known order: at the start they are
// placed in flashsale-draw-v1's order over their ticket ids, unrelated to
// arrival, ahead of everyone who joins after the start, who stand in the
// order they came.
func testPreQueueShuffle(h *harness) {
	const early, late = 2000, 50
	h.open(config())
	ctx := h.t.Context()
	earlyUsers, lateUsers := users("early", early), users("late", late)
	ticketOf := make(map[string]string, early) // ticket id -> user
	for i, user := range earlyUsers {
		ticket := h.join(user, start.Add(-time.Duration(early-i)*time.Millisecond), true)
		if ticket.Status != flashsale.TicketPreQueue || ticket.Position != 0 {
			h.t.Fatalf("Join before the start = %+v, want pre_queue without a position", ticket)
		}
		ticketOf[ticket.ID] = user
	}
	if entries, drawn, err := h.room().PreQueue(ctx, h.sale.SaleID, start.Add(-time.Nanosecond)); err != nil || drawn || entries != nil {
		h.t.Fatalf("PreQueue before the start = %d entries, %t, %v", len(entries), drawn, err)
	}
	if s := h.stats(start.Add(-time.Second)); s.PreQueue != early || s.Waiting != 0 {
		h.t.Fatalf("Stats before the start = %+v", s)
	}
	for i, user := range lateUsers {
		h.join(user, start.Add(time.Duration(i)*time.Millisecond), true)
	}

	now := seconds(1)
	position := make(map[string]int64, early)
	for _, user := range earlyUsers {
		ticket := h.ticket(user, now)
		if ticket.Status != flashsale.TicketWaiting {
			h.t.Fatalf("%s after the start: %+v", user, ticket)
		}
		position[user] = ticket.Position
	}
	byPosition := make([]string, early)
	arrival, drawn := make([]int, early), make([]int, early)
	for i, user := range earlyUsers {
		p := position[user]
		if p < 1 || p > early || byPosition[p-1] != "" {
			h.t.Fatalf("positions of the pre-queue are not a permutation of 1..%d: %s at %d", early, user, p)
		}
		byPosition[p-1] = user
		arrival[i], drawn[i] = i, int(p)
	}
	if rho := spearman(arrival, drawn); math.Abs(rho) >= 0.1 {
		h.t.Fatalf("Spearman ρ(arrival, position) = %.3f, want |ρ| < 0.1", rho)
	}
	for i, user := range lateUsers {
		h.wantTicket(user, now, flashsale.TicketWaiting, int64(early+1+i))
	}

	entries, ok, err := h.room().PreQueue(ctx, h.sale.SaleID, now)
	if err != nil || !ok {
		h.t.Fatalf("PreQueue after the start: %t, %v", ok, err)
	}
	if !slices.IsSorted(entries) || len(entries) != early {
		h.t.Fatalf("PreQueue returned %d entries, sorted %t; want %d sorted", len(entries), slices.IsSorted(entries), early)
	}
	order, err := draw.Verify(draw.Published{
		Commitment:    seed.Commitment(),
		Seed:          seed.String(),
		EntriesDigest: draw.Digest(entries),
		EntryCount:    len(entries),
		Entries:       entries,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, id := range order {
		if ticketOf[id] != byPosition[i] {
			h.t.Fatalf("position %d is %s, but the draw puts %s (ticket %s) there", i+1, byPosition[i], ticketOf[id], id)
		}
	}
}

// The draw is over the pre-queue as it stands at the start: a place given
// up before the start is not in it, one given up after the start still is.
func testPreQueueEntriesFrozenAtStart(h *harness) {
	h.open(config())
	before := start.Add(-time.Minute)
	stays := h.join("stays", before, true)
	h.join("goes-early", before, true)
	goesLate := h.join("goes-late", before, true)
	h.leave("goes-early", start.Add(-time.Second))
	h.leave("goes-late", start) // the first call at the start: the draw comes first
	h.wantTicket("stays", start, flashsale.TicketWaiting, 1)
	entries, ok, err := h.room().PreQueue(h.t.Context(), h.sale.SaleID, start)
	want := []string{stays.ID, goesLate.ID}
	slices.Sort(want)
	if err != nil || !ok || !slices.Equal(entries, want) {
		h.t.Fatalf("PreQueue = %q, %t, %v; want %q", entries, ok, err, want)
	}
	// Joining again after leaving is a new place at the back.
	again := h.join("goes-early", seconds(1), true)
	if again.Position != 2 {
		h.t.Fatalf("joining again = %+v, want position 2", again)
	}
	if s := h.stats(seconds(1)); s.PreQueue != 0 || s.Waiting != 2 {
		h.t.Fatalf("Stats after the draw = %+v", s)
	}
}

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
