package flashsale

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/flashsale/flashsale/draw"
)

// WaitingRoom is a sale's line in front of the Buy button (API.md,
// "Waiting room"). A place belongs to a signed-in user: one per user per
// sale, whichever instance or device asks. Shoppers who joined before the
// start are put in flashsale-draw-v1's order at the start, ahead of anyone
// who joins later; then admission lets shoppers in at a set rate, never
// more than the cap at once, and never more still to reserve than the
// stock can serve.
//
// Every method takes the instant it acts at (now) from the caller, and
// the implementations never read a clock, so that a fleet agrees on one
// story and tests move time by hand. The line takes the step the start
// calls for (the pre-queue draw) at the first call at or after it,
// whichever method that is. Every method answers no_waiting_room
// (NoWaitingRoom) for a sale whose line was never opened.
//
// A waiting or admitted-but-not-reserved shopper who is not seen (Join,
// Ticket, Reserved) for abandon_seconds after the start loses the place:
// the ticket reads expired, and its place or slot goes to the next
// shopper. A pre-queue place is kept until the start without polling. So
// an admitted client keeps polling its ticket until it has reserved; an
// admission ends session_seconds after it was made in any case.
//
// Implementations: memory (embedded mode) and redis (distributed mode).
// Both pass waitingroomtest.Run.
type WaitingRoom interface {
	// Open installs a sale's line, or changes the settings and window of
	// one already open, keeping its places. The seed is the one committed
	// to when the pre-queue opened; opening the line again with another
	// seed is a caller's bug and a plain error.
	Open(ctx context.Context, line WaitingLine) error

	// Join gives the user a place and reports whether it is new. A user
	// with a place gets the same ticket back, created false; a user whose
	// place expired gets a new one at the back. Refusals: sold_out
	// (SaleSoldOut) while the sale is sold out, queue_not_open
	// (QueueNotOpen) earlier than pre_queue_seconds before the start,
	// sale_not_active (SaleHasEnded) at or after the end.
	Join(ctx context.Context, saleID, userID string, now time.Time) (Ticket, bool, error)

	// Ticket returns the user's ticket as it stands at now and counts as
	// the user being still here; ticket_not_found (TicketNotFound) for a
	// user without one.
	Ticket(ctx context.Context, saleID, userID string, now time.Time) (Ticket, error)

	// Leave gives the user's place (or admission slot) up at once: the
	// next shopper gets it at the next admission. ticket_not_found for a
	// user without one.
	Leave(ctx context.Context, saleID, userID string, now time.Time) error

	// Reserved tells the line that an admitted user has reserved: the
	// shopper no longer counts toward overbook, nor can be abandoned, but
	// keeps the slot until the admission ends. A user who is not admitted
	// (any more) changes nothing.
	Reserved(ctx context.Context, saleID, userID string, now time.Time) error

	// Admit is the line's heartbeat, run by one elected instance at least
	// once a second for every open line, with available the units of the
	// sale's items still available (reserved ones not counted). It expires
	// admissions past session_seconds and abandoned places (up to
	// ExpiriesPerTick of each); marks the sale
	// sold out while available is 0, and not sold out again once units
	// come back; and, from the start and unless paused or sold out, admits
	// the first waiting shoppers (fifo) or a draw among them (random): up
	// to admit_per_minute/60 for each second since the last tick (a
	// fraction carries to the next tick, admissions the caps withheld do
	// not), never more admitted and unexpired than max_active, never more
	// admitted and not yet reserved than overbook × available. Nobody is
	// admitted before the start or from the end, nor while salePaused
	// (the sale's own pause, PATCH /admin/flash-sales): shoppers let in
	// then would find the Buy button refused and their session running
	// out. The sale's pause holds the line as the line's own does, with no
	// burst of the time paused at the resumption. It returns the tickets
	// it admitted, for the queue.admitted events.
	Admit(ctx context.Context, saleID string, now time.Time, available int64, salePaused bool) ([]Ticket, error)

	// Stats returns the line's figures at now.
	Stats(ctx context.Context, saleID string, now time.Time) (WaitingRoomStats, error)

	// Adjust changes the admission rate, the cap or the pause live, from
	// the next tick on, and returns the figures with the change.
	Adjust(ctx context.Context, saleID string, now time.Time, change WaitingRoomChange) (WaitingRoomStats, error)

	// PreQueue returns the ids of the tickets the start's draw ordered,
	// the pre-queue as it stood at the start (a place given up since is
	// still among them), sorted by their bytes as the draw document lists
	// them, and true; before the start, nil and false.
	PreQueue(ctx context.Context, saleID string, now time.Time) ([]string, bool, error)
}

