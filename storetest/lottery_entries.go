package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

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

// An entry counted under a phone, an address or a card claims the units
// it may win, its item's per-user limit, across the sale's accounts: a
// farm cannot enter twice with one phone, address or card, even at once;
// the user's stored entry comes back whatever the count; another key
// passes.
func testEntryIdentityLimits(tt *tester) {
	es := tt.entryStore()
	for _, kind := range []struct {
		reason string
		ids    func(key string) flashsale.Identities
	}{
		{flashsale.LimitPhone, func(key string) flashsale.Identities { return flashsale.Identities{PhoneKey: key} }},
		{flashsale.LimitAddress, func(key string) flashsale.Identities { return flashsale.Identities{AddressKey: key} }},
		{flashsale.LimitCard, func(key string) flashsale.Identities { return flashsale.Identities{CardKey: key} }},
	} {
		sale := tt.createLimitedSale(flashsale.PurchaseLimits{PerPhone: sale4Units, PerAddress: sale4Units, PerCard: sale4Units})
		item := &sale.Items[0]
		if item.PerUserLimit != sale4Units {
			tt.Fatalf("the fixture's first item has per_user_limit %d, want %d", item.PerUserLimit, sale4Units)
		}
		shared := kind.ids(kind.reason + "_entry_" + newID())
		const farm = 30
		created := make([]bool, farm)
		errs := make([]error, farm)
		first := make([]*flashsale.Entry, farm)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range farm {
			e := newEntry(item, user(i), now)
			e.Identities = shared
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
					tt.Fatalf("two accounts of one %s entered: %d and %d", kind.reason, winner, i)
				}
				winner = i
			case !isLimit(err, kind.reason):
				tt.Fatalf("entry %d under a shared %s: created %v, err %v; want purchase_limit_exceeded for it", i, kind.reason, created[i], err)
			}
		}
		if winner < 0 {
			tt.Fatalf("no account of the %s entered", kind.reason)
		}
		// The winner's entry again: the stored one, not a refusal.
		again := newEntry(item, first[winner].UserID, now)
		again.Identities = shared
		if got, created, err := es.Enter(tt.Context(), again); err != nil || created || got.ID != first[winner].ID {
			tt.Fatalf("the entry of a %s at its limit, again: %+v, created %v, err %v", kind.reason, got, created, err)
		}
		// Another item of the sale is counted under the same key; another
		// key is not.
		other := newEntry(&sale.Items[1], user(farm), now)
		other.Identities = shared
		if _, _, err := es.Enter(tt.Context(), other); !isLimit(err, kind.reason) {
			tt.Fatalf("the %s's entry of another item: %v, want purchase_limit_exceeded", kind.reason, err)
		}
		other.Identities = kind.ids(kind.reason + "_other_" + newID())
		if _, created, err := es.Enter(tt.Context(), other); err != nil || !created {
			tt.Fatalf("another %s's entry: created %v, err %v", kind.reason, created, err)
		}
	}
}

// isLimit reports whether err is purchase_limit_exceeded for reason.
func isLimit(err error, reason string) bool {
	e, ok := err.(*flashsale.Error)
	return ok && e.Code == flashsale.EPurchaseLimitExceeded && e.Reason == reason
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
