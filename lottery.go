package flashsale

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// LotteryConfig is a lottery sale's "lottery" object: entries are taken
// from EntriesOpen to EntriesClose, and the draw runs at EntriesClose.
type LotteryConfig struct {
	EntriesOpen  time.Time `json:"entries_open"`
	EntriesClose time.Time `json:"entries_close"`
}

// Error codes of the lottery (API.md, "Lottery").
const (
	// EEntriesClosed refuses an entry outside the entries' window; the
	// answer carries the window.
	EEntriesClosed = "entries_closed"
	// ELotterySale refuses a place-order of a lottery sale: its units go
	// to the draw's winners.
	ELotterySale = "lottery_sale"
	// ENotLottery answers the lottery's paths for a sale that is none.
	ENotLottery = "not_a_lottery"
)

// EntryStatus is where an entry stands.
type EntryStatus string

const (
	// EntryEntered: waiting for the draw.
	EntryEntered EntryStatus = "entered"
	// EntryWon: drawn among the winners, or reached from the waitlist; its
	// reservation (OrderID) is made right after, so a won entry may for a
	// moment have none.
	EntryWon EntryStatus = "won"
	// EntryWaitlisted: drawn after the winners, in Rank order.
	EntryWaitlisted EntryStatus = "waitlisted"
	// EntryLost: still waitlisted when the last wave ended.
	EntryLost EntryStatus = "lost"
)

// Entry is a user's entry of an item in a lottery sale: one per user per
// item.
type Entry struct {
	ID        string
	SaleID    string
	ItemID    string
	UserID    string
	EnteredAt time.Time
	Status    EntryStatus
	// Rank is the entry's place in its item's draw order, from 1, once
	// drawn: winners first, then the waitlist.
	Rank int64
	// OrderID is a won entry's reservation, once made.
	OrderID string
	// Identities are the phone and address the sale's limits count the
	// entry under, for the units it may win (its item's per-user limit),
	// while it is not lost: a farm cannot enter twice with one phone.
	Identities
}

// ItemDraw is an item's draw as published: the digest and count of its
// entries; its order follows from them and the sale's seed
// (draw.Order).
type ItemDraw struct {
	SaleID        string
	ItemID        string
	EntriesDigest string
	EntryCount    int64
	DrawnAt       time.Time
}

// EntryStore keeps a lottery's entries and draws, durably: the draw is
// computed from the stored entries, so they must outlive any restart.
//
// Implementations: sqlite and postgres, as part of their OrderStore. Both
// pass storetest's lottery scenarios.
type EntryStore interface {
	// Enter records e, the user's entry of an item, unless the user has
	// one already; it returns the entry as stored and whether this call
	// created it. Concurrent calls of one user for one item, on any
	// instance, store one entry. A new entry of a sealed item is refused
	// with ErrEntriesSealed; the user's stored entry still comes back.
	Enter(ctx context.Context, e *Entry) (stored *Entry, created bool, err error)
	// SealEntries closes an item's entries for its draw: once it returns,
	// every entry the store will ever hold of the item is stored, the ones
	// accepted before entries_close whose commit was still on its way
	// included, and Enter refuses new ones. Sealing a sealed item changes
	// nothing.
	SealEntries(ctx context.Context, itemID string, at time.Time) error
	// UserEntries returns the user's entries in a sale, oldest first.
	UserEntries(ctx context.Context, saleID, userID string) ([]*Entry, error)
	// EntryIDs returns the ids of an item's entries, sorted by their
	// bytes: the list a draw publishes.
	EntryIDs(ctx context.Context, itemID string) ([]string, error)
	// RecordDraw stores an item's draw once: d, and for each entry id of
	// order (the draw order, every entry of the item) its Rank (place in
	// order, from 1) and status: won for the first winners, waitlisted
	// for the rest.
	//
	// It ranks a step at a time, each step a write of its own of a few
	// thousand entries taken in entry order (PlacesInEntryOrder), so that
	// each step rewrites the few pages they lie on, and a draw of a
	// million never holds
	// the store for long: not SQLite's one writer, which every
	// reservation waits for, nor PostgreSQL's oldest open transaction,
	// which every user's event stream waits for. The entries of a draw
	// under way show their outcome step by step; the draw itself is in
	// ItemDraws once its last step is recorded. A call with d's
	// EntriesDigest carries on a draw of that digest cut short (a crash, a
	// cancelled context): the entries being sealed, the same digest brings
	// the same order. A call with another digest, or for an item whose
	// draw is complete, changes nothing and returns the draw stored first,
	// so a draw run twice (a crash, two instances) has one outcome.
	//
	// A store that is also an Outbox writes, with each step, one
	// EventLotteryWaitlisted per entry it waitlisted (its Rank the place
	// on the waitlist), at the stored draw's DrawnAt, in waitlist order
	// within the step; none for the winners, who hear of their
	// reservation (Award). Across steps the waitlist hears in entry
	// order: telling it in its own order would read the entries at
	// random, which tripled a million-entry draw.
	RecordDraw(ctx context.Context, d ItemDraw, order []string, winners int) (ItemDraw, error)
	// ItemDraws returns the sale's draws whose every step is recorded, in
	// no set order.
	ItemDraws(ctx context.Context, saleID string) ([]ItemDraw, error)
	// NextToReserve returns up to limit entries of the item that are owed
	// a reservation, in draw order: the won entries without one, then the
	// waitlisted ones.
	NextToReserve(ctx context.Context, itemID string, limit int) ([]*Entry, error)
	// Award records the reservation made for a won or waitlisted entry:
	// the entry becomes won with orderID. Awarding an entry that has an
	// order already changes nothing and returns ErrAlreadyAwarded.
	//
	// A store that is also an Outbox writes, with the award, the entry's
	// EventLotteryWon at at, with the order as the store then holds it:
	// an order it does not hold yet (a journaled reservation not yet
	// persisted) tells nobody, so the caller awards stored orders.
	Award(ctx context.Context, entryID, orderID string, at time.Time) error
	// LoseWaitlisted makes every waitlisted entry of the item lost, and
	// returns how many. A store that is also an Outbox writes, with the
	// change, an EventLotteryLost at at for each of them.
	LoseWaitlisted(ctx context.Context, itemID string, at time.Time) (int, error)
}

