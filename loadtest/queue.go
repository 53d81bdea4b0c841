package loadtest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// The queue scenario: the herd in front of a waiting room. People join the
// line over the pre-queue or after the start, poll when their ticket says,
// press Buy with their admission token once admitted, then pay or walk
// away as the herd does; some give up while waiting. Bots join the instant
// the line opens, poll and press at machine speed, and try the Buy button
// once without a token, which the service must refuse. The farm scenario
// in front of a waiting room runs the same way, its farm accounts as bots.
// In a sale that counts cards every join names the user's card, and a
// card holds one place: a join refused for its card (a farm's other
// accounts) is counted as refused by the card limit, and its user is done.
// In a sale that asks challenges, the line asks them of the joins as the
// sale does of the presses: both are solved and sent again as the herd's
// presses are (challenge.go).

// queuePlace is a user's standing in the line as the user has seen it.
// Only the user's own steps touch it, one at a time.
type queuePlace struct {
	ticketID string
	// lastSeen is when the last join or poll the service answered was
	// sent: the service counts the shopper as seen between then and the
	// answer, which arrived at answered.
	lastSeen, answered time.Time
	// pollAfter is the last ticket's poll_after_ms, counted from answered.
	pollAfter time.Duration
	// predicted is the estimated wait of the first ticket seen waiting,
	// which arrived at predictedAt.
	predicted   time.Duration
	predictedAt time.Time
	admitted    bool
	token       string
	// admissionEnds is admission_expires_at on the local clock.
	admissionEnds time.Time
	// pressAt is the earliest next press after a 429 or 503.
	pressAt time.Time
	// pollsSinceStart counts the polls sent from the start: a person who
	// gives up does so after givesUpAfter of them (0: never gives up),
	// leaving the line, or just closing the tab when quiet.
	pollsSinceStart int
	givesUpAfter    int
	quiet           bool
	// probed is set once a bot has pressed Buy without a token.
	probed bool
}

// queueRun is what the queue scenario counts, shared by every user's
// steps and the monitor of the line.
type queueRun struct {
	mu sync.Mutex
	// joinedPreQueue and joinedAfterStart count the places by the status
	// of the first ticket: pre_queue or not.
	joinedPreQueue, joinedAfterStart split
	admitted                         split
	// predicted, actual and ratio are the waits of the shoppers seen
	// waiting and then admitted, in seconds; neverWaited were admitted
	// before any of their tickets read waiting. noticed is how long after
	// admitted_at the shoppers saw their admission.
	predicted, actual, ratio, noticed []float64
	neverWaited                       int64
	left, quiet, released             int64
	sessionEnded, expiredLate         int64
	tokenlessPresses                  int64
	// tooLatePolls counts tickets whose poll_after_ms reached
	// abandon_seconds: a client obeying it would lose its place, so the
	// generator came back sooner.
	tooLatePolls int64
	// violations holds, per kind, how often it happened and one example.
	violations map[string]*queueViolation

	polls    atomic.Int64
	samples  []QueueSample
	final    *QueueSample
	stopOnce sync.Once
	stop     func()
}

type queueViolation struct {
	count   int64
	example string
}

func newQueueRun() *queueRun {
	return &queueRun{violations: map[string]*queueViolation{}, stop: func() {}}
}

func (q *queueRun) violation(kind, example string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	addViolation(q.violations, kind, example)
}

// addViolation counts one violation of kind in a scenario's tally, which
// keeps the first example of each kind; the caller holds the tally's lock.
func addViolation(tally map[string]*queueViolation, kind, example string) {
	v := tally[kind]
	if v == nil {
		v = &queueViolation{example: example}
		tally[kind] = v
	}
	v.count++
}

func (q *queueRun) count(counter *int64) {
	q.mu.Lock()
	*counter++
	q.mu.Unlock()
}

// stopMonitor ends the sampling of the line and waits for it.
func (q *queueRun) stopMonitor() { q.stopOnce.Do(q.stop) }

// ticketView is the ticket every queue call answers.
type ticketView struct {
	TicketID             string     `json:"ticket_id"`
	Status               string     `json:"status"`
	EstimatedWaitSeconds int64      `json:"estimated_wait_seconds"`
	PollAfterMS          int64      `json:"poll_after_ms"`
	AdmittedAt           *time.Time `json:"admitted_at"`
	AdmissionExpiresAt   *time.Time `json:"admission_expires_at"`
	AdmissionToken       string     `json:"admission_token"`
}

