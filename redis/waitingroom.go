package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

var (
	//go:embed waitingroom_line.lua
	waitingRoomLineLua string
	//go:embed waitingroom_open.lua
	waitingRoomOpenLua string
	//go:embed waitingroom_draw.lua
	waitingRoomDrawLua string

	waitingRoomLineScript = rueidis.NewLuaScript(waitingRoomLineLua)
	waitingRoomOpenScript = rueidis.NewLuaScript(waitingRoomOpenLua)
	waitingRoomDrawScript = rueidis.NewLuaScript(waitingRoomDrawLua)
)

// WaitingRoom is the Redis flashsale.WaitingRoom: every line in Redis,
// changed only by scripts, so that any number of instances share it and a
// restart of one loses no place. Positions are sorted-set ranks.
//
// Key layout, for a prefix P and a sale S; every key of one line carries
// the hash tag {P:queue:S}, so each script touches a single slot:
//
//	line        hash: window, settings, seed, flags (drawn, soldout,
//	            paused), admission's clock (lasttick, carry), figures
//	tickets     hash: user id -> ticket record (see waitingroom_line.lua)
//	prequeue    hash: ticket id -> user id of those who joined before the
//	            start; from the draw on, the draw's entries, unchanged
//	waiting     sorted set: user id by place number (the drawn pre-queue
//	            below zero, later joiners by arrival above)
//	seen        sorted set: user id by when last seen, for those who must
//	            keep being seen (waiting, or admitted and yet to reserve)
//	admitted    sorted set: user id by when the admission ends
//	unreserved  set: admitted users yet to reserve
//
// A mutating script that timed out may have run; as with the inventory,
// the client must not resend it on its own (see Connect). Every method
// may be retried by its caller: Join returns the place it made, the
// others change nothing twice, and a retried Admit admits only for the
// time since the tick that ran.
//
// Should Redis lose the keys, the lines are gone: open lines answer
// no_waiting_room until opened again, empty, and everyone joins anew. The
// AOF that keeps the inventory keeps the lines as well.
type WaitingRoom struct {
	client rueidis.Client
	prefix string
	// drawing lets one call of this process at a time make a draw: the
	// requests that meet the start together wait for it, rather than each
	// computing the same order.
	drawing sync.Mutex
}

var _ flashsale.WaitingRoom = (*WaitingRoom)(nil)

// NewWaitingRoom returns a waiting room kept by client under keyPrefix,
// which follows the rules of Options.KeyPrefix. The client should come
// from Connect, or at least have DisableRetry set.
func NewWaitingRoom(client rueidis.Client, keyPrefix string) *WaitingRoom {
	if strings.ContainsAny(keyPrefix, "{}") {
		panic(fmt.Sprintf("redis: key prefix %q contains a brace", keyPrefix))
	}
	return &WaitingRoom{client: client, prefix: keyPrefix}
}

// keys returns the keys of a sale's line in the order the scripts take
// them.
func (r *WaitingRoom) keys(saleID string) []string {
	tag := "{" + r.prefix + ":queue:" + saleID + "}:"
	return []string{tag + "line", tag + "tickets", tag + "prequeue", tag + "waiting", tag + "seen", tag + "admitted", tag + "unreserved"}
}

// Open installs the line, or changes its settings and window.
func (r *WaitingRoom) Open(ctx context.Context, line flashsale.WaitingLine) error {
	if err := line.Validate(); err != nil {
		return err
	}
	c := line.Config
	args := []string{
		micros(line.StartTime), micros(line.EndTime), micros(line.OpensAt()),
		strconv.FormatInt(c.AdmitPerMinute, 10), strconv.FormatInt(c.MaxActive, 10),
		strconv.FormatInt(c.Session.Microseconds(), 10), strconv.FormatInt(c.Abandon.Microseconds(), 10),
		string(c.Order), strconv.FormatFloat(c.Overbook, 'g', -1, 64), line.Seed.String(),
	}
	reply, err := waitingRoomOpenScript.Exec(ctx, r.client, r.keys(line.SaleID)[:1], args).ToString()
	if err != nil {
		return failure("open waiting room of sale "+line.SaleID, err)
	}
	if reply == "seed_differs" {
		return fmt.Errorf("open waiting room of sale %s: its seed was committed already and cannot change", line.SaleID)
	}
	return nil
}

