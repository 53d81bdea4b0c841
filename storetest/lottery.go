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

// A user's second entry of an item is the first one, not created again;
// another item, or another user, has an entry of its own.
func testEnterOnce(tt *tester) {
	es := tt.entryStore()
	sale := tt.createSale()
	item := &sale.Items[0]
	u := user(1)
	first := tt.enter(es, item, u, now)

	again := newEntry(item, u, now.Add(time.Minute))
	again.Status, again.Rank, again.OrderID = flashsale.EntryWon, 7, "order-x"
	got, created, err := es.Enter(tt.Context(), again)
	if err != nil {
		tt.Fatalf("enter again: %v", err)
	}
	if created {
		tt.Fatal("a user's second entry of an item was created")
	}
	tt.wantEntry(got, first)

	// A retry of the very same entry finds it too.
	got, created, err = es.Enter(tt.Context(), &flashsale.Entry{ID: first.ID, SaleID: sale.ID, ItemID: item.ID,
		UserID: u, EnteredAt: now})
	if err != nil || created {
		tt.Fatalf("a retry of an entry: created %v, err %v; want the entry as stored", created, err)
	}
	tt.wantEntry(got, first)

	tt.enter(es, &sale.Items[1], u, now)
	tt.enter(es, item, user(2), now)
	if ids := tt.entryIDs(es, item.ID); len(ids) != 2 {
		tt.Fatalf("item has entries %v, want 2", ids)
	}
}

// A hundred concurrent entries of one user for one item store one: every
// call returns it, and one call created it.
func testEnterRace(tt *tester) {
	es := tt.entryStore()
	sale := tt.createSale()
	item := &sale.Items[0]
	u := user(1)
	const calls = 100
	got := make([]*flashsale.Entry, calls)
	created := make([]bool, calls)
	errs := make([]error, calls)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		e := newEntry(item, u, now.Add(time.Duration(i)*time.Millisecond))
		wg.Go(func() {
			<-start
			got[i], created[i], errs[i] = es.Enter(tt.Context(), e)
		})
	}
	close(start)
	wg.Wait()
	creators := 0
	for i, err := range errs {
		if err != nil {
			tt.Fatalf("enter %d: %v", i, err)
		}
		if created[i] {
			creators++
		}
		if got[i].ID != got[0].ID {
			tt.Fatalf("concurrent entries of one user returned entries %s and %s", got[0].ID, got[i].ID)
		}
	}
	if creators != 1 {
		tt.Fatalf("%d calls created the user's one entry, want 1", creators)
	}
	if ids := tt.entryIDs(es, item.ID); !slices.Equal(ids, []string{got[0].ID}) {
		tt.Fatalf("item has entries %v, want only %s", ids, got[0].ID)
	}
}