func (r *run) queuePath() string { return "/flash-sales/" + url.PathEscape(r.sale.id) + "/queue" }

// abandonAfter is the sale's abandon_seconds; 0 when the sale did not say.
func (r *run) abandonAfter() time.Duration {
	return time.Duration(r.sale.waitingRoom.AbandonSeconds) * time.Second
}

// startQueue schedules every user's join: bots the instant the line opens
// (traffic start), a PreQueueShare of the people spread over the pre-queue,
// the others over Jitter after the start; and starts sampling the line.
func (r *run) startQueue(ctx context.Context) {
	untilOpen := time.Until(r.trafficStart)
	untilStart := time.Until(r.sale.start)
	preQueue := r.sale.start.Sub(r.trafficStart)
	for _, u := range r.users {
		u.queue = &queuePlace{}
		var at time.Duration
		switch {
		case u.bot:
			at = untilOpen
		case preQueue > 0 && u.rng.Float64() < r.cfg.PreQueueShare:
			// Turning to the line before the start: within the
			// pre-queue's last nanosecond, as drawn before reactions
			// (a reaction may still carry the join past the start).
			at = untilOpen + r.firstMove(u, preQueue-1)
		default:
			at = untilStart + r.firstMove(u, r.cfg.Jitter)
		}
		if !u.bot && u.rng.Float64() < r.cfg.LeaveShare {
			u.queue.givesUpAfter = 1 + u.rng.IntN(3)
			u.queue.quiet = u.rng.IntN(2) == 0
		}
		r.sched.after(at, func() { r.joinQueue(ctx, u) })
	}
	r.startQueueMonitor(ctx)
}

// farmPlaces checks that no farm operator's card held more than one place
// in a line that counts cards: the join claims the card for its first
// account, and refuses the others. The traffic is over: the users'
// places no longer change.
func (r *run) farmPlaces() []string {
	if !r.cfg.farmed() || r.sale.cardLimit == 0 {
		return nil
	}
	places := map[*farmOperator]int{}
	for _, u := range r.users {
		if u.farm != nil && u.queue != nil && u.queue.ticketID != "" {
			places[u.farm]++
		}
	}
	var past int
	var example string
	for _, operator := range r.operators {
		if places[operator] > 1 {
			past++
			if example == "" {
				example = fmt.Sprintf("farm %d's card %s held %d places", operator.index, operator.card, places[operator])
			}
		}
	}
	if past == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%d farm card(s) held more than one place in the line, which the join should have refused: e.g. %s", past, example)}
}

// joinBody is the body of u's join: none, or in a sale that counts cards
// the card u pays with (a card holds one place in the line).
func (r *run) joinBody(u *simUser) []byte {
	if r.sale.cardLimit == 0 {
		return nil
	}
	return []byte(`{"payment_token":"` + cmp.Or(u.card, "tok_visa") + `"}`)
}

// joinQueue is u's join of the line, and u's reaction to the answer.
func (r *run) joinQueue(ctx context.Context, u *simUser) {
	if ctx.Err() != nil {
		return
	}
	token, err := r.token(u)
	if err != nil {
		r.rec.record(endpointJoinQueue, response{err: err}, 0, time.Now())
		r.finish(u)
		return
	}
	sent := time.Now()
	resp := r.doSolved(ctx, u, request{endpoint: endpointJoinQueue, method: http.MethodPost, path: r.queuePath(), token: token,
		body: r.joinBody(u), device: u.device, forwardedFor: u.ip})
	switch {
	case resp.canceled:
	case resp.status == http.StatusCreated || resp.status == http.StatusOK:
		r.onTicket(ctx, u, resp, sent)
	case resp.code == "sold_out":
		r.saleSoldOut()
		r.finish(u)
	case resp.code == "purchase_limit_exceeded":
		// The card holds a place already, for another account (a
		// farm's): no place for this one, and nothing a retry changes.
		r.ledger.joinCardRefused(u, resp.reason)
		r.finish(u)
	case resp.code == "challenge_required":
		r.solve(u, resp, func(wait time.Duration) { r.sched.after(wait, func() { r.joinQueue(ctx, u) }) })
	case resp.code == "queue_not_open", resp.status == http.StatusTooManyRequests, resp.status == http.StatusServiceUnavailable, resp.outcomeUnknown():
		// queue_not_open: the generator's clock runs a little ahead of
		// the server's; the line opens in a moment.
		r.sched.after(max(r.retryWait(u, resp), botErrorPause), func() { r.joinQueue(ctx, u) })
	default:
		// The sale has ended or has no line, or the request is wrong:
		// the report's outcome table shows which.
		r.finish(u)
	}
}