// ExpiriesPerTick bounds the ended admissions, and apart the abandoned
// places, one tick expires: the oldest first. It keeps a tick short (in
// Redis, a script blocks its shard) when a crowd leaves at once, as after
// a sell-out. A tick that reaches the bound admits nobody, since some it
// left for the next tick may be gone shoppers at the front of the line.
const ExpiriesPerTick = 10_000

// WaitingLine is what a line needs of its sale.
type WaitingLine struct {
	SaleID    string
	StartTime time.Time
	EndTime   time.Time
	Config    WaitingRoomConfig
	// Seed orders the pre-queue at the start. Its commitment is published
	// when the pre-queue opens; the seed itself only from the start.
	Seed draw.Seed
}

// Validate refuses a line no implementation could run.
func (l WaitingLine) Validate() error {
	if l.SaleID == "" {
		return fmt.Errorf("open waiting room: no sale id")
	}
	if !l.EndTime.After(l.StartTime) {
		return fmt.Errorf("open waiting room of sale %s: the end is not after the start", l.SaleID)
	}
	return l.Config.Validate()
}

// OpensAt is when the line takes its first place: pre_queue_seconds
// before the start.
func (l WaitingLine) OpensAt() time.Time { return l.StartTime.Add(-l.Config.PreQueue) }

// QueueOrder is how admission picks among those waiting.
type QueueOrder string

const (
	// QueueFIFO admits by place in line: the pre-queue in draw order, then
	// everyone else by arrival.
	QueueFIFO QueueOrder = "fifo"
	// QueueRandom admits by a fresh draw among all those waiting at each
	// tick, however long each has waited; positions still show arrival.
	QueueRandom QueueOrder = "random"
)

// WaitingRoomConfig is a sale's "waiting_room" object.
type WaitingRoomConfig struct {
	AdmitPerMinute int64
	// MaxActive caps the admitted and unexpired shoppers; 0 means no cap.
	MaxActive int64
	// Session is how long an admission lasts (session_seconds).
	Session time.Duration
	// PreQueue is how long before the start the line opens
	// (pre_queue_seconds); 0 means it opens at the start.
	PreQueue time.Duration
	Order    QueueOrder
	// Abandon is how long a shopper may go unseen after the start before
	// losing the place (abandon_seconds).
	Abandon time.Duration
	// Overbook is how many admitted shoppers yet to reserve each available
	// unit may have.
	Overbook float64
}

// The bounds a configuration is held to. Abandon has a floor of its own:
// clients are told to poll a few seconds apart (poll_after_ms spreads
// them), and must not lose their place for doing as told.
const (
	MaxAdmitPerMinute = 6_000_000
	MaxMaxActive      = 100_000_000
	MinSession        = time.Second
	MaxSession        = 24 * time.Hour
	MaxPreQueue       = 7 * 24 * time.Hour
	MinAbandon        = 10 * time.Second
	MaxAbandon        = time.Hour
	MinOverbook       = 1.0
	MaxOverbook       = 100.0
)

// Validate refuses a configuration no line could run, naming the first
// offending field under "waiting_room".
func (c WaitingRoomConfig) Validate() error {
	if err := validateAdmission(c.AdmitPerMinute, c.MaxActive); err != nil {
		return err
	}
	switch {
	case c.Session < MinSession || c.Session > MaxSession:
		return InvalidField("waiting_room.session_seconds", "must be from %d to %d seconds", int(MinSession.Seconds()), int(MaxSession.Seconds()))
	case c.PreQueue < 0 || c.PreQueue > MaxPreQueue:
		return InvalidField("waiting_room.pre_queue_seconds", "must be from 0 to %d seconds", int(MaxPreQueue.Seconds()))
	case c.Order != QueueFIFO && c.Order != QueueRandom:
		return InvalidField("waiting_room.order", "must be %q or %q", QueueFIFO, QueueRandom)
	case c.Abandon < MinAbandon || c.Abandon > MaxAbandon:
		return InvalidField("waiting_room.abandon_seconds", "must be from %d to %d seconds", int(MinAbandon.Seconds()), int(MaxAbandon.Seconds()))
	case math.IsNaN(c.Overbook) || c.Overbook < MinOverbook || c.Overbook > MaxOverbook:
		// Below one, the last units could never be offered to anyone.
		return InvalidField("waiting_room.overbook", "must be from %g to %g", MinOverbook, MaxOverbook)
	}
	return nil
}

