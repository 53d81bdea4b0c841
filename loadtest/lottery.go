package loadtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The lottery scenario: users enter a lottery sale over the entry window
// (some twice, as a double click does), the service draws at the close,
// and every user reads their entry until it settles: winners pay, cancel
// or walk away; the waitlisted read again, less often the further back
// they stand, and win when an unpaid reservation comes back to the
// waitlist; the rest read lost once the stock is sold. lotteryverify.go
// then recomputes the published draw and holds what the users were shown
// to it.

// drawPollInterval is how often the generator reads the draw document
// after the close, waiting for the draw: the resolution of the draw time
// it reports.
const drawPollInterval = 50 * time.Millisecond

// lotteryEntry is a user's entry as the user has seen it. Only the user's
// own steps write it, one at a time; the verification reads it once the
// traffic is over.
type lotteryEntry struct {
	// item is the index of the item entered; id and enteredAt are the
	// entry's id and entered_at (the service's clock) from the first
	// answer, empty until then.
	item      int
	id        string
	enteredAt time.Time
	// reenter marks a user who sends the entry a second time.
	reenter bool
	// refusal is the reason of the 409 purchase_limit_exceeded that
	// refused the entry (card: the card stands behind the sale's limit
	// in other entries); empty otherwise.
	refusal string
	// entries is the most entries of the sale one read of GET /entries
	// showed the user: one entry per user per item, and each user enters
	// one item.
	entries int
	// firstResult is the first status read after the draw other than
	// entered: won, waitlisted or lost.
	firstResult string
	// rank is the waitlist rank first read (0: never waitlisted); it is
	// the entry's place in the draw order, which never changes, so a
	// read with another rank sets rankChanged.
	rank        int64
	rankChanged bool
	// lastWaitlisted is when the last read that said waitlisted was
	// sent; wonSeen when the first read that said won with an order
	// answered, and orderID that order.
	lastWaitlisted, wonSeen time.Time
	orderID                 string
	lost                    bool
}

// lotteryRun is what the lottery scenario counts, shared by every user's
// steps and the watcher of the draw.
type lotteryRun struct {
	mu sync.Mutex
	// entered counts the entries answered 201, recovered the first
	// entries answered 200 (an entry an earlier try made, whose answer
	// was lost), reentered the second entries answered 200 with the same
	// entry; closed the entries refused as entries_closed and failed
	// those given up otherwise.
	entered, recovered, reentered, closed, failed int64
	// firstSend is when the first entry was sent, lastEntry when the last
	// 201 arrived: the entry rate is entered over that span.
	firstSend, lastEntry time.Time
	// entrants are the users whose entry the service took, for the draw
	// watcher to start their reads.
	entrants []*simUser
	// commitment is the draw document's commitment read at the opening;
	// drawnAt is when the first document that said drawn arrived, after
	// drawPolls reads since the close.
	commitment string
	drawnAt    time.Time
	drawPolls  int64
	// cancelled and cancelFailed count the winners' cancels.
	cancelled, cancelFailed int64
	// violations holds, per kind, how often it happened and one example.
	violations map[string]*queueViolation
}

func newLotteryRun() *lotteryRun {
	return &lotteryRun{violations: map[string]*queueViolation{}}
}

func (l *lotteryRun) violation(kind, example string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	addViolation(l.violations, kind, example)
}

func (l *lotteryRun) count(counter *int64) {
	l.mu.Lock()
	*counter++
	l.mu.Unlock()
}

// entryView is an entry as the API shows it.
type entryView struct {
	EntryID   string    `json:"entry_id"`
	ItemID    string    `json:"item_id"`
	Status    string    `json:"status"`
	EnteredAt time.Time `json:"entered_at"`
	OrderID   string    `json:"order_id"`
	Rank      int64     `json:"rank"`
}

