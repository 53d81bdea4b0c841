package loadtest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The herd scenario and the bots that join it: every user presses Buy,
// then pays, walks away or tries again as told.

// startHerd schedules every user's first press: bots the instant the sale
// opens, people spread over the jitter window and their reaction (closed
// loop) or, with a rate, pressing as the open-loop arrivals pick them.
func (r *run) startHerd(ctx context.Context) {
	untilStart := time.Until(r.trafficStart)
	openLoop := r.cfg.Rate > 0
	for _, u := range r.users {
		switch {
		case u.bot:
			r.sched.after(untilStart, func() { r.press(ctx, u) })
		case openLoop:
			r.idlePeople = append(r.idlePeople, u)
			r.peopleLeft.Add(1)
		default:
			r.sched.after(untilStart+r.firstMove(u, r.cfg.Jitter), func() { r.press(ctx, u) })
		}
	}
	if openLoop && len(r.idlePeople) > 0 {
		r.sched.spawn(func() {
			r.openLoop(ctx, func() bool { return r.peopleLeft.Load() > 0 }, func(time.Time) {
				if u := r.takeIdlePerson(); u != nil {
					r.press(ctx, u)
				} else {
					r.unused.Add(1)
				}
			})
		})
	}
}

// takeIdlePerson removes a random person waiting to press, or returns nil
// when all are busy or backing off (the arrival then passes unused, and is
// counted).
func (r *run) takeIdlePerson() *simUser {
	r.idleMu.Lock()
	defer r.idleMu.Unlock()
	if len(r.idlePeople) == 0 {
		return nil
	}
	r.pickerMu.Lock()
	i := r.pickerRand.IntN(len(r.idlePeople))
	r.pickerMu.Unlock()
	u := r.idlePeople[i]
	last := len(r.idlePeople) - 1
	r.idlePeople[i], r.idlePeople = r.idlePeople[last], r.idlePeople[:last]
	return u
}

func (r *run) returnIdlePerson(u *simUser) {
	r.idleMu.Lock()
	r.idlePeople = append(r.idlePeople, u)
	r.idleMu.Unlock()
}

// again makes u press again after wait: a bot or a closed-loop person
// through a timer; an open-loop person by rejoining the people the
// arrivals pick from, once wait has passed.
func (r *run) again(ctx context.Context, u *simUser, wait time.Duration) {
	switch {
	case u.bot || r.cfg.Rate == 0:
		r.sched.after(wait, func() { r.press(ctx, u) })
	case wait > 0:
		r.sched.after(wait, func() { r.returnIdlePerson(u) })
	default:
		r.returnIdlePerson(u)
	}
}

// finish marks u done: it will not press again. Its token goes too: a
// finished user sends nothing more but a winner's payment and the final
// order check, which mint it again, and a million finished users' tokens
// would be most of the generator's heap.
func (r *run) finish(u *simUser) {
	u.token.Store(nil)
	if !u.bot && r.cfg.Rate > 0 {
		r.peopleLeft.Add(-1)
	}
}

// pickItem returns the item u goes for: the one to retry after an unknown
// outcome, else a random item u has not seen sold out; -1 when none is left.
func (u *simUser) pickItem() int {
	if u.retryItem >= 0 {
		return u.retryItem
	}
	open := 0
	for _, soldOut := range u.soldOut {
		if !soldOut {
			open++
		}
	}
	if open == 0 {
		return -1
	}
	pick := u.rng.IntN(open)
	for i, soldOut := range u.soldOut {
		if !soldOut {
			if pick == 0 {
				return i
			}
			pick--
		}
	}
	panic("unreachable: pick is below the count of open items")
}

// nextPress picks the item u presses Buy for and the press's idempotency
// key (a retry's own when the last answer left its outcome unknown), and
// takes one of the run's attempts; false when u is done (nothing open, the
// sale over: u finishes) or the attempts are spent.
func (r *run) nextPress(u *simUser) (item int, key string, ok bool) {
	item = u.pickItem()
	if item < 0 || time.Now().After(r.sale.end) {
		r.finish(u)
		return 0, "", false
	}
	if r.takeAttempt() == 0 {
		return 0, "", false
	}
	key = u.retryKey
	if key == "" {
		u.attempts++
		key = fmt.Sprintf("%s-%d", u.id, u.attempts)
	}
	return item, key, true
}

