package http_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// lotterySale creates a lottery of one item of stock units, limit 1,
// whose entries are open now and close in an hour.
func (h *harness) lotterySale(stock int64) sale {
	h.t.Helper()
	now := h.clock.Now()
	return h.createSale(saleSpec{items: []itemSpec{{stock: stock, limit: 1}}, start: now.Add(-time.Minute),
		end: now.Add(3 * time.Hour), ttl: 60, lottery: map[string]any{
			"entries_open": now.Add(-time.Minute).Format(time.RFC3339), "entries_close": now.Add(time.Hour).Format(time.RFC3339),
		}})
}

// enter enters user into the sale's first item and returns the answer.
func (h *harness) enter(s sale, user string) *response {
	h.t.Helper()
	return h.do("POST", "/flash-sales/"+s.ID+"/entries", h.token(user, false), map[string]any{"item_id": s.Items[0]})
}

// entriesOf returns the user's entries by item id.
func (h *harness) entriesOf(s sale, user string) map[string]map[string]any {
	h.t.Helper()
	r := h.do("GET", "/flash-sales/"+s.ID+"/entries", h.token(user, false), nil)
	expect(h.t, r, 200, "")
	byItem := map[string]map[string]any{}
	for _, e := range r.JSON(h.t)["entries"].([]any) {
		entry := e.(map[string]any)
		byItem[entry["item_id"].(string)] = entry
	}
	return byItem
}

// tickLotteries runs the leader's lottery tick once.
func (h *harness) tickLotteries() {
	h.t.Helper()
	if err := h.service.TickLotteries(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
}

// A lottery from its entries to its last wave: one entry per user, no
// place-order, a commitment before the draw and the seed after it, the
// winners those the published data make, reservations for them, a
// waitlist that moves when a winner does not pay, and lost entries once
// the sale ends; the stock's invariant holds all along.
func TestLotteryEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.lotterySale(3)
	users := []string{"ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal"}
	entryOf := map[string]string{} // entry id -> user
	for _, user := range users {
		r := h.enter(s, user)
		expect(t, r, 201, "")
		e := r.JSON(t)
		if e["status"] != "entered" || e["item_id"] != s.Items[0] {
			t.Fatalf("entry: %s", r.Body)
		}
		entryOf[e["entry_id"].(string)] = user
		again := h.enter(s, user)
		expect(t, again, 200, "")
		if again.JSON(t)["entry_id"] != e["entry_id"] {
			t.Fatalf("a second entry of %s: %s, first %s", user, again.Body, r.Body)
		}
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "ann", 1), 400, "lottery_sale")
	expect(t, h.do("POST", "/flash-sales/"+s.ID+"/queue", h.token("ann", false), nil), 409, "no_waiting_room")

	before := h.do("GET", "/flash-sales/"+s.ID+"/draw", "", nil).JSON(t)
	if before["status"] != "open" || before["seed"] != nil || len(before["commitment"].(string)) != 64 {
		t.Fatalf("the draw before the close: %v", before)
	}
	expect(t, h.do("GET", "/flash-sales/"+s.ID+"/draw/"+s.Items[0]+"/entries", "", nil), 404, "not_found")

	h.clock.Advance(time.Hour)
	closed := h.enter(s, "late")
	expect(t, closed, 400, "entries_closed")
	if e := closed.JSON(t)["error"].(map[string]any); e["entries_open"] == nil || e["entries_close"] == nil {
		t.Fatalf("entries_closed without its window: %s", closed.Body)
	}
	h.tickLotteries()
	h.tickLotteries() // a second tick draws nothing again

	after := h.do("GET", "/flash-sales/"+s.ID+"/draw", "", nil).JSON(t)
	seed, _ := after["seed"].(string)
	raw, _ := hex.DecodeString(seed)
	if sum := sha256.Sum256(raw); after["status"] != "drawn" || hex.EncodeToString(sum[:]) != before["commitment"] || after["commitment"] != before["commitment"] {
		t.Fatalf("the draw after the close: %v; the commitment before it was %v", after, before["commitment"])
	}
	item := after["items"].([]any)[0].(map[string]any)
	listed := h.do("GET", item["entries_url"].(string), "", nil)
	expect(t, listed, 200, "")
	ids := strings.Fields(string(listed.Body))
	if len(ids) != len(users) || !slices.IsSorted(ids) || item["entry_count"] != float64(len(users)) || item["entries_digest"] != draw.Digest(ids) {
		t.Fatalf("the published entries %v do not match the document %v", ids, item)
	}
	order := draw.Order(must(draw.ParseSeed(seed)), ids)

	// The first three in the published order won, with reservations; the
	// others wait in that order.
	for place, id := range order {
		user := entryOf[id]
		e := h.entriesOf(s, user)[s.Items[0]]
		switch {
		case place < 3 && (e["status"] != "won" || e["order_id"] == nil):
			t.Fatalf("%s, drawn %d, has %v; want won with a reservation", user, place+1, e)
		case place >= 3 && (e["status"] != "waitlisted" || e["rank"] != float64(place-2)):
			t.Fatalf("%s, drawn %d, has %v; want waitlisted at %d", user, place+1, e, place-2)
		}
	}
	h.wantStock(s.ID, s.Items[0], 0, 3, 0)

	// The first winner pays, the second cancels, the third lets the
	// reservation expire: the next two on the waitlist get reservations.
	won := func(place int) (string, string) {
		user := entryOf[order[place]]
		return user, h.entriesOf(s, user)[s.Items[0]]["order_id"].(string)
	}
	payer, paid := won(0)
	expect(t, h.pay(paid, payer, "tok_visa"), 200, "")
	canceller, cancelled := won(1)
	expect(t, h.do("POST", "/orders/"+cancelled+"/cancel", h.token(canceller, false), nil), 200, "")
	h.clock.Advance(61 * time.Second)
	if _, err := h.service.ExpireDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.wantStock(s.ID, s.Items[0], 2, 0, 1)
	h.tickLotteries()
	h.wantStock(s.ID, s.Items[0], 0, 2, 1)
	for place := 3; place < 5; place++ {
		if e := h.entriesOf(s, entryOf[order[place]])[s.Items[0]]; e["status"] != "won" || e["order_id"] == nil {
			t.Fatalf("drawn %d, next on the waitlist after two winners left: %v", place+1, e)
		}
	}
	if e := h.entriesOf(s, entryOf[order[5]])[s.Items[0]]; e["status"] != "waitlisted" || e["rank"] != 3.0 {
		t.Fatalf("drawn 6th, still waiting: %v", e)
	}

	// The sale ends: whoever still waits has lost.
	h.clock.Advance(3 * time.Hour)
	h.tickLotteries()
	for _, id := range order[5:] {
		if e := h.entriesOf(s, entryOf[id])[s.Items[0]]; e["status"] != "lost" {
			t.Fatalf("a waitlisted entry after the sale: %v", e)
		}
	}
}