// pollQueue is u's look at the ticket.
func (r *run) pollQueue(ctx context.Context, u *simUser) {
	if ctx.Err() != nil {
		return
	}
	p := u.queue
	if u.bot && !p.probed && !time.Now().Before(r.sale.start) {
		if r.probeWithoutToken(ctx, u) {
			return
		}
	}
	token, err := r.token(u)
	if err != nil {
		r.rec.record(endpointPollQueue, response{err: err}, 0, time.Now())
		r.finish(u)
		return
	}
	sent := time.Now()
	if !sent.Before(r.sale.start) {
		p.pollsSinceStart++
	}
	r.queue.polls.Add(1)
	resp := r.client.do(ctx, request{endpoint: endpointPollQueue, method: http.MethodGet, path: r.queuePath(), token: token})
	switch {
	case resp.canceled:
	case resp.status == http.StatusOK:
		r.onTicket(ctx, u, resp, sent)
	case resp.code == "ticket_not_found":
		r.queue.violation("lost places", fmt.Sprintf("user %s, ticket %s: GET …/queue answered 404 ticket_not_found to a shopper who never left", u.id, p.ticketID))
		r.finish(u)
	case resp.status == http.StatusTooManyRequests, resp.status == http.StatusServiceUnavailable, resp.outcomeUnknown():
		r.sched.after(r.retryWait(u, resp), func() { r.pollQueue(ctx, u) })
	default:
		r.finish(u)
	}
}

// onTicket reacts to a ticket that the join or poll sent at sent brought.
func (r *run) onTicket(ctx context.Context, u *simUser, resp response, sent time.Time) {
	var t ticketView
	if json.Unmarshal(resp.body, &t) != nil || t.TicketID == "" {
		r.ledger.note("a queue answer carried no ticket_id: the shopper cannot follow it")
		r.finish(u)
		return
	}
	now, p := time.Now(), u.queue
	if p.ticketID == "" {
		r.queue.mu.Lock()
		if t.Status == "pre_queue" {
			r.queue.joinedPreQueue.addUser(u)
		} else {
			r.queue.joinedAfterStart.addUser(u)
		}
		r.queue.mu.Unlock()
	} else if t.TicketID != p.ticketID {
		// The generator never joins again after losing a place, so its
		// ticket cannot change: one place per user.
		r.queue.violation("changed tickets", fmt.Sprintf("user %s held ticket %s and was then shown ticket %s", u.id, p.ticketID, t.TicketID))
	}
	previouslySeen := p.lastSeen
	p.ticketID, p.lastSeen, p.answered, p.pollAfter = t.TicketID, sent, now, time.Duration(t.PollAfterMS)*time.Millisecond
	if abandon := r.abandonAfter(); abandon > 0 && (t.Status == "waiting" || t.Status == "admitted") && p.pollAfter >= abandon {
		r.queue.count(&r.queue.tooLatePolls)
	}

	switch t.Status {
	case "pre_queue":
		r.nextPoll(ctx, u)
	case "waiting":
		if p.predictedAt.IsZero() {
			p.predicted, p.predictedAt = time.Duration(t.EstimatedWaitSeconds)*time.Second, now
		}
		if p.givesUpAfter > 0 && p.pollsSinceStart >= p.givesUpAfter {
			r.giveUp(ctx, u)
			return
		}
		r.nextPoll(ctx, u)
	case "admitted":
		if t.AdmissionToken == "" || t.AdmissionExpiresAt == nil {
			r.queue.violation("admitted tickets without a token", fmt.Sprintf("user %s, ticket %s: admitted without admission_token or admission_expires_at", u.id, t.TicketID))
			r.finish(u)
			return
		}
		if !p.admitted {
			p.admitted = true
			r.admittedSeen(u, t, now)
		}
		p.token, p.admissionEnds = t.AdmissionToken, t.AdmissionExpiresAt.Add(-r.skew)
		r.sched.after(time.Until(p.pressAt), func() { r.queuePress(ctx, u) })
	case "expired":
		r.placeExpired(u, previouslySeen, now)
		r.finish(u)
	case "sold_out":
		r.saleSoldOut()
		r.finish(u)
	default:
		r.ledger.note(fmt.Sprintf("a ticket read status %q, which the API does not define", t.Status))
		r.finish(u)
	}
}

