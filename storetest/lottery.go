package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
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

// drawnItem is an item with entries, each of its own user, in the order
// of a draw that a scenario records.
type drawnItem struct {
	sale    *flashsale.Sale
	item    *flashsale.Item
	order   []*flashsale.Entry
	draw    flashsale.ItemDraw
	winners int
}

// createDrawnItem enters users on the sale's first item and returns the
// draw to record, its order a shuffle of the entries' order of entry.
func (tt *tester) createDrawnItem(es flashsale.EntryStore, entries, winners int) *drawnItem {
	tt.Helper()
	sale := tt.createSale()
	d := &drawnItem{sale: sale, item: &sale.Items[0], winners: winners}
	for i := range entries {
		d.order = append(d.order, tt.enter(es, d.item, user(i), now.Add(time.Duration(i)*time.Second)))
	}
	// A fixed permutation that is neither the entries' order nor the ids'.
	for i := range d.order {
		j := (i*7 + 3) % len(d.order)
		d.order[i], d.order[j] = d.order[j], d.order[i]
	}
	d.draw = flashsale.ItemDraw{SaleID: sale.ID, ItemID: d.item.ID, EntriesDigest: "digest-" + newID(),
		EntryCount: int64(entries), DrawnAt: now.Add(time.Hour)}
	return d
}

// record records the draw, which must come back as the one stored.
func (tt *tester) record(es flashsale.EntryStore, d *drawnItem, order []string) flashsale.ItemDraw {
	tt.Helper()
	got, err := es.RecordDraw(tt.Context(), d.draw, order, d.winners)
	if err != nil {
		tt.Fatalf("record draw: %v", err)
	}
	tt.wantUTC("draw", got.DrawnAt)
	return got
}

// wantDrawn checks that the item's entries are ranked in d's order, the
// first winners won and the rest waitlisted.
func (tt *tester) wantDrawn(es flashsale.EntryStore, d *drawnItem) {
	tt.Helper()
	for i, e := range d.order {
		want := *e
		want.Rank, want.Status = int64(i+1), flashsale.EntryWaitlisted
		if i < d.winners {
			want.Status = flashsale.EntryWon
		}
		tt.wantEntry(tt.userEntry(es, d.item, e.UserID), &want)
	}
}

func (d *drawnItem) orderIDs() []string { return entryIDsOf(d.order) }

func (d *drawnItem) storedDraw() flashsale.ItemDraw {
	s := d.draw
	s.DrawnAt = stored(s.DrawnAt)
	return s
}

// A draw ranks the item's entries, winners first, once: a second draw of
// the item, in another order, changes nothing and returns the first. Ids
// in the order that are not the item's entries change nothing.
func testRecordDraw(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 7, 3)
	elsewhere := tt.enter(es, &d.sale.Items[1], user(100), now)
	undrawn := tt.enter(es, d.item, user(101), now) // not in the order: a late entry stays entered

	order := append(d.orderIDs(), elsewhere.ID, "no-such-entry-"+newID())
	if got := tt.record(es, d, order); got != d.storedDraw() {
		tt.Fatalf("draw\n got %+v\nwant %+v", got, d.storedDraw())
	}
	tt.wantDrawn(es, d)
	tt.wantEntry(tt.userEntry(es, &d.sale.Items[1], elsewhere.UserID), elsewhere)
	tt.wantEntry(tt.userEntry(es, d.item, undrawn.UserID), undrawn)

	again := *d
	again.draw.EntriesDigest, again.draw.EntryCount, again.draw.DrawnAt = "other", 1, now.Add(2*time.Hour)
	again.winners = 6
	reversed := d.orderIDs()
	slices.Reverse(reversed)
	if got := tt.record(es, &again, reversed); got != d.storedDraw() {
		tt.Fatalf("second draw of an item\n got %+v\nwant the first %+v", got, d.storedDraw())
	}
	tt.wantDrawn(es, d)

	other := *d
	other.item = &d.sale.Items[2]
	other.draw.ItemID, other.draw.EntriesDigest, other.draw.EntryCount = other.item.ID, "empty", 0
	tt.record(es, &other, nil)
	draws, err := es.ItemDraws(tt.Context(), d.sale.ID)
	if err != nil {
		tt.Fatal(err)
	}
	want := []flashsale.ItemDraw{d.storedDraw(), other.storedDraw()}
	sortDraws := func(draws []flashsale.ItemDraw) {
		slices.SortFunc(draws, func(a, b flashsale.ItemDraw) int { return strings.Compare(a.ItemID, b.ItemID) })
	}
	sortDraws(draws)
	sortDraws(want)
	if !reflect.DeepEqual(draws, want) {
		tt.Fatalf("item draws\n got %+v\nwant %+v", draws, want)
	}
	if draws, err := es.ItemDraws(tt.Context(), tt.createSale().ID); err != nil || len(draws) != 0 {
		tt.Fatalf("draws of an undrawn sale: %v, %v; want none", draws, err)
	}

	// A draw of an item under another sale is no draw.
	foreign := d.draw
	foreign.SaleID = tt.createSale().ID
	foreign.ItemID = d.sale.Items[1].ID
	_, err = es.RecordDraw(tt.Context(), foreign, nil, 0)
	tt.wantCode("a draw of an item not in its sale", err, flashsale.EItemNotFound)
}