// Entries and draws answer only for lotteries; a lottery's window must
// fit its sale.
func TestLotteryRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	fcfs := h.createSale(saleSpec{})
	expect(t, h.enter(fcfs, "ann"), 409, "not_a_lottery")
	expect(t, h.do("GET", "/flash-sales/"+fcfs.ID+"/draw", "", nil), 409, "not_a_lottery")

	now := h.clock.Now()
	for field, window := range map[string]map[string]any{
		"lottery.entries_close": {"entries_open": now.Format(time.RFC3339), "entries_close": now.Add(5 * time.Hour).Format(time.RFC3339)},
		"lottery.entries_open":  {"entries_close": now.Add(time.Hour).Format(time.RFC3339)},
	} {
		body := map[string]any{
			"name": "Draw", "start_time": now.Format(time.RFC3339), "end_time": now.Add(2 * time.Hour).Format(time.RFC3339),
			"mode": "lottery", "lottery": window,
			"items": []map[string]any{{"product_id": "p", "name": "Phone", "original_price": "9.00",
				"sale_price": "5.00", "currency": "USD", "total_quantity": 1}},
		}
		r := h.do("POST", "/admin/flash-sales", h.admin(), body)
		expect(t, r, 400, "invalid_request")
		if got := r.JSON(t)["error"].(map[string]any)["field"]; got != field {
			t.Errorf("%v: field %v, want %s", window, got, field)
		}
	}
	early := h.createSale(saleSpec{end: now.Add(3 * time.Hour), lottery: map[string]any{
		"entries_open": now.Add(time.Hour).Format(time.RFC3339), "entries_close": now.Add(2 * time.Hour).Format(time.RFC3339)}})
	expect(t, h.enter(early, "ann"), 400, "entries_closed")
	expect(t, h.do("GET", "/flash-sales/"+early.ID+"/draw", "", nil), 400, "entries_closed")
}