// pollDue is how long after its last poll u polls again: as the ticket
// said, bots at once, and never so late that the service may take the
// place for not seeing the shopper (a ticket whose advice reaches
// abandon_seconds is counted and reported).
func (r *run) pollDue(u *simUser) time.Duration {
	if u.bot {
		return 0
	}
	if abandon := r.abandonAfter(); abandon > 0 {
		return min(u.queue.pollAfter, abandon*2/3)
	}
	return u.queue.pollAfter
}

func (r *run) nextPoll(ctx context.Context, u *simUser) {
	r.sched.after(r.pollDue(u), func() { r.pollQueue(ctx, u) })
}

// admittedSeen records u's admission the first time a ticket shows it.
func (r *run) admittedSeen(u *simUser, t ticketView, now time.Time) {
	p := u.queue
	admittedAt := now
	if t.AdmittedAt != nil {
		admittedAt = t.AdmittedAt.Add(-r.skew)
	}
	if admittedAt.Before(r.sale.start.Add(-time.Second)) {
		r.queue.violation("admissions before the start", fmt.Sprintf("user %s, ticket %s admitted at %s, before the start", u.id, t.TicketID, t.AdmittedAt))
	}
	q := r.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	q.admitted.addUser(u)
	q.noticed = append(q.noticed, max(now.Sub(admittedAt), 0).Seconds())
	if p.predictedAt.IsZero() {
		q.neverWaited++
		return
	}
	actual := max(admittedAt.Sub(p.predictedAt), 0)
	q.predicted = append(q.predicted, p.predicted.Seconds())
	q.actual = append(q.actual, actual.Seconds())
	if p.predicted > 0 {
		q.ratio = append(q.ratio, actual.Seconds()/p.predicted.Seconds())
	}
}

// placeExpired sorts out a ticket that arrived at now reading expired:
// the admission's session ended, the generator itself was late to poll,
// or the service took the place of a shopper it had seen within
// abandon_seconds. The shopper was last seen no earlier than
// previouslySeen, when the contact before this one was sent.
func (r *run) placeExpired(u *simUser, previouslySeen, now time.Time) {
	p := u.queue
	unseen := now.Sub(previouslySeen)
	switch {
	case p.admitted && !now.Before(p.admissionEnds.Add(-time.Second)):
		r.queue.count(&r.queue.sessionEnded)
	case r.abandonAfter() > 0 && unseen < r.abandonAfter()-time.Second:
		r.queue.violation("places expired while their shoppers polled", fmt.Sprintf("user %s, ticket %s: expired %v after the shopper was last seen, abandon_seconds is %d",
			u.id, p.ticketID, unseen.Round(time.Millisecond), r.sale.waitingRoom.AbandonSeconds))
	default:
		r.queue.count(&r.queue.expiredLate)
	}
}

// giveUp is a person leaving the line: politely (DELETE) or by closing
// the tab, which the service finds out after abandon_seconds.
func (r *run) giveUp(ctx context.Context, u *simUser) {
	if u.queue.quiet {
		r.queue.count(&r.queue.quiet)
	} else {
		r.queue.count(&r.queue.left)
		r.leaveQueue(ctx, u)
	}
	r.finish(u)
}

func (r *run) leaveQueue(ctx context.Context, u *simUser) {
	token, err := r.token(u)
	if err != nil {
		r.rec.record(endpointLeaveQueue, response{err: err}, 0, time.Now())
		return
	}
	r.client.do(ctx, request{endpoint: endpointLeaveQueue, method: http.MethodDelete, path: r.queuePath(), token: token})
}

// saleSoldOut marks every item sold out as the line said so.
func (r *run) saleSoldOut() {
	for _, item := range r.sale.items {
		r.ledger.soldOut(item.id, r.trafficStart)
	}
}