// DrawProgress is how far a draw's steps have gone: the places ranked,
// in the order the store's steps take them (PlacesInEntryOrder), and
// whether its last step is recorded.
type DrawProgress struct {
	Ranked   int64
	Complete bool
}

// Place is an entry's place in its item's draw order: winners first, from
// rank 1.
type Place struct {
	EntryID string
	Rank    int64
}

// PlacesInEntryOrder are the places of a draw's order (entry ids in draw
// order) sorted by entry id, the order a store's steps may rank them in.
// Entry ids are UUIDv7s, so that is about the order the entries were
// stored in: a step of them rewrites the few pages they lie on, where a
// step of the draw order, a shuffle, rewrites a page for nearly every
// entry and the whole table again and again over the draw.
func PlacesInEntryOrder(order []string) []Place {
	places := make([]Place, len(order))
	for i, id := range order {
		places[i] = Place{EntryID: id, Rank: int64(i) + 1}
	}
	slices.SortFunc(places, func(a, b Place) int { return strings.Compare(a.EntryID, b.EntryID) })
	return places
}

// RecordDrawInSteps is RecordDraw's rule, for a store to call with its
// two writes: start stores d unless the item has a draw and returns the
// item's draw as stored, with its progress; step ranks one step of places
// after from (or nothing, when another call's step got there first) and
// returns the progress as it then stands. A draw of another digest is
// returned as stored; one of d's digest is carried on to its last step.
func RecordDrawInSteps(d ItemDraw, start func() (ItemDraw, DrawProgress, error),
	step func(stored ItemDraw, from int64) (DrawProgress, error)) (ItemDraw, error) {
	stored, progress, err := start()
	if err != nil {
		return ItemDraw{}, err
	}
	if stored.EntriesDigest != d.EntriesDigest {
		return stored, nil // another draw's, carried on by calls with its digest
	}
	for !progress.Complete {
		if progress, err = step(stored, progress.Ranked); err != nil {
			return ItemDraw{}, err
		}
	}
	return stored, nil
}

// ErrEntriesSealed reports a new entry of an item whose entries are
// sealed for its draw.
var ErrEntriesSealed = errors.New("the item's entries are sealed for its draw")

// ErrAlreadyAwarded reports an Award of an entry that has its
// reservation already.
var ErrAlreadyAwarded = errors.New("the entry has its reservation already")

// EntriesClosed refuses an entry at now, outside the window; the answer
// carries the window, so that a client waits for the opening instead of
// retrying.
func EntriesClosed(window LotteryConfig, now time.Time) *Error {
	e := Errorf(EEntriesClosed, "the entries are closed: they are taken from %s to %s",
		window.EntriesOpen.UTC().Format(time.RFC3339), window.EntriesClose.UTC().Format(time.RFC3339))
	if now.Before(window.EntriesOpen) {
		e.Message = "the entries are not open yet: they open at " + window.EntriesOpen.UTC().Format(time.RFC3339)
	}
	e.EntriesOpen, e.EntriesClose = window.EntriesOpen.UTC(), window.EntriesClose.UTC()
	return e
}

// LotterySale refuses a place-order of a lottery sale.
func LotterySale() *Error {
	return Errorf(ELotterySale, "this sale is a lottery: enter it (POST /flash-sales/{sale_id}/entries); the draw's winners get reservations")
}