func validateAdmission(admitPerMinute, maxActive int64) error {
	if admitPerMinute < 1 || admitPerMinute > MaxAdmitPerMinute {
		return InvalidField("waiting_room.admit_per_minute", "must be from 1 to %d", MaxAdmitPerMinute)
	}
	if maxActive < 0 || maxActive > MaxMaxActive {
		return InvalidField("waiting_room.max_active", "must be from 0 (no cap) to %d", MaxMaxActive)
	}
	return nil
}

// WaitingRoomChange is an operator's live change of a line (PATCH); nil
// fields stay as they are.
type WaitingRoomChange struct {
	AdmitPerMinute *int64
	MaxActive      *int64
	Paused         *bool
}

// Apply returns the configuration with the change's settings, or the
// refusal of an invalid one.
func (ch WaitingRoomChange) Apply(c WaitingRoomConfig) (WaitingRoomConfig, error) {
	if ch.AdmitPerMinute != nil {
		c.AdmitPerMinute = *ch.AdmitPerMinute
	}
	if ch.MaxActive != nil {
		c.MaxActive = *ch.MaxActive
	}
	return c, validateAdmission(c.AdmitPerMinute, c.MaxActive)
}

// TicketStatus is where a shopper stands in a line.
type TicketStatus string

const (
	// TicketPreQueue: joined before the start, not yet placed.
	TicketPreQueue TicketStatus = "pre_queue"
	TicketWaiting  TicketStatus = "waiting"
	TicketAdmitted TicketStatus = "admitted"
	// TicketExpired: the admission's session ended, or the place was
	// abandoned; joining again goes to the back.
	TicketExpired TicketStatus = "expired"
	// TicketSoldOut is what every ticket reads while the sale is sold out.
	TicketSoldOut TicketStatus = "sold_out"
)

// Ticket is a user's place in a sale's line.
type Ticket struct {
	// ID is a UUIDv7, and an entry of the pre-queue's draw.
	ID     string
	SaleID string
	UserID string
	Status TicketStatus
	// Position is 1-based among those waiting, 0 unless waiting; Ahead is
	// how many stand in front.
	Position int64
	Ahead    int64
	// AdmittedAt and AdmissionExpiresAt are set only while admitted.
	AdmittedAt         time.Time
	AdmissionExpiresAt time.Time
}

// WaitingRoomStats are a line's figures (the admin view).
type WaitingRoomStats struct {
	// Waiting have a position; PreQueue joined before the start and await
	// the draw.
	Waiting  int64
	PreQueue int64
	// AdmittedTotal counts every admission ever made; Active the admitted
	// whose admission has not ended; Unreserved those of them who have not
	// reserved yet, what overbook bounds.
	AdmittedTotal int64
	Active        int64
	Unreserved    int64
	// Abandoned counts the places lost for not being seen.
	Abandoned      int64
	AdmitPerMinute int64
	MaxActive      int64
	Paused         bool
	SoldOut        bool
}

// The waiting room's refusals, each written once, for both
// implementations; waitingroomtest holds them to code and message.

// QueueNotOpen refuses a join before the line opens.
func QueueNotOpen(opensAt time.Time) *Error {
	e := Errorf(EQueueNotOpen, "the waiting room opens at %s", opensAt.UTC().Format(time.RFC3339))
	e.OpensAt = opensAt.UTC()
	return e
}

// SaleSoldOut refuses a join while every item of the sale is sold out.
func SaleSoldOut() *Error { return Errorf(ESoldOut, "every item of the sale is sold out") }

// NoWaitingRoom answers the waiting room of a sale that has none.
func NoWaitingRoom() *Error { return Errorf(ENoWaitingRoom, "the sale has no waiting room") }

// TicketNotFound answers a user without a place in the line.
func TicketNotFound() *Error {
	return Errorf(ETicketNotFound, "you have no place in this sale's waiting room")
}
