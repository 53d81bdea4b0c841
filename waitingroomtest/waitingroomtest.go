// Package waitingroomtest is the conformance suite of flashsale.WaitingRoom.
// Every implementation runs it unchanged, so that the embedded and the
// distributed waiting room give the same answers. Time is moved by hand:
// every call is given its instant, and nothing sleeps.
package waitingroomtest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// Run runs the suite, each scenario as a parallel subtest. newRooms returns
// a scenario's waiting room twice: as two instances of a fleet over the
// same state (for Redis, two clients), or the same value twice for an
// in-process room. Scenarios open sales of their own ids.
func Run(t *testing.T, newRooms func(t *testing.T) (flashsale.WaitingRoom, flashsale.WaitingRoom)) {
	scenarios := []struct {
		name string
		run  func(h *harness)
	}{
		{"JoinOnce", testJoinOnce},
		{"JoinRefusals", testJoinRefusals},
		{"NoWaitingRoom", testNoWaitingRoom},
		{"TicketNotFound", testTicketNotFound},
		{"BadConfig", testBadConfig},
		{"ReopenKeepsPlaces", testReopenKeepsPlaces},
		{"PreQueueShuffle", testPreQueueShuffle},
		{"PreQueueEntriesFrozenAtStart", testPreQueueEntriesFrozenAtStart},
		{"AdmissionRate", testAdmissionRate},
		{"AdmissionRateCarriesFractions", testAdmissionRateCarriesFractions},
		{"MaxActive", testMaxActive},
		{"Overbook", testOverbook},
		{"RandomOrder", testRandomOrder},
		{"Abandonment", testAbandonment},
		{"ReadingKeepsThePlace", testReadingKeepsThePlace},
		{"SessionEnds", testSessionEnds},
		{"LeaveFreesTheSlot", testLeaveFreesTheSlot},
		{"LeaveMovesTheLine", testLeaveMovesTheLine},
		{"SoldOut", testSoldOut},
		{"AdjustLive", testAdjustLive},
		{"Pause", testPause},
		{"SalePause", testSalePause},
		{"SaleEnd", testSaleEnd},
		{"ConcurrentJoinsOfOneUser", testConcurrentJoinsOfOneUser},
		{"ConcurrentCapsNeverExceeded", testConcurrentCapsNeverExceeded},
		{"ConcurrentTicks", testConcurrentTicks},
		{"ConcurrentCallsMeetTheStart", testConcurrentCallsMeetTheStart},
		{"ExpiriesPerTick", testExpiriesPerTick},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			room, other := newRooms(t)
			s.run(&harness{t: t, rooms: [2]flashsale.WaitingRoom{room, other}})
		})
	}
}

// Every sale runs from start to end; whole seconds, as an implementation
// keeps times to the microsecond.
var (
	start = time.Date(2030, time.March, 1, 9, 0, 0, 0, time.UTC)
	end   = start.Add(2 * time.Hour)
)