// Draws of one item recorded at once, in different orders, have one
// outcome: every call returns the draw that was stored, and the entries
// are ranked in its order.
func testRecordDrawRace(tt *tester) {
	raceDraws(tt, []flashsale.OrderStore{tt.store})
}

// Calls of one draw at once, each with its digest and order, as instances
// carrying on a draw cut short make them: they take its steps in turn,
// and each entry is ranked once, each waitlisted one told once.
func testDrawStepsRace(tt *tester) {
	raceDrawSteps(tt, []flashsale.OrderStore{tt.store})
}

// RaceDrawSteps is the DrawStepsRace scenario across stores on one
// database, as instances of a fleet.
func RaceDrawSteps(t *testing.T, stores []flashsale.OrderStore) {
	t.Helper()
	raceDrawSteps(&tester{T: t, store: stores[0]}, stores)
}

func raceDrawSteps(tt *tester, stores []flashsale.OrderStore) {
	tt.Helper()
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 40, 9)
	const calls = 8
	got := make([]flashsale.ItemDraw, calls)
	errs := make([]error, calls)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		es := stores[i%len(stores)].(flashsale.EntryStore)
		wg.Go(func() {
			<-start
			got[i], errs[i] = es.RecordDraw(tt.Context(), d.draw, d.orderIDs(), d.winners)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tt.Fatalf("record draw %d: %v", i, err)
		}
		if got[i] != d.storedDraw() {
			tt.Fatalf("call %d returned %+v, want %+v", i, got[i], d.storedDraw())
		}
	}
	tt.wantDrawn(es, d)
	if draws, err := es.ItemDraws(tt.Context(), d.sale.ID); err != nil || len(draws) != 1 {
		tt.Fatalf("the sale's draws: %+v, %v; want the one", draws, err)
	}
	outbox, ok := tt.store.(flashsale.Outbox)
	if !ok {
		return
	}
	for i, e := range d.order {
		told, err := outbox.NotificationsAfter(tt.Context(), e.UserID, "", 10)
		if err != nil {
			tt.Fatal(err)
		}
		if want := min(i/d.winners, 1); len(told) != want {
			tt.Fatalf("the entry drawn %d has %d notifications, want %d: %+v", i+1, len(told), want, told)
		}
	}
}

// DrawCutShort checks that a draw cut short is carried on: cut records
// the start of a draw and its first step only, as a store does before a
// crash. The draw is not among the sale's draws then, and its first
// entries show their outcome; RecordDraw with the draw's digest carries it
// on to the outcome a whole draw has, each waitlisted entry told once.
func DrawCutShort(t *testing.T, store flashsale.OrderStore, cut func(d flashsale.ItemDraw, order []string, winners int) error) {
	tt := &tester{T: t, store: store}
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 10, 4)
	if err := cut(d.draw, d.orderIDs(), d.winners); err != nil {
		tt.Fatalf("the draw's first step: %v", err)
	}
	if draws, err := es.ItemDraws(tt.Context(), d.sale.ID); err != nil || len(draws) != 0 {
		tt.Fatalf("the sale's draws after a draw cut short: %+v, %v; want none yet", draws, err)
	}
	if first := tt.userEntry(es, d.item, d.order[0].UserID); first.Rank != 1 || first.Status != flashsale.EntryWon {
		tt.Fatalf("the first entry drawn, after the first step: %+v, want ranked 1 and won", first)
	}
	if last := tt.userEntry(es, d.item, d.order[len(d.order)-1].UserID); last.Status != flashsale.EntryEntered {
		tt.Fatalf("the last entry drawn, after the first step: %+v, want still entered", last)
	}

	if got := tt.record(es, d, d.orderIDs()); got != d.storedDraw() {
		tt.Fatalf("the draw carried on: %+v, want %+v", got, d.storedDraw())
	}
	tt.wantDrawn(es, d)
	if draws, err := es.ItemDraws(tt.Context(), d.sale.ID); err != nil || len(draws) != 1 {
		tt.Fatalf("the sale's draws once carried on: %+v, %v; want the one", draws, err)
	}
	if outbox, ok := store.(flashsale.Outbox); ok {
		for i, e := range d.order {
			told, err := outbox.NotificationsAfter(tt.Context(), e.UserID, "", 10)
			if err != nil {
				tt.Fatal(err)
			}
			if want := min(i/d.winners, 1); len(told) != want {
				tt.Fatalf("the entry drawn %d has %d notifications, want %d: %+v", i+1, len(told), want, told)
			}
		}
	}
}

