package storetest

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// The lottery's scenarios (flashsale.EntryStore). Beyond the port's
// comments they pin down:
//
//   - A new entry is stored entered, rank 0, without an order, whatever
//     the Entry given says; its time comes back in UTC, to the microsecond.
//   - An entry of an item that is not its sale's is item_not_found, also
//     when the user has an entry of the item in the item's own sale.
//   - RecordDraw ranks only the item's own entries: an id in the order
//     that is another item's entry, or none at all, changes nothing.
//   - Award of an unknown entry is not_found; of an entry neither won nor
//     waitlisted, an error other than ErrAlreadyAwarded, changing nothing.
var lotteryScenarios = []scenario{
	{"EnterOnce", testEnterOnce},
	{"EnterRace", testEnterRace},
	{"EnterManyUsers", testEnterManyUsers},
	{"EntryOfAnotherSale", testEntryOfAnotherSale},
	{"EntryIDsByBytes", testEntryIDsByBytes},
	{"RecordDraw", testRecordDraw},
	{"RecordDrawRace", testRecordDrawRace},
	{"DrawStepsRace", testDrawStepsRace},
	{"DrawOfManyEntries", testDrawOfManyEntries},
	{"NextToReserveAndAward", testNextToReserveAndAward},
	{"LoseWaitlisted", testLoseWaitlisted},
	{"UserEntries", testUserEntries},
	{"EntryIdentityLimits", testEntryIdentityLimits},
	{"SealEntries", testSealEntries},
	{"SealEntriesRace", testSealEntriesRace},
}

// entryStore is the scenario's store as a flashsale.EntryStore; the
// scenario skips on a store that keeps no lottery.
func (tt *tester) entryStore() flashsale.EntryStore {
	tt.Helper()
	es, ok := tt.store.(flashsale.EntryStore)
	if !ok {
		tt.Skip("the store does not implement flashsale.EntryStore")
	}
	return es
}

// newEntry returns a new entry of item by the user, entered at.
func newEntry(item *flashsale.Item, userID string, at time.Time) *flashsale.Entry {
	return &flashsale.Entry{
		ID: newID(), SaleID: item.SaleID, ItemID: item.ID, UserID: userID,
		EnteredAt: at, Status: flashsale.EntryEntered,
	}
}

// storedEntry is a new entry as the store returns it.
func storedEntry(e *flashsale.Entry) *flashsale.Entry {
	c := *e
	c.EnteredAt = stored(c.EnteredAt)
	c.Status, c.Rank, c.OrderID = flashsale.EntryEntered, 0, ""
	return &c
}

// enter stores a new entry, which must be created.
func (tt *tester) enter(es flashsale.EntryStore, item *flashsale.Item, userID string, at time.Time) *flashsale.Entry {
	tt.Helper()
	e := newEntry(item, userID, at)
	got, created, err := es.Enter(tt.Context(), e)
	if err != nil {
		tt.Fatalf("enter: %v", err)
	}
	if !created {
		tt.Fatalf("a user's first entry of an item was not created: %+v", got)
	}
	tt.wantEntry(got, storedEntry(e))
	return got
}

// wantEntry checks an entry the store returned.
func (tt *tester) wantEntry(got, want *flashsale.Entry) {
	tt.Helper()
	if got == nil {
		tt.Fatalf("got no entry, want %+v", want)
	}
	tt.wantUTC("entry", got.EnteredAt)
	if !reflect.DeepEqual(got, want) {
		tt.Fatalf("entry\n got %+v\nwant %+v", got, want)
	}
}

// userEntry returns the user's entry of item, which must exist.
func (tt *tester) userEntry(es flashsale.EntryStore, item *flashsale.Item, userID string) *flashsale.Entry {
	tt.Helper()
	entries, err := es.UserEntries(tt.Context(), item.SaleID, userID)
	if err != nil {
		tt.Fatalf("user entries: %v", err)
	}
	for _, e := range entries {
		if e.ItemID == item.ID {
			return e
		}
	}
	tt.Fatalf("user %s has no entry of item %s", userID, item.ID)
	return nil
}