// Join gives the user a place, or returns the one the user has.
func (r *WaitingRoom) Join(ctx context.Context, saleID, userID string, now time.Time) (flashsale.Ticket, bool, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return flashsale.Ticket{}, false, err
	}
	outcome, reply, err := r.run(ctx, saleID, "join", now, userID, id.String())
	if err != nil {
		return flashsale.Ticket{}, false, err
	}
	switch outcome {
	case "ticket":
		return ticketOf(saleID, userID, reply)
	case "sold_out":
		return flashsale.Ticket{}, false, flashsale.SaleSoldOut()
	case "queue_not_open":
		opens, err := strconv.ParseInt(reply[0], 10, 64)
		if err != nil {
			return flashsale.Ticket{}, false, fmt.Errorf("join waiting room of sale %s: malformed opening %q", saleID, reply[0])
		}
		return flashsale.Ticket{}, false, flashsale.QueueNotOpen(fromMicros(opens))
	case "ended":
		return flashsale.Ticket{}, false, flashsale.SaleHasEnded()
	}
	return flashsale.Ticket{}, false, unexpected("join", saleID, outcome)
}

// Ticket returns the user's ticket and counts the user as still here.
func (r *WaitingRoom) Ticket(ctx context.Context, saleID, userID string, now time.Time) (flashsale.Ticket, error) {
	outcome, reply, err := r.run(ctx, saleID, "ticket", now, userID)
	if err != nil {
		return flashsale.Ticket{}, err
	}
	switch outcome {
	case "ticket":
		t, _, err := ticketOf(saleID, userID, reply)
		return t, err
	case "not_found":
		return flashsale.Ticket{}, flashsale.TicketNotFound()
	}
	return flashsale.Ticket{}, unexpected("ticket", saleID, outcome)
}

// Leave gives the user's place up.
func (r *WaitingRoom) Leave(ctx context.Context, saleID, userID string, now time.Time) error {
	outcome, _, err := r.run(ctx, saleID, "leave", now, userID)
	if err != nil {
		return err
	}
	switch outcome {
	case "ok":
		return nil
	case "not_found":
		return flashsale.TicketNotFound()
	}
	return unexpected("leave", saleID, outcome)
}

// Reserved frees the admitted user's share of overbook.
func (r *WaitingRoom) Reserved(ctx context.Context, saleID, userID string, now time.Time) error {
	outcome, _, err := r.run(ctx, saleID, "reserved", now, userID)
	if err != nil {
		return err
	}
	if outcome != "ok" {
		return unexpected("reserved", saleID, outcome)
	}
	return nil
}