// Two hundred users entering at once each get an entry.
func testEnterManyUsers(tt *tester) {
	es := tt.entryStore()
	sale := tt.createSale()
	item := &sale.Items[0]
	const users = 200
	entries := make([]*flashsale.Entry, users)
	errs := make([]error, users)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range users {
		entries[i] = newEntry(item, user(i), now)
		wg.Go(func() {
			<-start
			var created bool
			if _, created, errs[i] = es.Enter(tt.Context(), entries[i]); errs[i] == nil && !created {
				errs[i] = errors.New("not created")
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tt.Fatalf("enter of user %d: %v", i, err)
		}
	}
	want := slices.Sorted(slices.Values(entryIDsOf(entries)))
	if got := tt.entryIDs(es, item.ID); !slices.Equal(got, want) {
		tt.Fatalf("item has %d entries, want the %d users'", len(got), users)
	}
}

// An entry of an item under another sale, or of no item at all, is
// item_not_found and stores nothing.
func testEntryOfAnotherSale(tt *tester) {
	es := tt.entryStore()
	sale, other := tt.createSale(), tt.createSale()
	u := user(1)
	for _, e := range []*flashsale.Entry{
		{ID: newID(), SaleID: sale.ID, ItemID: other.Items[0].ID, UserID: u, EnteredAt: now},
		{ID: newID(), SaleID: sale.ID, ItemID: newID(), UserID: u, EnteredAt: now},
	} {
		_, _, err := es.Enter(tt.Context(), e)
		tt.wantCode("an entry of an item not in its sale", err, flashsale.EItemNotFound)
	}
	if ids := tt.entryIDs(es, other.Items[0].ID); len(ids) != 0 {
		tt.Fatalf("a refused entry was stored: %v", ids)
	}
	// The user's entry of the item in its own sale does not make the item
	// part of another sale.
	tt.enter(es, &other.Items[0], u, now)
	_, _, err := es.Enter(tt.Context(), &flashsale.Entry{ID: newID(), SaleID: sale.ID, ItemID: other.Items[0].ID,
		UserID: u, EnteredAt: now})
	tt.wantCode("an entry of an item of another sale the user entered there", err, flashsale.EItemNotFound)
	if entries, err := es.UserEntries(tt.Context(), sale.ID, u); err != nil || len(entries) != 0 {
		tt.Fatalf("the user's entries of the sale: %v, %v; want none", entries, err)
	}
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

// A draw of thousands of entries is recorded whole.
func testDrawOfManyEntries(tt *tester) {
	es := tt.entryStore()
	const entries, winners = 5000, 1200
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

// RaceEntries enters 1,000 requests at once, spread over the stores (of
// one database, as instances of a fleet): 50 users, each entering two
// items ten times. Each user has exactly one entry of each item, which
// every one of its requests returned, and exactly one request created.
func RaceEntries(t *testing.T, stores []flashsale.OrderStore) {
	t.Helper()
	tt := &tester{T: t, store: stores[0]}
	const users, items, repeats = 50, 2, 10
	sale := tt.createSale()
	type result struct {
		entry   *flashsale.Entry
		created bool
		err     error
	}
	results := make([][]result, users*items)
	for i := range results {
		results[i] = make([]result, repeats)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for u := range users {
		userID := user(u)
		for it := range items {
			for r := range repeats {
				es, ok := stores[(u+it+r)%len(stores)].(flashsale.EntryStore)
				if !ok {
					t.Fatal("the store does not implement flashsale.EntryStore")
				}
				e := newEntry(&sale.Items[it], userID, now)
				wg.Go(func() {
					<-start
					res := &results[u*items+it][r]
					res.entry, res.created, res.err = es.Enter(t.Context(), e)
				})
			}
		}
	}
	close(start)
	wg.Wait()
	owned := make(map[string][]string, items) // item → its users' entry ids
	for k, rs := range results {
		creators := 0
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("enter (user %d, item %d): %v", k/items, k%items, r.err)
			}
			if r.created {
				creators++
			}
			if r.entry.ID != rs[0].entry.ID {
				t.Fatalf("user %d's entries of item %d: %s and %s", k/items, k%items, rs[0].entry.ID, r.entry.ID)
			}
		}
		if creators != 1 {
			t.Fatalf("user %d's entry of item %d created by %d requests, want 1", k/items, k%items, creators)
		}
		itemID := sale.Items[k%items].ID
		owned[itemID] = append(owned[itemID], rs[0].entry.ID)
	}
	for i, es := range stores {
		for itemID, want := range owned {
			got, err := es.(flashsale.EntryStore).EntryIDs(t.Context(), itemID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
				t.Fatalf("store %d: item %s has %d entries, want the %d users' one each", i, itemID, len(got), users)
			}
		}
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

// entryNotification is the notification of event about entry e of d's
// item at at, without an order.
func (d *drawnItem) entryNotification(event flashsale.NotificationEvent, e *flashsale.Entry, at time.Time) flashsale.Notification {
	return flashsale.Notification{Event: event, UserID: e.UserID, EntryID: e.ID, SaleID: d.sale.ID, ItemID: d.item.ID,
		ItemName: d.item.Name, OccurredAt: at}
}

// wonNotification is the lottery.won of entry e, awarded o at at.
func (d *drawnItem) wonNotification(e *flashsale.Entry, o *flashsale.Order, at time.Time) flashsale.Notification {
	n := flashsale.NewNotification(flashsale.EventLotteryWon, o, at)
	n.EntryID, n.ItemName = e.ID, d.item.Name
	return n
}

// reservedNotification is the order.reserved of o, a reservation of d's
// item.
func (d *drawnItem) reservedNotification(o *flashsale.Order) flashsale.Notification {
	n := flashsale.NewNotification(flashsale.EventOrderReserved, o, o.ReservedAt)
	n.ItemName = d.item.Name
	return n
}

// award reserves a unit of d's item for entry e and awards it at at.
func (tt *tester) award(es flashsale.EntryStore, d *drawnItem, e *flashsale.Entry, at time.Time) *flashsale.Order {
	tt.Helper()
	o := tt.createOrder(d.item, e.UserID, at.Add(-time.Second))
	if err := es.Award(tt.Context(), e.ID, o.ID, at); err != nil {
		tt.Fatalf("award entry %s: %v", e.ID, err)
	}
	return o
}

// wantOwed checks that the notification is owed to every channel of the
// scenario, due at at, not attempted yet.
func (tt *tester) wantOwed(n flashsale.Notification, at time.Time) {
	tt.Helper()
	var states []flashsale.DeliveryState
	for _, channel := range tt.channels {
		states = append(states, flashsale.DeliveryState{Channel: channel, NextAttemptAt: stored(at)})
	}
	tt.wantDeliveries(n.ID, states...)
}

// The draw writes a lottery.waitlisted of each waitlisted entry, its place
// on the waitlist from 1, owed to every channel at the draw's time, and
// none for the winners; a second draw of the item writes nothing.
func testOutboxLotteryWaitlisted(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 7, 3)
	late := tt.enter(es, d.item, user(100), now) // not in the order: undrawn, told nothing
	tt.record(es, d, d.orderIDs())

	var waitlisted []string
	for i, e := range d.order {
		if i < d.winners {
			tt.wantNotifications(e.UserID)
			continue
		}
		want := d.entryNotification(flashsale.EventLotteryWaitlisted, e, d.draw.DrawnAt)
		want.Rank = int64(i + 1 - d.winners)
		n := tt.wantNotifications(e.UserID, want)[0]
		tt.wantOwed(n, d.draw.DrawnAt)
		waitlisted = append(waitlisted, n.ID)
	}
	tt.wantNotifications(late.UserID)
	// Written in waitlist order: the first on the waitlist hears first.
	for _, channel := range tt.channels {
		tt.wantClaimed("on "+channel, tt.claim(channel, now.Add(2*time.Hour), time.Minute, 100), channel, 1, waitlisted...)
	}

	again := *d
	again.draw.DrawnAt, again.winners = now.Add(2*time.Hour), 1
	reversed := d.orderIDs()
	slices.Reverse(reversed)
	tt.record(es, &again, reversed)
	for i, e := range d.order {
		if got := tt.notificationsOf(e.UserID); len(got) != min(i/d.winners, 1) {
			tt.Fatalf("after a second draw, the entry drawn %d has %d notifications: %+v", i+1, len(got), got)
		}
	}
}

// An award writes the entry's lottery.won, with the order as it is, owed
// to every channel at the award's time, once; a waitlisted entry awarded
// has heard of its place before.
func testOutboxLotteryWon(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 4, 1)
	tt.record(es, d, d.orderIDs())
	winner, next := d.order[0], d.order[1]

	at := now.Add(2 * time.Hour)
	o := tt.award(es, d, winner, at)
	got := tt.wantNotifications(winner.UserID, d.reservedNotification(o), d.wonNotification(winner, o, at))
	tt.wantOwed(got[1], at)
	if got[1].OrderID != o.ID || got[1].Status != flashsale.OrderReserved || got[1].Amount != o.TotalAmount() {
		tt.Fatalf("lottery.won %+v does not carry order %+v", got[1], o)
	}
	// A retry, with the same order or another, tells nothing more.
	for _, orderID := range []string{o.ID, tt.createOrder(d.item, winner.UserID, at).ID} {
		if err := es.Award(tt.Context(), winner.ID, orderID, at.Add(time.Minute)); !errors.Is(err, flashsale.ErrAlreadyAwarded) {
			tt.Fatalf("second award: %v, want ErrAlreadyAwarded", err)
		}
	}
	if n := tt.notificationsOf(winner.UserID); len(n) != 3 || n[1].ID != got[1].ID || n[2].Event != flashsale.EventOrderReserved {
		tt.Fatalf("after a second award the winner has %+v; want the first award's lottery.won alone", n)
	}

	// The first on the waitlist, reached when a unit came back.
	later := at.Add(time.Hour)
	promoted := tt.award(es, d, next, later)
	waitlisted := d.entryNotification(flashsale.EventLotteryWaitlisted, next, d.draw.DrawnAt)
	waitlisted.Rank = 1
	got = tt.wantNotifications(next.UserID, waitlisted, d.reservedNotification(promoted), d.wonNotification(next, promoted, later))
	tt.wantOwed(got[2], later)
}

// Losing the waitlist writes a lottery.lost of each entry it changes,
// owed to every channel at its time, and nothing the second time; the
// winners and the waitlisted entry awarded before hear nothing of it.
func testOutboxLotteryLost(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 5, 2)
	tt.record(es, d, d.orderIDs())
	awardedAt := now.Add(2 * time.Hour)
	o := tt.award(es, d, d.order[2], awardedAt)

	at := now.Add(3 * time.Hour)
	if n, err := es.LoseWaitlisted(tt.Context(), d.item.ID, at); err != nil || n != 2 {
		tt.Fatalf("lose the waitlist: %d, %v; want 2", n, err)
	}
	if n, err := es.LoseWaitlisted(tt.Context(), d.item.ID, at.Add(time.Minute)); err != nil || n != 0 {
		tt.Fatalf("lose the waitlist again: %d, %v; want 0", n, err)
	}
	tt.wantNotifications(d.order[0].UserID)
	tt.wantNotifications(d.order[1].UserID)
	waitlisted := d.entryNotification(flashsale.EventLotteryWaitlisted, d.order[2], d.draw.DrawnAt)
	waitlisted.Rank = 1
	tt.wantNotifications(d.order[2].UserID, waitlisted, d.reservedNotification(o), d.wonNotification(d.order[2], o, awardedAt))
	for place, e := range d.order[3:] {
		waitlisted := d.entryNotification(flashsale.EventLotteryWaitlisted, e, d.draw.DrawnAt)
		waitlisted.Rank = int64(place + 2)
		got := tt.wantNotifications(e.UserID, waitlisted, d.entryNotification(flashsale.EventLotteryLost, e, at))
		tt.wantOwed(got[1], at)
	}
}

// An entry counted under a phone or an address claims the units it may
// win, its item's per-user limit, across the sale's accounts: a farm
// cannot enter twice with one phone, even at once; the user's stored
// entry comes back whatever the count; another phone passes.
func testEntryIdentityLimits(tt *tester) {
	es := tt.entryStore()
	sale := tt.createLimitedSale(flashsale.PurchaseLimits{PerPhone: sale4Units, PerAddress: sale4Units})
	item := &sale.Items[0]
	if item.PerUserLimit != sale4Units {
		tt.Fatalf("the fixture's first item has per_user_limit %d, want %d", item.PerUserLimit, sale4Units)
	}
	phone := flashsale.Identities{PhoneKey: "phone_entry_" + newID()}
	const farm = 30
	created := make([]bool, farm)
	errs := make([]error, farm)
	first := make([]*flashsale.Entry, farm)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range farm {
		e := newEntry(item, user(i), now)
		e.Identities = phone
		first[i] = e
		wg.Go(func() {
			<-start
			_, created[i], errs[i] = es.Enter(tt.Context(), e)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && created[i]:
			if winner >= 0 {
				tt.Fatalf("two accounts of one phone entered: %d and %d", winner, i)
			}
			winner = i
		case !flashsale.IsCode(err, flashsale.EPurchaseLimitExceeded):
			tt.Fatalf("entry %d under a shared phone: created %v, err %v; want purchase_limit_exceeded", i, created[i], err)
		}
	}
	if winner < 0 {
		tt.Fatal("no account of the phone entered")
	}
	// The winner's entry again: the stored one, not a refusal.
	again := newEntry(item, first[winner].UserID, now)
	again.Identities = phone
	if got, created, err := es.Enter(tt.Context(), again); err != nil || created || got.ID != first[winner].ID {
		tt.Fatalf("the entry of a phone at its limit, again: %+v, created %v, err %v", got, created, err)
	}
	// Another item of the sale is counted under the same phone; another
	// phone is not.
	other := newEntry(&sale.Items[1], user(farm), now)
	other.Identities = phone
	if _, _, err := es.Enter(tt.Context(), other); !flashsale.IsCode(err, flashsale.EPurchaseLimitExceeded) {
		tt.Fatalf("the phone's entry of another item: %v, want purchase_limit_exceeded", err)
	}
	other.Identities = flashsale.Identities{PhoneKey: "phone_other_" + newID()}
	if _, created, err := es.Enter(tt.Context(), other); err != nil || !created {
		tt.Fatalf("another phone's entry: created %v, err %v", created, err)
	}
}

// sale4Units is the per-user limit of the fixture sale's first item.
const sale4Units = 4

// A sealed item takes no new entry; its entrants' entries come back; a
// second seal changes nothing; another item is not sealed.
func testSealEntries(tt *tester) {
	es := tt.entryStore()
	sale := tt.createSale()
	item := &sale.Items[0]
	first := tt.enter(es, item, user(1), now)
	for range 2 {
		if err := es.SealEntries(tt.Context(), item.ID, now); err != nil {
			tt.Fatalf("seal: %v", err)
		}
	}
	if _, _, err := es.Enter(tt.Context(), newEntry(item, user(2), now)); !errors.Is(err, flashsale.ErrEntriesSealed) {
		tt.Fatalf("a new entry of a sealed item: %v, want ErrEntriesSealed", err)
	}
	got, created, err := es.Enter(tt.Context(), newEntry(item, first.UserID, now))
	if err != nil || created {
		tt.Fatalf("an entrant's entry of a sealed item: created %v, err %v", created, err)
	}
	tt.wantEntry(got, first)
	if ids := tt.entryIDs(es, item.ID); len(ids) != 1 || ids[0] != first.ID {
		tt.Fatalf("a sealed item's entries: %v", ids)
	}
	tt.enter(es, &sale.Items[1], user(2), now)
}

// Entries race the seal: every entry stored is in the list read after the
// seal returns, and none is stored after it.
func testSealEntriesRace(tt *tester) {
	es := tt.entryStore()
	sale := tt.createSale()
	item := &sale.Items[0]
	const users = 200
	created := make([]string, users)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range users {
		wg.Go(func() {
			<-start
			e, ok, err := es.Enter(tt.Context(), newEntry(item, user(i), now))
			switch {
			case err == nil && ok:
				created[i] = e.ID
			case err != nil && !errors.Is(err, flashsale.ErrEntriesSealed):
				tt.Errorf("enter: %v", err)
			}
		})
	}
	close(start)
	if err := es.SealEntries(tt.Context(), item.ID, now); err != nil {
		tt.Fatalf("seal: %v", err)
	}
	sealedList := tt.entryIDs(es, item.ID)
	wg.Wait()
	listed := make(map[string]bool, len(sealedList))
	for _, id := range sealedList {
		listed[id] = true
	}
	for _, id := range created {
		if id != "" && !listed[id] {
			tt.Fatalf("entry %s was stored but is not in the list read after the seal", id)
		}
	}
	if after := tt.entryIDs(es, item.ID); len(after) != len(sealedList) {
		tt.Fatalf("%d entries after the seal's list of %d", len(after), len(sealedList))
	}
}