// press is one press of Buy by u, and u's reaction to the answer.
func (r *run) press(ctx context.Context, u *simUser) {
	if ctx.Err() != nil {
		return
	}
	item, key, ok := r.nextPress(u)
	if !ok {
		return
	}
	resp := r.placeOrder(ctx, u, item, key, time.Time{})
	if resp.canceled {
		return
	}
	if resp.outcomeUnknown() {
		u.retryItem, u.retryKey = item, key
	} else {
		u.retryItem, u.retryKey = -1, ""
	}
	r.react(ctx, u, item, resp)
}

func (r *run) placeOrder(ctx context.Context, u *simUser, item int, idempotencyKey string, intended time.Time) response {
	token, err := r.token(u)
	if err != nil {
		r.rec.record(endpointPlaceOrder, response{err: err}, 0, time.Now())
		return response{err: err}
	}
	return r.doSolved(ctx, u, request{
		endpoint: endpointPlaceOrder, method: http.MethodPost,
		path:  "/flash-sales/" + url.PathEscape(r.sale.id) + "/orders",
		token: token, idempotencyKey: idempotencyKey, intended: intended,
		body: r.placeBodies[item], device: u.device, forwardedFor: u.ip,
	})
}

// react handles the answer to a press (or to a poll of a queued one).
func (r *run) react(ctx context.Context, u *simUser, item int, resp response) {
	switch {
	case resp.status == http.StatusCreated || resp.status == http.StatusOK:
		r.finish(u)
		if order, ok := r.ledger.reserved(u, r.sale.items[item].id, resp, r.trafficStart); ok {
			r.settle(ctx, u, order, u.bot || u.rng.Float64() < r.cfg.PayProbability, r.thinkTime(u))
		}
	case resp.status == http.StatusAccepted:
		r.pollQueued(ctx, u, item, resp)
	case resp.code == "sold_out":
		r.ledger.soldOut(r.sale.items[item].id, r.trafficStart)
		u.soldOut[item] = true
		if u.pickItem() < 0 {
			if r.comesBack(u) {
				// Units may come back (an expiry, a cancel): the
				// person looks again later, every item open again.
				clear(u.soldOut)
				r.again(ctx, u, r.cfg.ComeBack)
				return
			}
			r.finish(u)
			return
		}
		r.again(ctx, u, r.retryWait(u, resp))
	case resp.code == "already_purchased", resp.code == "purchase_limit_exceeded", resp.code == "account_not_eligible",
		resp.status == http.StatusUnauthorized, resp.code == "forbidden",
		resp.status == http.StatusNotFound, resp.status == http.StatusRequestEntityTooLarge,
		resp.status == http.StatusBadRequest && resp.code != "sale_not_active":
		// Nothing a retry can change: the user has one already, or the
		// request itself is wrong (the report shows which).
		r.finish(u)
	case resp.code == "challenge_required" && u.bot && r.cfg.BotEvade > 0 && !u.evaded:
		u.evaded = true
		r.again(ctx, u, r.cfg.BotEvade)
	case resp.code == "challenge_required":
		r.solve(u, resp, func(wait time.Duration) { r.again(ctx, u, wait) })
	default:
		// sale_not_active (a countdown off by a little), 429, 503, 5xx
		// and transport errors: try again.
		r.again(ctx, u, r.retryWait(u, resp))
	}
}

// comesBack reports whether u, who found every item sold out, will look
// again after ComeBack: people in the herd's scenarios do while the sale
// lasts; bots and farm accounts have lost and stop.
func (r *run) comesBack(u *simUser) bool {
	switch r.cfg.Scenario {
	case ScenarioHerd, ScenarioBots, ScenarioFarm:
		return !u.bot && r.cfg.ComeBack > 0 && time.Now().Add(r.cfg.ComeBack).Before(r.sale.end)
	}
	return false
}

// retryWait is how long u waits before pressing again: bots do not wait
// (not even for Retry-After: ignoring it is what makes them bots), but
// for a paced challenge's solution sent too soon, as anyone; people
// honour Retry-After and otherwise keep their pace, which in open loop is
// the arrival rate.
func (r *run) retryWait(u *simUser, resp response) time.Duration {
	switch {
	case solutionEarly(resp):
		// A solution is taken no sooner: every solver waits as told (and
		// the scheduler's granularity, by which it may run early).
		return resp.retryAfter + timerGranularity
	case u.bot && resp.outcomeUnknown():
		return botErrorPause
	case u.bot:
		return 0
	case resp.retryAfter > 0 && (resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable):
		return resp.retryAfter
	case r.cfg.Rate > 0:
		return 0
	default:
		return r.cfg.RetryInterval
	}
}