func (tt *tester) entryIDs(es flashsale.EntryStore, itemID string) []string {
	tt.Helper()
	ids, err := es.EntryIDs(tt.Context(), itemID)
	if err != nil {
		tt.Fatalf("entry ids of item %s: %v", itemID, err)
	}
	return ids
}

func (tt *tester) nextToReserve(es flashsale.EntryStore, itemID string, limit int) []*flashsale.Entry {
	tt.Helper()
	next, err := es.NextToReserve(tt.Context(), itemID, limit)
	if err != nil {
		tt.Fatalf("next to reserve of item %s: %v", itemID, err)
	}
	return next
}

// wantEntryIDs checks that entries are exactly want, in that order.
func (tt *tester) wantEntryIDs(what string, entries []*flashsale.Entry, want ...*flashsale.Entry) {
	tt.Helper()
	if !slices.Equal(entryIDsOf(entries), entryIDsOf(want)) {
		tt.Fatalf("%s: got entries %v, want %v", what, entryIDsOf(entries), entryIDsOf(want))
	}
}

func entryIDsOf(entries []*flashsale.Entry) []string {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids
}

// Entry ids come sorted by their bytes, not by a language's rules: upper
// case before lower, digits by code point, multi-byte characters last.
func testEntryIDsByBytes(tt *tester) {
	es := tt.entryStore()
	sale := tt.createSale()
	item := &sale.Items[0]
	prefix := newID() + "/"
	var ids []string
	for i, suffix := range []string{"b2", "B-1", "a-1", "é", "A-2", "b10", "Z", "_x", "a 1", "-1"} {
		e := newEntry(item, user(i), now)
		e.ID = prefix + suffix
		if _, _, err := es.Enter(tt.Context(), e); err != nil {
			tt.Fatalf("enter %q: %v", e.ID, err)
		}
		ids = append(ids, e.ID)
	}
	want := slices.Sorted(slices.Values(ids)) // Go compares strings by bytes
	if got := tt.entryIDs(es, item.ID); !slices.Equal(got, want) {
		tt.Fatalf("entry ids\n got %q\nwant %q", got, want)
	}
}

// The entries owed a reservation are the unawarded winners, then the
// waitlist, by rank; an award takes an entry off, once.
func testNextToReserveAndAward(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 6, 2)
	if got := tt.nextToReserve(es, d.item.ID, 10); len(got) != 0 {
		tt.Fatalf("undrawn entries owed a reservation: %v", entryIDsOf(got))
	}
	undrawn := d.order[0]
	if err := es.Award(tt.Context(), undrawn.ID, "order-"+newID(), now); err == nil || errors.Is(err, flashsale.ErrAlreadyAwarded) {
		tt.Fatalf("award of an undrawn entry: %v, want a refusal", err)
	}
	tt.wantEntry(tt.userEntry(es, d.item, undrawn.UserID), undrawn)

	tt.record(es, d, d.orderIDs())
	ranked := make([]*flashsale.Entry, len(d.order)) // as stored after the draw
	for i, e := range d.order {
		ranked[i] = tt.userEntry(es, d.item, e.UserID)
	}
	tt.wantEntryIDs("after the draw", tt.nextToReserve(es, d.item.ID, 10), ranked...)
	tt.wantEntryIDs("limited", tt.nextToReserve(es, d.item.ID, 3), ranked[:3]...)
	tt.wantEntryIDs("limit 0", tt.nextToReserve(es, d.item.ID, 0))
	got := tt.nextToReserve(es, d.item.ID, 1)
	tt.wantEntryIDs("first", got, ranked[0])
	tt.wantEntry(got[0], ranked[0])

	award := func(e *flashsale.Entry) *flashsale.Entry {
		tt.Helper()
		orderID := "order-" + newID()
		if err := es.Award(tt.Context(), e.ID, orderID, now); err != nil {
			tt.Fatalf("award entry ranked %d: %v", e.Rank, err)
		}
		want := *e
		want.Status, want.OrderID = flashsale.EntryWon, orderID
		tt.wantEntry(tt.userEntry(es, d.item, e.UserID), &want)
		return &want
	}
	awarded := award(ranked[0])
	tt.wantEntryIDs("after the first winner's award", tt.nextToReserve(es, d.item.ID, 10), ranked[1:]...)
	// A waitlisted entry reached before the second winner is awarded.
	promoted := award(ranked[2])
	tt.wantEntryIDs("after an award from the waitlist", tt.nextToReserve(es, d.item.ID, 10),
		ranked[1], ranked[3], ranked[4], ranked[5])

	for _, e := range []*flashsale.Entry{awarded, promoted} {
		if err := es.Award(tt.Context(), e.ID, "order-"+newID(), now); !errors.Is(err, flashsale.ErrAlreadyAwarded) {
			tt.Fatalf("second award of an entry: %v, want ErrAlreadyAwarded", err)
		}
		tt.wantEntry(tt.userEntry(es, d.item, e.UserID), e)
	}
	err := es.Award(tt.Context(), "no-such-entry-"+newID(), "order-"+newID(), now)
	tt.wantCode("award of an unknown entry", err, flashsale.ENotFound)
}

