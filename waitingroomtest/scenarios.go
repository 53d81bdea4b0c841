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
	_, err = room.Admit(ctx, sale, now, plenty, false)
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