// drawDocument is GET /flash-sales/{id}/draw.
type drawDocument struct {
	Algorithm  string `json:"algorithm"`
	Commitment string `json:"commitment"`
	Status     string `json:"status"`
	Seed       string `json:"seed"`
	Items      []struct {
		ItemID        string `json:"item_id"`
		EntriesDigest string `json:"entries_digest"`
		EntryCount    int    `json:"entry_count"`
		EntriesURL    string `json:"entries_url"`
	} `json:"items"`
}

// startLottery schedules every user's entry, spread over the jitter from
// the opening (a farm's accounts together, lotteryfarm.go), and the
// watcher that waits for the draw.
func (r *run) startLottery(ctx context.Context) {
	untilStart := time.Until(r.trafficStart)
	bodies := make([][]byte, len(r.sale.items))
	for i, item := range r.sale.items {
		bodies[i] = entryBody(item.id, "")
	}
	farmsEnterAt := r.farmsEnterAt()
	for _, u := range r.users {
		u.lottery = &lotteryEntry{item: u.rng.IntN(len(r.sale.items)), reenter: u.rng.Float64() < r.cfg.ReenterShare}
		jitter := r.firstMove(u, r.cfg.Jitter)
		if u.farm != nil {
			jitter = farmsEnterAt[u.farm]
		}
		body := bodies[u.lottery.item]
		if r.sale.cardLimit > 0 {
			// The sale counts cards at the entry: each entry
			// claims the card its winner will pay with.
			body = entryBody(r.sale.items[u.lottery.item].id, u.card)
		}
		r.sched.after(untilStart+jitter, func() { r.enter(ctx, u, body, false) })
	}
	r.sched.spawn(func() { r.watchDraw(ctx) })
}

// entryBody is an entry's body for itemID, with the card it claims when
// card is not empty.
func entryBody(itemID, card string) []byte {
	fields := map[string]string{"item_id": itemID}
	if card != "" {
		fields["payment_token"] = card
	}
	body, _ := json.Marshal(fields) // a map of strings always marshals
	return body
}

// enter sends u's entry; again marks the second one of a user who enters
// twice, which must find the first.
func (r *run) enter(ctx context.Context, u *simUser, body []byte, again bool) {
	if ctx.Err() != nil {
		return
	}
	l, e := r.lottery, u.lottery
	token, err := r.token(u)
	if err != nil {
		l.count(&l.failed)
		r.finish(u)
		return
	}
	sent := time.Now()
	l.mu.Lock()
	if l.firstSend.IsZero() || sent.Before(l.firstSend) {
		l.firstSend = sent
	}
	l.mu.Unlock()
	resp := r.client.do(ctx, request{endpoint: endpointEnter, method: http.MethodPost,
		path: "/flash-sales/" + url.PathEscape(r.sale.id) + "/entries", token: token, body: body, device: u.device})
	switch {
	case resp.canceled:
	case resp.status == http.StatusCreated || resp.status == http.StatusOK:
		var entry entryView
		if json.Unmarshal(resp.body, &entry) != nil || entry.EntryID == "" {
			l.violation("an entry was acknowledged without an entry_id", fmt.Sprintf("user %s: %.200s", u.id, resp.body))
			l.count(&l.failed)
			return
		}
		if again {
			switch {
			case resp.status == http.StatusCreated:
				l.violation("a user's second entry of an item was created (201) beside the first", fmt.Sprintf("user %s: entries %s and %s", u.id, e.id, entry.EntryID))
			case entry.EntryID != e.id:
				l.violation("a user's second entry was answered with another entry than the first", fmt.Sprintf("user %s: entries %s and %s", u.id, e.id, entry.EntryID))
			default:
				l.count(&l.reentered)
			}
			return
		}
		e.id, e.enteredAt = entry.EntryID, entry.EnteredAt
		l.mu.Lock()
		if resp.status == http.StatusCreated {
			l.entered++
			l.lastEntry = time.Now()
		} else {
			l.recovered++
		}
		l.entrants = append(l.entrants, u)
		l.mu.Unlock()
		if e.reenter {
			// Before the close, or it would find the entries closed.
			wait := min(r.cfg.RetryInterval, time.Until(r.sale.entriesClose)/2)
			r.sched.after(wait, func() { r.enter(ctx, u, body, true) })
		}
	case resp.code == "entries_closed":
		if !again {
			l.count(&l.closed)
			r.finish(u)
		}
	case !again && resp.code == "purchase_limit_exceeded":
		// The card stands behind the sale's limit in other entries
		// already (a farm's other accounts): no entry for this one.
		e.refusal = resp.reason
		if resp.reason != "card" {
			r.ledger.note(fmt.Sprintf("an entry was refused with purchase_limit_exceeded and reason %q, not \"card\": counted as refused for the card", resp.reason))
		}
		r.finish(u)
	case !again && (resp.status == http.StatusTooManyRequests || resp.status >= 500 || resp.err != nil) &&
		time.Now().Before(r.sale.entriesClose):
		// An entry is idempotent per user and item: sending it again
		// after an unknown outcome finds the first.
		r.sched.after(r.retryWait(u, resp), func() { r.enter(ctx, u, body, false) })
	case !again:
		l.count(&l.failed)
		r.finish(u)
	}
}