// Admit runs one tick of the line as one script.
func (r *WaitingRoom) Admit(ctx context.Context, saleID string, now time.Time, available int64, salePaused bool) ([]flashsale.Ticket, error) {
	paused := "0"
	if salePaused {
		paused = "1"
	}
	// The random order's draw is seeded here: a script's own random
	// numbers are the same at every run.
	outcome, reply, err := r.run(ctx, saleID, "admit", now, strconv.FormatInt(available, 10), strconv.FormatInt(int64(rand.Int32()), 10),
		strconv.Itoa(flashsale.ExpiriesPerTick), paused)
	if err != nil {
		return nil, err
	}
	if outcome != "admitted" || len(reply)%2 != 1 {
		return nil, unexpected("admit", saleID, outcome)
	}
	expiresAt, err := strconv.ParseInt(reply[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("admit in waiting room of sale %s: malformed expiry %q", saleID, reply[0])
	}
	var admitted []flashsale.Ticket
	for i := 1; i < len(reply); i += 2 {
		admitted = append(admitted, flashsale.Ticket{
			ID:                 reply[i+1],
			SaleID:             saleID,
			UserID:             reply[i],
			Status:             flashsale.TicketAdmitted,
			AdmittedAt:         fromMicros(now.UnixMicro()),
			AdmissionExpiresAt: fromMicros(expiresAt),
		})
	}
	return admitted, nil
}

// Stats returns the line's figures.
func (r *WaitingRoom) Stats(ctx context.Context, saleID string, now time.Time) (flashsale.WaitingRoomStats, error) {
	outcome, reply, err := r.run(ctx, saleID, "stats", now)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	return statsOf(saleID, outcome, reply)
}

// Adjust changes the line's rate, cap or pause.
func (r *WaitingRoom) Adjust(ctx context.Context, saleID string, now time.Time, change flashsale.WaitingRoomChange) (flashsale.WaitingRoomStats, error) {
	current, err := r.Stats(ctx, saleID, now)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	if _, err := change.Apply(flashsale.WaitingRoomConfig{AdmitPerMinute: current.AdmitPerMinute, MaxActive: current.MaxActive}); err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	args := make([]string, 3)
	if change.AdmitPerMinute != nil {
		args[0] = strconv.FormatInt(*change.AdmitPerMinute, 10)
	}
	if change.MaxActive != nil {
		args[1] = strconv.FormatInt(*change.MaxActive, 10)
	}
	if change.Paused != nil {
		args[2] = "0"
		if *change.Paused {
			args[2] = "1"
		}
	}
	outcome, reply, err := r.run(ctx, saleID, "adjust", now, args...)
	if err != nil {
		return flashsale.WaitingRoomStats{}, err
	}
	return statsOf(saleID, outcome, reply)
}

// PreQueue returns the draw's entries once it is made.
func (r *WaitingRoom) PreQueue(ctx context.Context, saleID string, now time.Time) ([]string, bool, error) {
	outcome, reply, err := r.run(ctx, saleID, "entries", now)
	if err != nil {
		return nil, false, err
	}
	if outcome != "entries" || len(reply) == 0 {
		return nil, false, unexpected("entries", saleID, outcome)
	}
	if reply[0] != "1" {
		return nil, false, nil
	}
	entries := reply[1:]
	slices.Sort(entries)
	return entries, true, nil
}

// drawAttempts bounds how often an operation makes the draw and asks
// again: only a pre-queue that changes while its draw is made (a join or
// leave from an instance whose clock is behind the start) takes more
// than one.
const drawAttempts = 5

// run runs an operation of the line script and returns its outcome and
// the rest of its reply, making the pre-queue's draw first when the
// script asks for it.
func (r *WaitingRoom) run(ctx context.Context, saleID, op string, now time.Time, args ...string) (string, []string, error) {
	keys := r.keys(saleID)
	argv := append([]string{op, micros(now)}, args...)
	for range drawAttempts {
		reply, err := waitingRoomLineScript.Exec(ctx, r.client, keys, argv).AsStrSlice()
		if err != nil {
			return "", nil, failure("waiting room "+op+" of sale "+saleID, err)
		}
		if len(reply) == 0 {
			return "", nil, unexpected(op, saleID, "an empty reply")
		}
		switch reply[0] {
		case "undrawn":
			if err := r.drawPreQueue(ctx, saleID, keys); err != nil {
				return "", nil, err
			}
			continue
		case "no_waiting_room":
			return "", nil, flashsale.NoWaitingRoom()
		}
		return reply[0], reply[1:], nil
	}
	return "", nil, fmt.Errorf("waiting room %s of sale %s: the pre-queue kept changing while its draw was made", op, saleID)
}

// drawPreQueue orders the pre-queue by flashsale-draw-v1 and installs the
// order, unless the pre-queue changed meanwhile (the caller asks again).
// Every instance computes the same order, so two drawing at once agree.
func (r *WaitingRoom) drawPreQueue(ctx context.Context, saleID string, keys []string) error {
	r.drawing.Lock()
	defer r.drawing.Unlock()
	replies := r.client.DoMulti(ctx,
		r.client.B().Hmget().Key(keys[0]).Field("drawn", "seed").Build(),
		r.client.B().Hkeys().Key(keys[2]).Build())
	line, err := replies[0].ToArray()
	if err != nil {
		return failure("draw of sale "+saleID, err)
	}
	if len(line) != 2 {
		return unexpected("draw", saleID, "an HMGET of "+strconv.Itoa(len(line))+" fields")
	}
	if drawn, _ := line[0].ToString(); drawn == "1" {
		return nil // made while this call waited
	}
	seedText, err := line[1].ToString()
	if err != nil {
		return failure("draw of sale "+saleID, err)
	}
	entries, err := replies[1].AsStrSlice()
	if err != nil {
		return failure("draw of sale "+saleID, err)
	}
	seed, err := draw.ParseSeed(seedText)
	if err != nil {
		return fmt.Errorf("draw of sale %s: %w", saleID, err)
	}
	if err := waitingRoomDrawScript.Exec(ctx, r.client, keys[:5], draw.Order(seed, entries)).Error(); err != nil {
		return failure("draw of sale "+saleID, err)
	}
	return nil
}

// ticketOf decodes a ticket reply: created, sold out, status, ticket id,
// position, admitted at, expires at.
func ticketOf(saleID, userID string, reply []string) (flashsale.Ticket, bool, error) {
	if len(reply) != 7 {
		return flashsale.Ticket{}, false, unexpected("ticket", saleID, strings.Join(reply, " "))
	}
	t := flashsale.Ticket{ID: reply[3], SaleID: saleID, UserID: userID, Status: flashsale.TicketStatus(reply[2])}
	var numbers [3]int64
	for i := range numbers {
		n, err := strconv.ParseInt(reply[4+i], 10, 64)
		if err != nil {
			return flashsale.Ticket{}, false, unexpected("ticket", saleID, strings.Join(reply, " "))
		}
		numbers[i] = n
	}
	switch {
	case reply[1] == "1":
		t.Status = flashsale.TicketSoldOut
	case t.Status == flashsale.TicketWaiting:
		t.Position, t.Ahead = numbers[0], numbers[0]-1
	case t.Status == flashsale.TicketAdmitted:
		t.AdmittedAt, t.AdmissionExpiresAt = fromMicros(numbers[1]), fromMicros(numbers[2])
	}
	return t, reply[0] == "1", nil
}

// statsOf decodes a stats reply: waiting, pre-queue, admitted total,
// active, unreserved, abandoned, admit per minute, max active, paused,
// sold out.
func statsOf(saleID, outcome string, reply []string) (flashsale.WaitingRoomStats, error) {
	if outcome != "stats" || len(reply) != 10 {
		return flashsale.WaitingRoomStats{}, unexpected("stats", saleID, outcome)
	}
	var numbers [8]int64
	for i := range numbers {
		n, err := strconv.ParseInt(reply[i], 10, 64)
		if err != nil {
			return flashsale.WaitingRoomStats{}, unexpected("stats", saleID, strings.Join(reply, " "))
		}
		numbers[i] = n
	}
	return flashsale.WaitingRoomStats{
		Waiting:        numbers[0],
		PreQueue:       numbers[1],
		AdmittedTotal:  numbers[2],
		Active:         numbers[3],
		Unreserved:     numbers[4],
		Abandoned:      numbers[5],
		AdmitPerMinute: numbers[6],
		MaxActive:      numbers[7],
		Paused:         reply[8] == "1",
		SoldOut:        reply[9] == "1",
	}, nil
}

func unexpected(op, saleID, reply string) error {
	return errors.New("waiting room " + op + " of sale " + saleID + ": unexpected reply " + strconv.Quote(reply))
}
