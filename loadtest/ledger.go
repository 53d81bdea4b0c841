package loadtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ledger remembers every reservation the service acknowledged, who got it
// and what became of it: the invariant checks at the end compare it with the
// service's own account. Violations seen while traffic runs (an order id
// handed out twice) are kept here too.
type ledger struct {
	mu         sync.Mutex
	orders     map[string]*orderEntry
	items      map[string]*itemTally
	violations []string
	notes      map[string]bool

	reservations split
	purchases    split
	recovered    int64
	// lastReservation is when the last 201 arrived, since traffic start.
	lastReservation time.Duration
	payments        PaymentCounts
	// farmUnits counts the units each farm operator's accounts paid for,
	// and cardRefusals the payments refused by the card limit, of farm
	// accounts and of the others; joinCardRefusals the joins of a
	// waiting room's line it refused, the card holding a place already.
	farmUnits        map[*farmOperator]int64
	cardRefusals     split
	joinCardRefusals split
}

// split divides a count between bots, farm accounts and people.
type split struct{ bots, farms, people int64 }

func (s *split) add(bot bool) {
	if bot {
		s.bots++
	} else {
		s.people++
	}
}

// addUser counts one for u: a farm account, a bot or a person.
func (s *split) addUser(u *simUser) {
	if u.farm != nil {
		s.farms++
	} else {
		s.add(u.bot)
	}
}

// orderRef names an order and the item it holds.
type orderRef struct{ id, itemID string }

type orderEntry struct {
	ref  orderRef
	user *simUser
	// created marks an order first seen in a 201; the others were first seen
	// in a 200 (an existing reservation, e.g. after a lost response).
	created bool
}

type itemTally struct {
	created   int64
	confirmed int64
	// firstSoldOut is when the first sold_out answer for the item arrived,
	// since traffic start; soldOutSeen tells whether it did.
	firstSoldOut time.Duration
	soldOutSeen  bool
}

func newLedger() *ledger {
	return &ledger{orders: map[string]*orderEntry{}, items: map[string]*itemTally{}, notes: map[string]bool{}, farmUnits: map[*farmOperator]int64{}}
}

func (l *ledger) item(id string) *itemTally {
	t := l.items[id]
	if t == nil {
		t = &itemTally{}
		l.items[id] = t
	}
	return t
}

// reserved records a 201 or 200 answer to a place-order request by u for
// itemID. It returns the order and true when the order is new to the ledger,
// so that its owner goes on to pay it exactly once.
func (l *ledger) reserved(u *simUser, itemID string, resp response, trafficStart time.Time) (orderRef, bool) {
	var body struct {
		OrderID string `json:"order_id"`
		ItemID  string `json:"item_id"`
	}
	created := resp.status == http.StatusCreated
	if json.Unmarshal(resp.body, &body) != nil || body.OrderID == "" {
		l.note(fmt.Sprintf("a %d answer to place order carried no order_id", resp.status))
		return orderRef{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if body.ItemID != "" && body.ItemID != itemID {
		l.violations = append(l.violations, fmt.Sprintf("order %s: user %s asked for item %s and got a reservation of item %s", body.OrderID, u.id, itemID, body.ItemID))
	}
	ref := orderRef{id: body.OrderID, itemID: itemID}
	existing := l.orders[body.OrderID]
	switch {
	case existing == nil:
		l.orders[ref.id] = &orderEntry{ref: ref, user: u, created: created}
		if created {
			l.item(itemID).created++
			l.reservations.addUser(u)
			l.lastReservation = time.Since(trafficStart)
		} else {
			l.recovered++
		}
		return ref, true
	case existing.user != u:
		l.violations = append(l.violations, fmt.Sprintf("order %s was handed to two users, %s and %s", ref.id, existing.user.id, u.id))
	case created && !existing.created:
		// Two presses of one user (the soak's senders) were answered
		// 201 and then 200 with the order, and the 200 came in first:
		// this is its one 201.
		existing.created = true
		l.recovered--
		l.item(itemID).created++
		l.reservations.addUser(u)
		l.lastReservation = time.Since(trafficStart)
	case created:
		l.violations = append(l.violations, fmt.Sprintf("order %s was acknowledged as a new reservation (201) twice", ref.id))
	}
	return ref, false
}

// awarded records a lottery reservation u read on its won entry: the
// draw's, or the waitlist's. It returns the order and true when the order
// is new to the ledger, so that its owner settles it exactly once.
func (l *ledger) awarded(u *simUser, itemID, orderID string, trafficStart time.Time) (orderRef, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref := orderRef{id: orderID, itemID: itemID}
	switch existing := l.orders[orderID]; {
	case existing == nil:
		l.orders[orderID] = &orderEntry{ref: ref, user: u, created: true}
		l.item(itemID).created++
		l.reservations.addUser(u)
		l.lastReservation = time.Since(trafficStart)
		return ref, true
	case existing.user != u:
		l.violations = append(l.violations, fmt.Sprintf("order %s was handed to two users, %s and %s", orderID, existing.user.id, u.id))
	}
	return ref, false
}

func (l *ledger) soldOut(itemID string, trafficStart time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.item(itemID); !t.soldOutSeen {
		t.soldOutSeen, t.firstSoldOut = true, time.Since(trafficStart)
	}
}

func (l *ledger) paid(order orderRef) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.payments.Confirmed++
	l.item(order.itemID).confirmed++
	u := l.orders[order.id].user
	l.purchases.addUser(u)
	if u.farm != nil {
		l.farmUnits[u.farm]++
	}
}

// confirmedOrders counts the orders paid for.
func (l *ledger) confirmedOrders() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.payments.Confirmed
}

// cardRefused records a payment refused because its card had paid for the
// sale's per_card units already; the reservation stays reserved.
func (l *ledger) cardRefused(order orderRef, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.payments.CardLimitRefused++
	l.cardRefusals.addUser(l.orders[order.id].user)
	if reason != "card" {
		l.notes[fmt.Sprintf("a payment was refused with purchase_limit_exceeded and reason %q, not \"card\": counted as refused by the card limit", reason)] = true
	}
}

// joinCardRefused records u's join of the line refused because its card
// holds a place already, for another account; u has no place.
func (l *ledger) joinCardRefused(u *simUser, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.joinCardRefusals.addUser(u)
	if reason != "card" {
		l.notes[fmt.Sprintf("a queue join was refused with purchase_limit_exceeded and reason %q, not \"card\": counted as refused by the card limit", reason)] = true
	}
}

func (l *ledger) abandoned() {
	l.mu.Lock()
	l.payments.Abandoned++
	l.mu.Unlock()
}

func (l *ledger) paymentFailed() {
	l.mu.Lock()
	l.payments.Failed++
	l.mu.Unlock()
}

func (l *ledger) paymentUnfinished() {
	l.mu.Lock()
	l.payments.Unfinished++
	l.mu.Unlock()
}

// note records an observation for the report once, however often it recurs.
func (l *ledger) note(text string) {
	l.mu.Lock()
	l.notes[text] = true
	l.mu.Unlock()
}
