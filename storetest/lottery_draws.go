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

// The lottery's draws: recorded once, in steps, raced and carried on.

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
	tt.wantWaitlistToldOnce(d)
}

// wantWaitlistToldOnce checks, of a store that is also an Outbox, that
// each waitlisted entry of the draw has its one notification and each
// winner none.
func (tt *tester) wantWaitlistToldOnce(d *drawnItem) {
	tt.Helper()
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
	tt.wantWaitlistToldOnce(d)
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
