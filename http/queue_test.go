package http_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// waitingRoomSale is a sale of 5 units starting in an hour, with a
// waiting room that lets 10 shoppers a second in and opens 15 minutes
// before the start.
func (h *harness) waitingRoomSale(stock int64) sale {
	h.t.Helper()
	return h.createSale(saleSpec{
		start: h.clock.Now().Add(time.Hour), end: h.clock.Now().Add(2 * time.Hour),
		items:       []itemSpec{{stock: stock, limit: 1}},
		waitingRoom: map[string]any{"admit_per_minute": 600, "pre_queue_seconds": 900, "abandon_seconds": 60},
	})
}

type ticket struct {
	TicketID             string `json:"ticket_id"`
	SaleID               string `json:"sale_id"`
	Status               string `json:"status"`
	Position             int64  `json:"position"`
	Ahead                int64  `json:"ahead"`
	EstimatedWaitSeconds int64  `json:"estimated_wait_seconds"`
	PollAfterMS          int64  `json:"poll_after_ms"`
	Paused               bool   `json:"paused"`
	AdmissionToken       string `json:"admission_token"`
	AdmissionExpiresAt   string `json:"admission_expires_at"`
}

func (h *harness) queue(method, saleID, user string, status int, code string) ticket {
	h.t.Helper()
	r := h.do(method, "/flash-sales/"+saleID+"/queue", h.token(user, false), nil)
	expect(h.t, r, status, code)
	var t ticket
	if code == "" {
		if err := json.Unmarshal(r.Body, &t); err != nil {
			h.t.Fatal(err)
		}
	}
	return t
}

// tick is one heartbeat of the waiting rooms, as the timeout leader runs it.
func (h *harness) tick() {
	h.t.Helper()
	if err := h.service.TickWaitingRooms(h.t.Context()); err != nil {
		h.t.Fatal(err)
	}
}

// A shopper's way through the waiting room: the pre-queue, the draw at
// the start, the admission, and the purchase that only the admission
// token opens.
func TestWaitingRoomFromPreQueueToPurchase(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.waitingRoomSale(5)
	view := h.do("GET", "/flash-sales/"+s.ID, "", nil).JSON(t)
	if room, _ := view["waiting_room"].(map[string]any); room["admit_per_minute"] != 600.0 || room["order"] != "fifo" {
		t.Fatalf("the sale view shows the waiting room as %v", view["waiting_room"])
	}

	r := h.do("POST", "/flash-sales/"+s.ID+"/queue", h.token("alice", false), nil)
	expect(t, r, 400, "queue_not_open")
	if opens, _ := r.JSON(t)["error"].(map[string]any)["opens_at"].(string); opens != h.clock.Now().Add(45*time.Minute).Format(time.RFC3339) {
		t.Fatalf("opens_at = %q, want 45 minutes from now", opens)
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 400, "sale_not_active")

	h.clock.Advance(50 * time.Minute) // the pre-queue is open
	users := []string{"alice", "bob", "carol", "dave"}
	tickets := map[string]ticket{}
	for _, user := range users {
		tickets[user] = h.queue("POST", s.ID, user, 201, "")
		if tickets[user].Status != "pre_queue" || tickets[user].SaleID != s.ID || tickets[user].PollAfterMS <= 0 {
			t.Fatalf("%s's ticket before the start: %+v", user, tickets[user])
		}
	}
	if again := h.queue("POST", s.ID, "alice", 200, ""); again.TicketID != tickets["alice"].TicketID {
		t.Fatalf("joining twice made a second place: %s, then %s", tickets["alice"].TicketID, again.TicketID)
	}
	h.queue("GET", s.ID, "erin", 404, "ticket_not_found")
	document := h.do("GET", "/flash-sales/"+s.ID+"/queue/draw", "", nil).JSON(t)
	if document["status"] != "open" || document["seed"] != nil || len(document["commitment"].(string)) != 64 {
		t.Fatalf("the draw before the start: %v", document)
	}

	h.clock.Advance(10 * time.Minute) // the start
	h.tick()
	positions := map[int64]bool{}
	for _, user := range users {
		got := h.queue("GET", s.ID, user, 200, "")
		if got.Status != "waiting" || got.Ahead != got.Position-1 || got.EstimatedWaitSeconds < 1 {
			t.Fatalf("%s's ticket at the start: %+v", user, got)
		}
		positions[got.Position] = true
	}
	for p := range int64(len(users)) {
		if !positions[p+1] {
			t.Fatalf("the pre-queue's positions are not 1..%d: %v", len(users), positions)
		}
	}
	late := h.queue("POST", s.ID, "late", 201, "")
	if late.Status != "waiting" || late.Position != int64(len(users))+1 {
		t.Fatalf("a shopper who joined after the start: %+v, want behind the pre-queue", late)
	}
	checkQueueDraw(t, h, s.ID, document["commitment"].(string), tickets)

	// Admission: 10 a second lets everyone in after a second.
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1), 403, "admission_required")
	h.clock.Advance(time.Second)
	h.tick()
	alice, bob := h.queue("GET", s.ID, "alice", 200, ""), h.queue("GET", s.ID, "bob", 200, "")
	if alice.Status != "admitted" || alice.AdmissionToken == "" || alice.AdmissionExpiresAt == "" {
		t.Fatalf("alice after a second of admissions: %+v", alice)
	}
	for name, token := range map[string]string{
		"no":             "",
		"bob's":          bob.AdmissionToken,
		"a forged":       alice.AdmissionToken[:len(alice.AdmissionToken)-2] + "AA",
		"another format": "Bearer " + alice.AdmissionToken,
	} {
		if r := h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Admission", token); r.Status != 403 || r.ErrorCode(t) != "admission_required" {
			t.Errorf("alice with %s admission token: %d %s, want 403 admission_required", name, r.Status, r.Body)
		}
	}
	first := h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Admission", alice.AdmissionToken)
	expect(t, first, 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Admission", alice.AdmissionToken), 200, "")
	h.wantStock(s.ID, s.Items[0], 4, 1, 0)

	// The token expires with the admission's session (600 s by default).
	h.clock.Advance(601 * time.Second)
	expect(t, h.placeOrder(s.ID, s.Items[0], "bob", 1, "Flashsale-Admission", bob.AdmissionToken), 403, "admission_required")
	h.wantStock(s.ID, s.Items[0], 4, 1, 0)
}