// One entry per user per item, however many requests the user sends at
// once.
func TestOneEntryPerUser(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.lotterySale(1)
	const presses = 100
	ids := make(chan string, presses)
	done := make(chan struct{})
	token := h.token("eager", false)
	for range presses {
		go func() {
			defer func() { done <- struct{}{} }()
			r := h.do("POST", "/flash-sales/"+s.ID+"/entries", token, map[string]any{"item_id": s.Items[0]})
			if r.Status == 200 || r.Status == 201 {
				ids <- fmt.Sprint(r.JSON(t)["entry_id"])
			}
		}()
	}
	for range presses {
		<-done
	}
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Fatalf("%d distinct entries of one user", len(seen))
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A farm cannot enter a lottery twice with one phone: of twenty accounts
// of one verified phone entering at once under per_phone 1, one enters
// and the others are refused for the phone; the entries of an address
// count as its orders would.
func TestLotteryEntriesCountThePhone(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	now := h.clock.Now()
	s := h.createSale(saleSpec{start: now.Add(-time.Minute), end: now.Add(3 * time.Hour), limits: map[string]any{"per_phone": 1, "per_address": 1},
		lottery: map[string]any{"entries_open": now.Add(-time.Minute).Format(time.RFC3339), "entries_close": now.Add(time.Hour).Format(time.RFC3339)}})
	const accounts = 20
	statuses := make([]*response, accounts)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range accounts {
		token := h.accountToken(fmt.Sprintf("farm-%d", i), flashsale.Account{Phone: "+1 555 0100", PhoneVerified: true})
		body := map[string]any{"item_id": s.Items[0], "shipping_address": map[string]any{
			"line1": fmt.Sprintf("%d Elm St", i), "postal_code": "62701", "country": "US"}}
		wg.Go(func() {
			<-start
			statuses[i] = h.do("POST", "/flash-sales/"+s.ID+"/entries", token, body)
		})
	}
	close(start)
	wg.Wait()
	winner := onePassed(t, statuses, "phone")
	// Another phone at the winner's address is refused for the address;
	// without an address, the entry names the field.
	other := h.accountToken("other", flashsale.Account{Phone: "+15550199", PhoneVerified: true})
	r := h.do("POST", "/flash-sales/"+s.ID+"/entries", other, map[string]any{"item_id": s.Items[0], "shipping_address": map[string]any{
		"line1": fmt.Sprintf("%d elm st.", winner), "postal_code": "62701", "country": "us"}})
	expect(t, r, 409, "purchase_limit_exceeded")
	if reason := r.JSON(t)["error"].(map[string]any)["reason"]; reason != "address" {
		t.Fatalf("refused for %v, want address: %s", reason, r.Body)
	}
	expect(t, h.do("POST", "/flash-sales/"+s.ID+"/entries", other, map[string]any{"item_id": s.Items[0]}), 400, "invalid_request")
}

// A farm cannot enter a lottery twice with one card: the entry names its
// card (payment_token) in a sale with per_card, and of twenty accounts
// behind one card entering at once under per_card 1, one enters and the
// others are refused for the card; another card enters. Nothing is
// charged at entry.
func TestLotteryEntriesCountTheCard(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	now := h.clock.Now()
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}}, start: now.Add(-time.Minute), end: now.Add(3 * time.Hour),
		limits:  map[string]any{"per_card": 1},
		lottery: map[string]any{"entries_open": now.Add(-time.Minute).Format(time.RFC3339), "entries_close": now.Add(time.Hour).Format(time.RFC3339)}})
	enter := func(user string, card any) *response {
		body := map[string]any{"item_id": s.Items[0]}
		if card != nil {
			body["payment_token"] = card
		}
		return h.do("POST", "/flash-sales/"+s.ID+"/entries", h.token(user, false), body)
	}
	for _, card := range []any{nil, "", "tok_nothing"} {
		r := enter("no-card", card)
		expect(t, r, 400, "invalid_request")
		if field := r.JSON(t)["error"].(map[string]any)["field"]; field != "payment_token" {
			t.Errorf("payment_token %v: field %v, want payment_token: %s", card, field, r.Body)
		}
	}

	const accounts = 20
	statuses := make([]*response, accounts)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range accounts {
		wg.Go(func() {
			<-start
			statuses[i] = enter(fmt.Sprintf("farm-%d", i), "tok_visa_farm")
		})
	}
	close(start)
	wg.Wait()
	winner := onePassed(t, statuses, "card")
	// The winner's entry comes back with any card; another card enters.
	again := enter(fmt.Sprintf("farm-%d", winner), "tok_visa_other")
	expect(t, again, 200, "")
	if again.JSON(t)["entry_id"] != statuses[winner].JSON(t)["entry_id"] {
		t.Errorf("the entry again: %s, want %s", again.Body, statuses[winner].Body)
	}
	expect(t, enter("someone-else", "tok_visa_someone"), 201, "")
	if charges := h.payments.Charges(); charges != 0 {
		t.Errorf("%d charges at entry, want none", charges)
	}
}