// watchDraw reads the draw document at the opening (its commitment) and
// from the close until it says drawn, then starts every entrant's reads,
// spread over a poll interval: the shoppers' pages learn of the draw and
// look.
func (r *run) watchDraw(ctx context.Context) {
	l := r.lottery
	// The generator's clock and the service's differ by up to half a
	// round trip, and the traffic may start a timer's granularity early:
	// a read refused as before the opening is tried again.
	timer := time.NewTimer(0)
	defer timer.Stop()
	for l.commitment == "" && time.Now().Before(r.sale.entriesClose) {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if doc, err := r.readDraw(ctx); err == nil && doc.Commitment != "" {
			l.mu.Lock()
			l.commitment = doc.Commitment
			l.mu.Unlock()
		}
		timer.Reset(drawPollInterval)
	}
	timer.Reset(time.Until(r.sale.entriesClose))
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		doc, err := r.readDraw(ctx)
		l.count(&l.drawPolls)
		if err == nil && doc.Status == "drawn" {
			break
		}
		timer.Reset(drawPollInterval)
	}
	l.mu.Lock()
	l.drawnAt = time.Now()
	entrants := l.entrants
	l.mu.Unlock()
	for _, u := range entrants {
		r.pickerMu.Lock()
		wait := time.Duration(r.pickerRand.Int64N(int64(r.cfg.PollInterval)))
		r.pickerMu.Unlock()
		r.sched.after(wait, func() { r.readEntry(ctx, u) })
	}
}

// readDraw reads the draw document, waiting out the service's rate limits
// (errRateLimited when they outlasted ctx).
func (r *run) readDraw(ctx context.Context) (drawDocument, error) {
	resp := r.paced(ctx, request{endpoint: endpointDraw, method: http.MethodGet, path: "/flash-sales/" + url.PathEscape(r.sale.id) + "/draw"})
	var doc drawDocument
	switch {
	case resp.status == http.StatusTooManyRequests:
		return doc, errRateLimited
	case resp.status != http.StatusOK:
		return doc, errors.New(describe(resp))
	case json.Unmarshal(resp.body, &doc) != nil:
		return doc, fmt.Errorf("unreadable draw document %.200q", resp.body)
	}
	return doc, nil
}