// checkQueueDraw verifies the published pre-queue draw as a customer
// would: the seed against the commitment published before the start, the
// listed entries against their digest, and the order they make against
// the positions the shoppers were given.
func checkQueueDraw(t *testing.T, h *harness, saleID, commitment string, joined map[string]ticket) {
	t.Helper()
	var document struct {
		Algorithm, Commitment, Status, Seed string
		EntriesDigest                       string `json:"entries_digest"`
		EntryCount                          int    `json:"entry_count"`
		EntriesURL                          string `json:"entries_url"`
	}
	if err := json.Unmarshal(h.do("GET", "/flash-sales/"+saleID+"/queue/draw", "", nil).Body, &document); err != nil {
		t.Fatal(err)
	}
	if document.Algorithm != "flashsale-draw-v1" || document.Status != "drawn" || document.Commitment != commitment {
		t.Fatalf("the draw after the start: %+v (commitment before: %s)", document, commitment)
	}
	listed := h.do("GET", document.EntriesURL, "", nil)
	expect(t, listed, 200, "")
	entries := strings.Fields(string(listed.Body))
	order, err := draw.Verify(draw.Published{Commitment: document.Commitment, Seed: document.Seed,
		EntriesDigest: document.EntriesDigest, EntryCount: document.EntryCount, Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != len(joined) {
		t.Fatalf("the draw lists %d entries, %d joined before the start", len(order), len(joined))
	}
	for user, joinedTicket := range joined {
		got := h.queue("GET", saleID, user, 200, "")
		if want := order[got.Position-1]; want != joinedTicket.TicketID {
			t.Errorf("%s stands at %d, where the draw puts %s", user, got.Position, want)
		}
	}
}

func TestWaitingRoomRefusals(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	plain := h.createSale(saleSpec{})
	h.queue("POST", plain.ID, "alice", 409, "no_waiting_room")
	h.queue("GET", plain.ID, "alice", 409, "no_waiting_room")
	expect(t, h.do("GET", "/flash-sales/"+plain.ID+"/queue/draw", "", nil), 409, "no_waiting_room")
	expect(t, h.do("GET", "/flash-sales/no-such-sale/queue", h.token("alice", false), nil), 404, "sale_not_found")
	expect(t, h.do("POST", "/flash-sales/"+plain.ID+"/queue", "", nil), 401, "unauthenticated")

	for field, room := range map[string]map[string]any{
		"waiting_room.admit_per_minute": {"max_active": 10},
		"waiting_room.order":            {"admit_per_minute": 60, "order": "lifo"},
		"waiting_room.overbook":         {"admit_per_minute": 60, "overbook": 0.5},
		"waiting_room.abandon_seconds":  {"admit_per_minute": 60, "abandon_seconds": -1},
		"waiting_room.speed":            {"admit_per_minute": 60, "speed": 1},
	} {
		r := h.do("POST", "/admin/flash-sales", h.admin(), map[string]any{
			"name": "x", "start_time": h.clock.Now().Add(time.Hour).Format(time.RFC3339), "end_time": h.clock.Now().Add(2 * time.Hour).Format(time.RFC3339),
			"items":        []map[string]any{{"product_id": "p", "name": "n", "original_price": "2.00", "sale_price": "1.00", "currency": "USD", "total_quantity": 1}},
			"waiting_room": room,
		})
		expect(t, r, 400, "invalid_request")
		if got := r.JSON(t)["error"].(map[string]any)["field"]; got != field {
			t.Errorf("waiting room %v refused on field %v, want %s", room, got, field)
		}
	}

	s := h.waitingRoomSale(1)
	h.clock.Advance(time.Hour + time.Second)
	h.queue("POST", s.ID, "alice", 201, "")
	h.tick()
	alice := h.queue("GET", s.ID, "alice", 200, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Admission", alice.AdmissionToken), 201, "")
	h.tick() // the last unit is reserved
	if got := h.queue("GET", s.ID, "alice", 200, ""); got.Status != "sold_out" {
		t.Fatalf("alice's ticket once the last unit is gone: %+v", got)
	}
	h.queue("POST", s.ID, "bob", 409, "sold_out")
	h.wantStock(s.ID, s.Items[0], 0, 1, 0)
}

func TestWaitingRoomLeaveAndOperators(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.waitingRoomSale(5)
	h.clock.Advance(time.Hour)
	for _, user := range []string{"alice", "bob", "carol"} {
		h.queue("POST", s.ID, user, 201, "")
	}
	admin := h.do("GET", "/admin/flash-sales/"+s.ID+"/queue", h.admin(), nil)
	expect(t, admin, 200, "")
	if stats := admin.JSON(t); stats["waiting"] != 3.0 || stats["admit_per_minute"] != 600.0 {
		t.Fatalf("stats with three waiting: %v", stats)
	}
	expect(t, h.do("GET", "/admin/flash-sales/"+s.ID+"/queue", h.token("alice", false), nil), 403, "forbidden")

	expect(t, h.do("DELETE", "/flash-sales/"+s.ID+"/queue", h.token("alice", false), nil), 200, "")
	if bob := h.queue("GET", s.ID, "bob", 200, ""); bob.Position != 1 {
		t.Fatalf("bob once alice left: %+v, want first", bob)
	}

	paused := h.do("PATCH", "/admin/flash-sales/"+s.ID+"/queue", h.admin(), map[string]any{"paused": true, "admit_per_minute": 120})
	expect(t, paused, 200, "")
	if stats := paused.JSON(t); stats["paused"] != true || stats["admit_per_minute"] != 120.0 {
		t.Fatalf("stats after the change: %v", stats)
	}
	h.clock.Advance(5 * time.Second)
	h.tick()
	if bob := h.queue("GET", s.ID, "bob", 200, ""); bob.Status != "waiting" {
		t.Fatalf("bob while admissions are paused: %+v", bob)
	}
	expect(t, h.do("PATCH", "/admin/flash-sales/"+s.ID+"/queue", h.admin(), map[string]any{"paused": false}), 200, "")
	h.clock.Advance(time.Second)
	h.tick()
	if bob := h.queue("GET", s.ID, "bob", 200, ""); bob.Status != "admitted" {
		t.Fatalf("bob once admissions resume at 2 a second: %+v", bob)
	}
	r := h.do("PATCH", "/admin/flash-sales/"+s.ID+"/queue", h.admin(), map[string]any{"admit_per_minute": 0})
	expect(t, r, 400, "invalid_request")
}

// With ?queue= an event stream follows the user's place: the place as it
// stands when the stream opens, and the admission as soon as it is made.
func TestWaitingRoomEvents(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	s := h.waitingRoomSale(5)
	h.clock.Advance(50 * time.Minute)
	joined := h.queue("POST", s.ID, "alice", 201, "")
	alice := h.openStreamAt("/events?queue="+s.ID, h.bearer("alice")...)
	first := alice.next()
	if first.Type != "queue.updated" || first.Data["status"] != "pre_queue" || first.Data["ticket_id"] != joined.TicketID {
		t.Fatalf("the first event: %+v, want alice's place in the pre-queue", first)
	}

	h.clock.Advance(10*time.Minute + time.Second)
	h.tick()
	for {
		e := alice.next()
		if e.Type == "queue.updated" && e.Data["status"] == "waiting" {
			continue // the draw at the start, if the stream read it in time
		}
		if e.Type != "queue.admitted" || e.Data["status"] != "admitted" || e.Data["admission_token"] == "" || e.Data["type"] != "queue.admitted" {
			t.Fatalf("event %+v, want queue.admitted with the token", e)
		}
		token := e.Data["admission_token"].(string)
		expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Admission", token), 201, "")
		break
	}

	r, _ := h.requestStream("/events?queue=a&queue=b&queue=c&queue=d&queue=e&queue=f&queue=g&queue=h&queue=i&queue=j&queue=k", h.bearer("alice")...)
	if r.StatusCode != 400 {
		t.Fatalf("a stream following 11 waiting rooms: %d, want 400", r.StatusCode)
	}
}

// A paused sale holds its line: nobody is admitted, each place reads
// paused and is kept, and the resumption lets the line move. When the
// last unit goes the places read sold out; a restock brings them back,
// and a shopper following the line hears of it.
func TestWaitingRoomShowsThePauseAndTheRestock(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	s := h.waitingRoomSale(1)
	h.clock.Advance(time.Hour)
	for _, user := range []string{"alice", "bob", "carol"} {
		h.queue("POST", s.ID, user, 201, "")
	}
	expect(t, h.change(s, map[string]any{"paused": true}), 200, "")
	h.clock.Advance(time.Second)
	h.tick()
	for _, user := range []string{"alice", "bob", "carol"} {
		if got := h.queue("GET", s.ID, user, 200, ""); got.Status != "waiting" || !got.Paused {
			t.Fatalf("%s while the sale is paused: %+v, want waiting and paused", user, got)
		}
	}

	expect(t, h.change(s, map[string]any{"paused": false}), 200, "")
	h.clock.Advance(time.Second)
	h.tick()
	alice := h.queue("GET", s.ID, "alice", 200, "")
	if alice.Status != "admitted" || alice.Paused {
		t.Fatalf("alice once the sale resumed: %+v, want admitted", alice)
	}
	bought := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Admission", alice.AdmissionToken))
	expect(t, h.pay(bought, "alice", "tok_visa"), 200, "")
	h.clock.Advance(time.Second)
	h.tick()
	if carol := h.queue("GET", s.ID, "carol", 200, ""); carol.Status != "sold_out" {
		t.Fatalf("carol once the last unit sold: %+v, want sold_out", carol)
	}

	carol := h.openStreamAt("/events?queue="+s.ID, h.bearer("carol")...)
	if e := carol.next(); e.Type != "queue.sold_out" {
		t.Fatalf("carol's first event: %+v, want queue.sold_out", e)
	}
	expect(t, h.change(s, map[string]any{"items": []map[string]any{{"item_id": s.Items[0], "add_quantity": 2}}}), 200, "")
	h.clock.Advance(time.Second)
	h.tick()
	for {
		e := carol.next()
		if e.Type == "queue.updated" && e.Data["status"] == "waiting" {
			continue // back in line, if the stream read it before the admission
		}
		if e.Type != "queue.admitted" || e.Data["admission_token"] == "" {
			t.Fatalf("carol's event after the restock: %+v, want queue.admitted", e)
		}
		token := e.Data["admission_token"].(string)
		expect(t, h.placeOrder(s.ID, s.Items[0], "carol", 1, "Flashsale-Admission", token), 201, "")
		break
	}
	h.wantStock(s.ID, s.Items[0], 1, 1, 1)
}

// A waiting room follows its sale's end: extended, the line takes and
// admits shoppers past the old end; ended now, it takes nobody.
func TestWaitingRoomFollowsTheSalesEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.waitingRoomSale(5) // from an hour to two hours from now
	h.clock.Advance(time.Hour)
	expect(t, h.change(s, map[string]any{"end_time": h.clock.Now().Add(3 * time.Hour).Format(time.RFC3339)}), 200, "")
	h.clock.Advance(2 * time.Hour) // past the first end
	h.queue("POST", s.ID, "alice", 201, "")
	h.clock.Advance(time.Second)
	h.tick()
	if alice := h.queue("GET", s.ID, "alice", 200, ""); alice.Status != "admitted" {
		t.Fatalf("alice after the first end of an extended sale: %+v, want admitted", alice)
	}

	expect(t, h.change(s, map[string]any{"end_time": h.clock.Now().Format(time.RFC3339)}), 200, "")
	h.queue("POST", s.ID, "bob", 400, "sale_not_active")
}

// A farm cannot stand in a waiting room's line once per account with one
// card: in a sale with per_card, a join names its card (payment_token),
// and of twenty accounts behind one card joining the pre-queue at once,
// one gets a place and the others are refused for the card, with the
// lottery's body, and get none. The holder joins again and gets the same
// ticket; another card joins. Nothing is charged at join. A sale without
// per_card still takes a join without a body.
func TestWaitingRoomCountsTheCard(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{
		start: h.clock.Now().Add(time.Hour), end: h.clock.Now().Add(2 * time.Hour),
		items:       []itemSpec{{stock: 100, limit: 1}},
		waitingRoom: map[string]any{"admit_per_minute": 600, "pre_queue_seconds": 900, "abandon_seconds": 60},
		limits:      map[string]any{"per_card": 1},
	})
	plain := h.waitingRoomSale(5)
	h.clock.Advance(50 * time.Minute) // both pre-queues are open
	join := func(user string, card any) *response {
		var body any // nil: no body at all
		if card != nil {
			body = map[string]any{"payment_token": card}
		}
		return h.do("POST", "/flash-sales/"+s.ID+"/queue", h.token(user, false), body)
	}
	for _, card := range []any{nil, "", "tok_nothing"} {
		r := join("no-card", card)
		expect(t, r, 400, "invalid_request")
		if field := r.JSON(t)["error"].(map[string]any)["field"]; field != "payment_token" {
			t.Errorf("payment_token %v: field %v, want payment_token: %s", card, field, r.Body)
		}
	}
	h.queue("GET", s.ID, "no-card", 404, "ticket_not_found")

	const accounts = 20
	answers := make([]*response, accounts)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range accounts {
		wg.Go(func() {
			<-start
			answers[i] = join(fmt.Sprintf("farm-%d", i), "tok_visa_farm1")
		})
	}
	close(start)
	wg.Wait()
	holder := onePassed(t, answers, "card")
	want := flashsale.CardClaimed(1)
	for i, r := range answers {
		if i == holder {
			continue
		}
		if e := r.JSON(t)["error"].(map[string]any); e["message"] != want.Message {
			t.Fatalf("account %d refused with %q, want the lottery's %q", i, e["message"], want.Message)
		}
		h.queue("GET", s.ID, fmt.Sprintf("farm-%d", i), 404, "ticket_not_found")
	}
	var first ticket
	if err := json.Unmarshal(answers[holder].Body, &first); err != nil || first.Status != "pre_queue" {
		t.Fatalf("the holder's ticket: %s, %v", answers[holder].Body, err)
	}
	for _, card := range []string{"tok_visa_farm1", "tok_visa_other"} {
		again := join(fmt.Sprintf("farm-%d", holder), card)
		expect(t, again, 200, "")
		if got := again.JSON(t)["ticket_id"]; got != first.TicketID {
			t.Errorf("the holder again with %s: ticket %v, want %s", card, got, first.TicketID)
		}
	}
	expect(t, join("someone-else", "tok_visa_someone"), 201, "")
	if charges := h.payments.Charges(); charges != 0 {
		t.Errorf("%d charges at join, want none", charges)
	}

	// A sale without per_card: no body, and a body without a card.
	h.queue("POST", plain.ID, "farm-0", 201, "")
	expect(t, h.do("POST", "/flash-sales/"+plain.ID+"/queue", h.token("farm-1", false), map[string]any{}), 201, "")

	// At the start the holder is admitted and buys, paying with the card.
	h.clock.Advance(10*time.Minute + time.Second)
	h.tick()
	h.clock.Advance(time.Second)
	h.tick()
	admitted := h.queue("GET", s.ID, fmt.Sprintf("farm-%d", holder), 200, "")
	if admitted.Status != "admitted" {
		t.Fatalf("the holder after the start: %+v, want admitted", admitted)
	}
	r := h.placeOrder(s.ID, s.Items[0], fmt.Sprintf("farm-%d", holder), 1, "Flashsale-Admission", admitted.AdmissionToken)
	expect(t, r, 201, "")
	order := r.JSON(t)["order_id"].(string)
	expect(t, h.do("POST", "/orders/"+order+"/pay", h.token(fmt.Sprintf("farm-%d", holder), false),
		map[string]any{"payment_token": "tok_visa_farm1", "payment_method": "credit_card"}), 200, "")
}