// queuePress is an admitted u's press of Buy with the admission token.
func (r *run) queuePress(ctx context.Context, u *simUser) {
	if ctx.Err() != nil {
		return
	}
	p := u.queue
	if u.bot && !p.probed && r.probeWithoutToken(ctx, u) {
		return
	}
	item, key, ok := r.nextPress(u)
	if !ok {
		return
	}
	token, err := r.token(u)
	if err != nil {
		r.rec.record(endpointPlaceOrder, response{err: err}, 0, time.Now())
		r.finish(u)
		return
	}
	resp := r.doSolved(ctx, u, request{
		endpoint: endpointPlaceOrder, method: http.MethodPost, path: "/flash-sales/" + url.PathEscape(r.sale.id) + "/orders",
		token: token, idempotencyKey: key, admission: p.token, body: r.placeBodies[item], device: u.device, forwardedFor: u.ip,
	})
	if resp.canceled {
		return
	}
	if resp.outcomeUnknown() {
		u.retryItem, u.retryKey = item, key
	} else {
		u.retryItem, u.retryKey = -1, ""
	}
	switch {
	case resp.status == http.StatusCreated || resp.status == http.StatusOK:
		order, ok := r.ledger.reserved(u, r.sale.items[item].id, resp, r.trafficStart)
		if !ok {
			r.finish(u)
			return
		}
		pays := u.bot || u.rng.Float64() < r.cfg.PayProbability
		if pays && !u.bot {
			// A person checking out gives the admission slot back for
			// the next shopper, as the checkout page would.
			r.queue.count(&r.queue.released)
			r.leaveQueue(ctx, u)
		}
		r.finish(u)
		r.settle(ctx, u, order, pays, r.thinkTime(u))
	case resp.code == "sold_out":
		r.ledger.soldOut(r.sale.items[item].id, r.trafficStart)
		u.soldOut[item] = true
		if u.pickItem() < 0 {
			r.finish(u)
			return
		}
		r.pressAgain(ctx, u, r.retryWait(u, resp))
	case resp.code == "admission_required":
		if time.Now().Before(p.admissionEnds.Add(-time.Second)) {
			r.queue.violation("admission tokens refused before they expired", fmt.Sprintf("user %s: place-order answered 403 admission_required to the token of an admission lasting until %s", u.id, p.admissionEnds))
		}
		r.finish(u)
	case resp.code == "challenge_required":
		r.solve(u, resp, func(wait time.Duration) { r.pressAgain(ctx, u, wait) })
	case resp.status == http.StatusAccepted:
		r.ledger.note("a place-order was queued (202): the queue scenario does not follow queued admission; run it against a direct-admission sale")
		r.finish(u)
	case resp.code == "already_purchased", resp.code == "purchase_limit_exceeded", resp.code == "account_not_eligible",
		resp.status == http.StatusUnauthorized, resp.code == "forbidden",
		resp.status == http.StatusNotFound, resp.status == http.StatusRequestEntityTooLarge,
		resp.status == http.StatusBadRequest && resp.code != "sale_not_active":
		r.finish(u)
	default:
		r.pressAgain(ctx, u, r.retryWait(u, resp))
	}
}

// pressAgain presses again after wait, or polls first when the ticket is
// due a poll before then (an admitted shopper who has not reserved must
// keep being seen), and the poll presses again.
func (r *run) pressAgain(ctx context.Context, u *simUser, wait time.Duration) {
	p := u.queue
	p.pressAt = time.Now().Add(wait)
	if pollIn := r.pollDue(u) - time.Since(p.answered); pollIn < wait && !u.bot {
		r.sched.after(pollIn, func() { r.pollQueue(ctx, u) })
		return
	}
	r.sched.after(wait, func() { r.queuePress(ctx, u) })
}

// probeWithoutToken is a bot pressing Buy once without an admission token,
// as soon as the sale opens: the service must refuse it (403
// admission_required, or first challenge_required in a sale that asks
// challenges, which the probe leaves unsolved: a refusal is all it looks
// for). It reports whether the bot is done, which it is only when the
// press bought something.
func (r *run) probeWithoutToken(ctx context.Context, u *simUser) bool {
	u.queue.probed = true
	item := u.pickItem()
	if item < 0 || r.takeAttempt() == 0 {
		return false
	}
	token, err := r.token(u)
	if err != nil {
		return false
	}
	r.queue.count(&r.queue.tokenlessPresses)
	resp := r.client.do(ctx, request{
		endpoint: endpointPlaceOrder, method: http.MethodPost, path: "/flash-sales/" + url.PathEscape(r.sale.id) + "/orders",
		token: token, idempotencyKey: u.id + "-without-admission", body: r.placeBodies[item],
	})
	if resp.status != http.StatusCreated && resp.status != http.StatusOK {
		return false
	}
	r.queue.violation("orders taken without an admission token", fmt.Sprintf("user %s: place-order without Flashsale-Admission answered %d", u.id, resp.status))
	r.finish(u)
	if order, ok := r.ledger.reserved(u, r.sale.items[item].id, resp, r.trafficStart); ok {
		r.settle(ctx, u, order, true, 0)
	}
	return true
}