// readEntry is one read of u's entries after the draw, and u's reaction.
func (r *run) readEntry(ctx context.Context, u *simUser) {
	if ctx.Err() != nil {
		return
	}
	l, e := r.lottery, u.lottery
	again := func(wait time.Duration) { r.sched.after(wait, func() { r.readEntry(ctx, u) }) }
	token, err := r.token(u)
	if err != nil {
		r.finish(u)
		return
	}
	sent := time.Now()
	resp := r.client.do(ctx, request{endpoint: endpointEntries, method: http.MethodGet,
		path: "/flash-sales/" + url.PathEscape(r.sale.id) + "/entries", token: token})
	var body struct {
		Entries []entryView `json:"entries"`
	}
	switch {
	case resp.canceled:
		return
	case resp.status != http.StatusOK:
		again(max(resp.retryAfter, r.cfg.PollInterval))
		return
	case json.Unmarshal(resp.body, &body) != nil:
		r.ledger.note("an answer to GET /flash-sales/{id}/entries could not be read")
		again(r.cfg.PollInterval)
		return
	}
	e.entries = max(e.entries, len(body.Entries))
	var entry *entryView
	for i := range body.Entries {
		if body.Entries[i].EntryID == e.id {
			entry = &body.Entries[i]
		}
	}
	if entry == nil {
		l.violation("a user's entry is missing from the user's entries", fmt.Sprintf("user %s, entry %s: %.200s", u.id, e.id, resp.body))
		r.finish(u)
		return
	}
	if e.firstResult == "" && entry.Status != "entered" {
		e.firstResult = entry.Status
	}
	switch entry.Status {
	case "entered":
		// The draw is published once every item is drawn; an item may
		// still be on its way here.
		again(r.cfg.PollInterval)
	case "waitlisted":
		if e.rank == 0 {
			e.rank = entry.Rank
		} else if entry.Rank != e.rank {
			e.rankChanged = true
		}
		e.lastWaitlisted = sent
		// A stock's worth of ranks a poll interval: the front reads
		// every interval, the back seldom.
		per := max(r.winners(e.item), 1)
		bands := max((entry.Rank+per-1)/per, 1)
		again(time.Duration(bands) * r.cfg.PollInterval)
	case "won":
		if entry.OrderID == "" {
			// Won, its reservation a moment away.
			again(r.cfg.PollInterval / 4)
			return
		}
		e.wonSeen, e.orderID = time.Now(), entry.OrderID
		r.finish(u)
		order, isNew := r.ledger.awarded(u, r.sale.items[e.item].id, entry.OrderID, r.trafficStart)
		if !isNew {
			return
		}
		// A bot (a farm's account) pays for what it won, at once, as in
		// the herd.
		think := r.thinkTime(u)
		switch {
		case u.bot || u.rng.Float64() < r.cfg.PayProbability:
			r.settle(ctx, u, order, true, think)
		case u.rng.IntN(2) == 0:
			// Half of those who do not pay say so: the unit goes to
			// the waitlist at the leader's next tick, not after the
			// reservation's TTL.
			r.sched.after(think, func() { r.cancel(ctx, u, order) })
		default:
			r.ledger.abandoned()
		}
	case "lost":
		e.lost = true
		r.finish(u)
	default:
		r.ledger.note(fmt.Sprintf("an entry read status %q, which the API does not name", entry.Status))
		r.finish(u)
	}
}

// cancel cancels a won reservation u does not want.
func (r *run) cancel(ctx context.Context, u *simUser, order orderRef) {
	l := r.lottery
	token, err := r.token(u)
	if err != nil {
		l.count(&l.cancelFailed)
		return
	}
	resp := r.client.do(ctx, request{endpoint: endpointCancel, method: http.MethodPost,
		path: "/orders/" + url.PathEscape(order.id) + "/cancel", token: token, idempotencyKey: "cancel-" + order.id})
	switch {
	case resp.canceled:
	case resp.status == http.StatusOK:
		l.count(&l.cancelled)
	case resp.status == http.StatusTooManyRequests:
		// Refused before the service looked at it: cancel again once
		// the limit allows (the same idempotency key).
		r.sched.after(cmp.Or(resp.limitWait(), r.cfg.RetryInterval), func() { r.cancel(ctx, u, order) })
	default:
		l.count(&l.cancelFailed)
	}
}

// winners is how many entries of an item its draw makes winners.
func (r *run) winners(item int) int64 {
	it := r.sale.items[item]
	return it.total / it.perUserLimit
}

// lotteryOrders is how many reservations the sale's stock makes: when as
// many are paid for, the lottery is over.
func (r *run) lotteryOrders() int64 {
	var orders int64
	for i := range r.sale.items {
		orders += r.winners(i)
	}
	return orders
}