// A draw of a thousand entries is recorded whole, over as many steps as
// the store takes (the suites' stores take hundreds).
func testDrawOfManyEntries(tt *tester) {
	es := tt.entryStore()
	const entries, winners = 1000, 240
	sale := tt.createSale()
	item := &sale.Items[0]
	all := make([]*flashsale.Entry, entries)
	errs := make([]error, entries)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < entries; i += 64 {
				all[i], _, errs[i] = es.Enter(tt.Context(), newEntry(item, user(i), now))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tt.Fatalf("enter: %v", err)
	}
	order := entryIDsOf(all)
	slices.Reverse(order)
	d := flashsale.ItemDraw{SaleID: sale.ID, ItemID: item.ID, EntriesDigest: "many", EntryCount: entries, DrawnAt: now}
	if _, err := es.RecordDraw(tt.Context(), d, order, winners); err != nil {
		tt.Fatalf("record a draw of %d entries: %v", entries, err)
	}
	next := tt.nextToReserve(es, item.ID, entries+1)
	if len(next) != entries {
		tt.Fatalf("%d entries owed a reservation, want %d", len(next), entries)
	}
	for i, e := range next {
		wantStatus := flashsale.EntryWaitlisted
		if i < winners {
			wantStatus = flashsale.EntryWon
		}
		if e.ID != order[i] || e.Rank != int64(i+1) || e.Status != wantStatus {
			tt.Fatalf("entry %d owed a reservation: %s ranked %d %s; want %s ranked %d %s",
				i, e.ID, e.Rank, e.Status, order[i], i+1, wantStatus)
		}
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

// RaceDraws records one item's draw from every store at once, each of the
// stores (of one database, as instances of a fleet) several times, each
// call with an order and a digest of its own: one draw is stored, every
// call returns it, and the entries are ranked in its order.
func RaceDraws(t *testing.T, stores []flashsale.OrderStore) {
	t.Helper()
	raceDraws(&tester{T: t, store: stores[0]}, stores)
}

func raceDraws(tt *tester, stores []flashsale.OrderStore) {
	tt.Helper()
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 20, 5)
	const calls = 12
	orders := make(map[string][]string, calls) // digest → order
	got := make([]flashsale.ItemDraw, calls)
	errs := make([]error, calls)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		draw := d.draw
		draw.EntriesDigest = fmt.Sprintf("digest-%d", i)
		order := d.orderIDs()
		k := i % len(order)
		order = append(order[k:], order[:k]...) // each call's order its own rotation
		orders[draw.EntriesDigest] = order
		es := stores[i%len(stores)].(flashsale.EntryStore)
		wg.Go(func() {
			<-start
			got[i], errs[i] = es.RecordDraw(tt.Context(), draw, order, d.winners)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tt.Fatalf("record draw %d: %v", i, err)
		}
		if got[i] != got[0] {
			tt.Fatalf("concurrent draws of one item returned %+v and %+v", got[0], got[i])
		}
	}
	won, ok := orders[got[0].EntriesDigest]
	if !ok {
		tt.Fatalf("the draws returned %+v, which none recorded", got[0])
	}
	byID := make(map[string]*flashsale.Entry, len(d.order))
	for _, e := range d.order {
		byID[e.ID] = e
	}
	d.order = d.order[:0]
	for _, id := range won {
		d.order = append(d.order, byID[id])
	}
	tt.wantDrawn(es, d)
}

// The lottery's notifications (flashsale.EntryStore's comments), in the
// outbox scenarios: a store that keeps a lottery and an outbox writes them
// with the changes they tell of.