// thinkTime is how long a winner takes to pay: bots pay at once, people take
// 0.5 to 1.5 times the configured think time.
func (r *run) thinkTime(u *simUser) time.Duration {
	if u.bot {
		return 0
	}
	return time.Duration(float64(r.cfg.ThinkTime) * (0.5 + u.rng.Float64()))
}

// pollQueued follows a 202 (queued admission) until it resolves into one of
// the place-order outcomes, then reacts to that.
func (r *run) pollQueued(ctx context.Context, u *simUser, item int, accepted response) {
	var queued struct {
		StatusURL string `json:"status_url"`
	}
	if json.Unmarshal(accepted.body, &queued) != nil || queued.StatusURL == "" {
		r.ledger.note("a 202 without status_url: the queued order cannot be followed")
		r.finish(u)
		return
	}
	wait := accepted.retryAfter
	if wait == 0 {
		wait = max(r.cfg.RetryInterval/4, 50*time.Millisecond)
	}
	r.sched.after(wait, func() {
		if ctx.Err() != nil {
			return
		}
		token, err := r.token(u)
		if err != nil {
			r.finish(u)
			return
		}
		resp := r.client.do(ctx, request{endpoint: endpointPollOrder, method: http.MethodGet, path: pathOf(queued.StatusURL), token: token})
		switch {
		case resp.canceled:
		case resp.status == http.StatusAccepted:
			r.pollQueued(ctx, u, item, resp)
		case resp.status == http.StatusTooManyRequests:
			// The read was refused, not the order: read again once the
			// limit allows. Pressing Buy again instead would send a
			// second order beside the queued one.
			again := accepted
			again.retryAfter = resp.limitWait()
			r.pollQueued(ctx, u, item, again)
		case resp.err != nil || resp.status >= 500:
			r.pollQueued(ctx, u, item, accepted)
		default:
			r.react(ctx, u, item, resp)
		}
	})
}

// pathOf returns the path and query of a status URL that may be absolute.
func pathOf(statusURL string) string {
	if parsed, err := url.Parse(statusURL); err == nil && parsed.IsAbs() {
		return parsed.RequestURI()
	}
	return statusURL
}

// settle lets a winner pay after its think time, or walk away.
func (r *run) settle(ctx context.Context, u *simUser, order orderRef, pays bool, think time.Duration) {
	if !pays {
		r.ledger.abandoned()
		return
	}
	r.sched.after(think, func() { r.pay(ctx, u, order, 1) })
}

func (r *run) pay(ctx context.Context, u *simUser, order orderRef, attempt int) {
	if ctx.Err() != nil {
		r.ledger.paymentUnfinished()
		return
	}
	token, err := r.token(u)
	if err != nil {
		r.ledger.paymentFailed()
		return
	}
	resp := r.client.do(ctx, request{
		endpoint: endpointPay, method: http.MethodPost, path: "/orders/" + url.PathEscape(order.id) + "/pay",
		token: token, idempotencyKey: "pay-" + order.id, body: payBodyWith(u.card), device: u.device, forwardedFor: u.ip,
	})
	switch {
	case resp.canceled:
		r.ledger.paymentUnfinished()
	case resp.status == http.StatusOK:
		r.ledger.paid(order)
		if r.lottery != nil && r.ledger.confirmedOrders() >= r.lotteryOrders() {
			r.endTraffic(stopLotterySold)
		}
	case resp.status == http.StatusConflict && resp.code == "purchase_limit_exceeded":
		// The card has paid for the sale's per_card units already, on
		// this account or another: the service keeps the reservation
		// for another card, which u does not have. It is left to
		// expire, as a farm's script would leave it, and is neither a
		// failed payment nor a fault of the service.
		r.ledger.cardRefused(order, resp.reason)
	case resp.status == http.StatusTooManyRequests:
		// A rate limit answered before the payment was looked at: the
		// winner pays again once the limit allows, however often, and
		// spends no attempt. It is not a failed payment; one the traffic's
		// end cuts short is unfinished.
		r.sched.after(cmp.Or(resp.limitWait(), r.cfg.RetryInterval), func() { r.pay(ctx, u, order, attempt) })
	case (resp.status == http.StatusServiceUnavailable || resp.outcomeUnknown()) && attempt < paymentAttempts:
		wait := resp.retryAfter
		if wait == 0 {
			wait = r.cfg.RetryInterval
		}
		r.sched.after(wait, func() { r.pay(ctx, u, order, attempt+1) })
	default:
		r.ledger.paymentFailed()
	}
}