// Losing the waitlist makes its entries lost and counts them; the
// winners keep their place, and a second call finds nothing.
func testLoseWaitlisted(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 5, 2)
	if n, err := es.LoseWaitlisted(tt.Context(), d.item.ID, now); err != nil || n != 0 {
		tt.Fatalf("lose the waitlist of an undrawn item: %d, %v; want 0", n, err)
	}
	tt.record(es, d, d.orderIDs())
	// One waitlisted entry reached its reservation: it is no longer on the
	// waitlist.
	if err := es.Award(tt.Context(), d.order[2].ID, "order-"+newID(), now); err != nil {
		tt.Fatal(err)
	}
	n, err := es.LoseWaitlisted(tt.Context(), d.item.ID, now)
	if err != nil || n != 2 {
		tt.Fatalf("lose the waitlist: %d, %v; want 2", n, err)
	}
	for i, e := range d.order {
		got := tt.userEntry(es, d.item, e.UserID)
		want := map[int]flashsale.EntryStatus{0: flashsale.EntryWon, 1: flashsale.EntryWon, 2: flashsale.EntryWon,
			3: flashsale.EntryLost, 4: flashsale.EntryLost}[i]
		if got.Status != want || got.Rank != int64(i+1) {
			tt.Fatalf("entry ranked %d: %s ranked %d, want %s", i+1, got.Status, got.Rank, want)
		}
	}
	if n, err := es.LoseWaitlisted(tt.Context(), d.item.ID, now); err != nil || n != 0 {
		tt.Fatalf("lose the waitlist again: %d, %v; want 0", n, err)
	}
	tt.wantEntryIDs("after the waitlist is lost", tt.nextToReserve(es, d.item.ID, 10), d.order[0], d.order[1])
}

// A user's entries of a sale come oldest first, ties by id, without the
// user's entries of other sales nor other users' entries.
func testUserEntries(tt *tester) {
	es := tt.entryStore()
	sale, other := tt.createSale(), tt.createSale()
	u := user(1)
	if entries, err := es.UserEntries(tt.Context(), sale.ID, u); err != nil || len(entries) != 0 {
		tt.Fatalf("entries of a user who entered nothing: %v, %v", entries, err)
	}
	late := tt.enter(es, &sale.Items[0], u, now.Add(2*time.Second))
	// Two entries in one microsecond: their ids decide.
	tied := []*flashsale.Entry{
		tt.enter(es, &sale.Items[1], u, now.Add(time.Second)),
		tt.enter(es, &sale.Items[2], u, now.Add(time.Second+time.Nanosecond)),
	}
	slices.SortFunc(tied, func(a, b *flashsale.Entry) int { return strings.Compare(a.ID, b.ID) })
	tt.enter(es, &other.Items[0], u, now)
	tt.enter(es, &sale.Items[0], user(2), now)

	got, err := es.UserEntries(tt.Context(), sale.ID, u)
	if err != nil {
		tt.Fatal(err)
	}
	want := []*flashsale.Entry{tied[0], tied[1], late}
	tt.wantEntryIDs("the user's entries", got, want...)
	for i := range got {
		tt.wantEntry(got[i], want[i])
	}
}