// seed is every sale's, so that a scenario can recompute the draw.
var seed = draw.Seed{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

// config is a line's settings unless a scenario says otherwise: fast
// enough and uncapped, so that only what a scenario sets limits it.
func config() flashsale.WaitingRoomConfig {
	return flashsale.WaitingRoomConfig{
		AdmitPerMinute: 600,
		Session:        10 * time.Minute,
		PreQueue:       15 * time.Minute,
		Order:          flashsale.QueueFIFO,
		Abandon:        time.Minute,
		Overbook:       2,
	}
}

// plenty is an available stock no overbook limit reaches.
const plenty = 1_000_000

// harness is one scenario's rooms and sale, with the assertions the
// scenarios share. Calls alternate between the two instances where the
// instance does not matter, so that every scenario checks that they agree.
type harness struct {
	t     *testing.T
	rooms [2]flashsale.WaitingRoom
	calls int
	sale  flashsale.WaitingLine
}

// room returns the next instance to call.
func (h *harness) room() flashsale.WaitingRoom {
	h.calls++
	return h.rooms[h.calls%2]
}

// open opens a line of the scenario's own with the given settings.
func (h *harness) open(c flashsale.WaitingRoomConfig) {
	h.t.Helper()
	h.sale = flashsale.WaitingLine{SaleID: "sale-" + uuid.NewString(), StartTime: start, EndTime: end, Config: c, Seed: seed}
	if err := h.room().Open(h.t.Context(), h.sale); err != nil {
		h.t.Fatalf("Open: %v", err)
	}
}

// join joins and fails the scenario unless a ticket comes back created as
// wanted.
func (h *harness) join(user string, now time.Time, wantCreated bool) flashsale.Ticket {
	h.t.Helper()
	ticket, created, err := h.room().Join(h.t.Context(), h.sale.SaleID, user, now)
	if err != nil {
		h.t.Fatalf("Join(%s at %s): %v", user, clock(now), err)
	}
	if created != wantCreated {
		h.t.Fatalf("Join(%s at %s) created = %t, want %t", user, clock(now), created, wantCreated)
	}
	if ticket.UserID != user || ticket.SaleID != h.sale.SaleID {
		h.t.Fatalf("Join(%s) = %+v, a ticket of another user or sale", user, ticket)
	}
	return ticket
}

func (h *harness) ticket(user string, now time.Time) flashsale.Ticket {
	h.t.Helper()
	ticket, err := h.room().Ticket(h.t.Context(), h.sale.SaleID, user, now)
	if err != nil {
		h.t.Fatalf("Ticket(%s at %s): %v", user, clock(now), err)
	}
	return ticket
}

// wantTicket reads the user's ticket and checks its status and position.
func (h *harness) wantTicket(user string, now time.Time, status flashsale.TicketStatus, position int64) flashsale.Ticket {
	h.t.Helper()
	got := h.ticket(user, now)
	if got.Status != status || got.Position != position || got.Ahead != max(position-1, 0) {
		h.t.Fatalf("Ticket(%s at %s) = %s at %d (%d ahead), want %s at %d", user, clock(now), got.Status, got.Position, got.Ahead, status, position)
	}
	admitted := got.Status == flashsale.TicketAdmitted
	if admitted == got.AdmittedAt.IsZero() || admitted && !got.AdmissionExpiresAt.Equal(got.AdmittedAt.Add(h.sale.Config.Session)) {
		h.t.Fatalf("Ticket(%s) = %+v: admission times wrong for status %s", user, got, got.Status)
	}
	return got
}

func (h *harness) leave(user string, now time.Time) {
	h.t.Helper()
	if err := h.room().Leave(h.t.Context(), h.sale.SaleID, user, now); err != nil {
		h.t.Fatalf("Leave(%s): %v", user, err)
	}
}

func (h *harness) reserved(user string, now time.Time) {
	h.t.Helper()
	if err := h.room().Reserved(h.t.Context(), h.sale.SaleID, user, now); err != nil {
		h.t.Fatalf("Reserved(%s): %v", user, err)
	}
}

// admit runs a tick of a sale that is on and returns the users it
// admitted, in order.
func (h *harness) admit(now time.Time, available int64) []string {
	h.t.Helper()
	return h.admitWhile(now, available, false)
}

// admitWhile runs a tick with the sale paused or not.
func (h *harness) admitWhile(now time.Time, available int64, salePaused bool) []string {
	h.t.Helper()
	tickets, err := h.room().Admit(h.t.Context(), h.sale.SaleID, now, available, salePaused)
	if err != nil {
		h.t.Fatalf("Admit(at %s): %v", clock(now), err)
	}
	users := make([]string, len(tickets))
	for i, ticket := range tickets {
		if ticket.Status != flashsale.TicketAdmitted || !ticket.AdmittedAt.Equal(now) || !ticket.AdmissionExpiresAt.Equal(now.Add(h.sale.Config.Session)) {
			h.t.Fatalf("Admit(at %s) returned %+v", clock(now), ticket)
		}
		users[i] = ticket.UserID
	}
	return users
}

func (h *harness) stats(now time.Time) flashsale.WaitingRoomStats {
	h.t.Helper()
	s, err := h.room().Stats(h.t.Context(), h.sale.SaleID, now)
	if err != nil {
		h.t.Fatalf("Stats: %v", err)
	}
	return s
}

// refused fails the scenario unless err is want, code and message: both
// implementations word every refusal as the domain does.
func (h *harness) refused(what string, err error, want *flashsale.Error) {
	h.t.Helper()
	var got *flashsale.Error
	if !errors.As(err, &got) || got.Code != want.Code || got.Message != want.Message || got.Field != want.Field {
		h.t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return out
}

// clock names an instant relative to the start, for failure messages.
func clock(now time.Time) string {
	if now.Before(start) {
		return "start-" + start.Sub(now).String()
	}
	return "start+" + now.Sub(start).String()
}

// seconds is the instant n seconds after the start.
func seconds(n float64) time.Time {
	return start.Add(time.Duration(n * float64(time.Second)))
}

// spearman returns the rank correlation of two rankings of the same n
// items without ties: 1 - 6 Σd² / (n(n²-1)).
func spearman(a, b []int) float64 {
	n := float64(len(a))
	var sum float64
	for i := range a {
		d := float64(a[i] - b[i])
		sum += d * d
	}
	return 1 - 6*sum/(n*(n*n-1))
}
