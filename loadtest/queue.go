package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The queue scenario: the herd in front of a waiting room. People join the
// line over the pre-queue or after the start, poll when their ticket says,
// press Buy with their admission token once admitted, then pay or walk
// away as the herd does; some give up while waiting. Bots join the instant
// the line opens, poll and press at machine speed, and try the Buy button
// once without a token, which the service must refuse.

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
	v := q.violations[kind]
	if v == nil {
		v = &queueViolation{example: example}
		q.violations[kind] = v
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
			at = untilOpen + time.Duration(u.rng.Int64N(int64(preQueue)))
		default:
			at = untilStart + time.Duration(u.rng.Int64N(int64(r.cfg.Jitter)+1))
		}
		if !u.bot && u.rng.Float64() < r.cfg.LeaveShare {
			u.queue.givesUpAfter = 1 + u.rng.IntN(3)
			u.queue.quiet = u.rng.IntN(2) == 0
		}
		r.sched.after(at, func() { r.joinQueue(ctx, u) })
	}
	r.startQueueMonitor(ctx)
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
	resp := r.client.do(ctx, request{endpoint: endpointJoinQueue, method: http.MethodPost, path: r.queuePath(), token: token})
	switch {
	case resp.canceled:
	case resp.status == http.StatusCreated || resp.status == http.StatusOK:
		r.onTicket(ctx, u, resp, sent)
	case resp.code == "sold_out":
		r.saleSoldOut()
		r.finish(u)
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
			r.queue.joinedPreQueue.add(u.bot)
		} else {
			r.queue.joinedAfterStart.add(u.bot)
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
	q.admitted.add(u.bot)
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
	item := u.pickItem()
	if item < 0 || time.Now().After(r.sale.end) {
		r.finish(u)
		return
	}
	if r.takeAttempt() == 0 {
		return
	}
	key := u.retryKey
	if key == "" {
		u.attempts++
		key = fmt.Sprintf("%s-%d", u.id, u.attempts)
	}
	token, err := r.token(u)
	if err != nil {
		r.rec.record(endpointPlaceOrder, response{err: err}, 0, time.Now())
		r.finish(u)
		return
	}
	resp := r.client.do(ctx, request{
		endpoint: endpointPlaceOrder, method: http.MethodPost, path: "/flash-sales/" + url.PathEscape(r.sale.id) + "/orders",
		token: token, idempotencyKey: key, admission: p.token, body: r.placeBodies[item],
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
	case resp.status == http.StatusAccepted:
		r.ledger.note("a place-order was queued (202): the queue scenario does not follow queued admission; run it against a direct-admission sale")
		r.finish(u)
	case resp.code == "already_purchased",
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
// admission_required). It reports whether the bot is done, which it is
// only when the press bought something.
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

// queueStatsView is GET /admin/flash-sales/{id}/queue.
type queueStatsView struct {
	Waiting        int64 `json:"waiting"`
	PreQueue       int64 `json:"pre_queue"`
	AdmittedTotal  int64 `json:"admitted_total"`
	Active         int64 `json:"active"`
	Abandoned      int64 `json:"abandoned"`
	AdmitPerMinute int64 `json:"admit_per_minute"`
	MaxActive      int64 `json:"max_active"`
	Paused         bool  `json:"paused"`
	SoldOut        bool  `json:"sold_out"`
}

// QueueSample is the line's admin figures at one moment.
type QueueSample struct {
	// AtMs counts from traffic start to the answer.
	AtMs           float64 `json:"at_ms"`
	Waiting        int64   `json:"waiting"`
	PreQueue       int64   `json:"pre_queue"`
	AdmittedTotal  int64   `json:"admitted_total"`
	Active         int64   `json:"active"`
	Abandoned      int64   `json:"abandoned"`
	AdmitPerMinute int64   `json:"admit_per_minute"`
	MaxActive      int64   `json:"max_active"`
	Paused         bool    `json:"paused"`
	SoldOut        bool    `json:"sold_out"`
	// PollsPerSecond is the generator's GET …/queue rate since the
	// sample before.
	PollsPerSecond float64 `json:"polls_per_second"`
}

// queueSampleEvery is how often the line's figures are read: the admission
// rate is measured from them.
const queueSampleEvery = time.Second

// startQueueMonitor reads the line's figures every queueSampleEvery from
// traffic start until stopMonitor. It runs outside the scheduler, whose
// idleness tells that every user is done.
func (r *run) startQueueMonitor(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.queue.stop = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		timer := time.NewTimer(time.Until(r.trafficStart))
		defer timer.Stop()
		var lastPolls int64
		lastAt := r.trafficStart
		for k := 1; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			if s, ok := r.sampleQueue(ctx); ok {
				polls, now := r.queue.polls.Load(), time.Now()
				if elapsed := now.Sub(lastAt).Seconds(); elapsed > 0 {
					s.PollsPerSecond = float64(polls-lastPolls) / elapsed
				}
				lastPolls, lastAt = polls, now
				r.queue.mu.Lock()
				r.queue.samples = append(r.queue.samples, s)
				r.queue.mu.Unlock()
			}
			timer.Reset(time.Until(r.trafficStart.Add(time.Duration(k) * queueSampleEvery)))
		}
	}()
}

func (r *run) sampleQueue(ctx context.Context) (QueueSample, bool) {
	resp := r.client.do(ctx, request{endpoint: endpointQueueStats, method: http.MethodGet,
		path: "/admin/flash-sales/" + url.PathEscape(r.sale.id) + "/queue", token: r.adminToken})
	var v queueStatsView
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &v) != nil {
		return QueueSample{}, false
	}
	return QueueSample{
		AtMs: ms(time.Since(r.trafficStart)), Waiting: v.Waiting, PreQueue: v.PreQueue, AdmittedTotal: v.AdmittedTotal,
		Active: v.Active, Abandoned: v.Abandoned, AdmitPerMinute: v.AdmitPerMinute, MaxActive: v.MaxActive,
		Paused: v.Paused, SoldOut: v.SoldOut,
	}, true
}

// QueueReport is the queue scenario's account of the waiting room.
// Seconds are the unit of waits.
type QueueReport struct {
	AdmitPerMinute  int64   `json:"admit_per_minute"`
	MaxActive       int64   `json:"max_active"`
	PreQueueSeconds int64   `json:"pre_queue_seconds"`
	AbandonSeconds  int64   `json:"abandon_seconds"`
	Order           string  `json:"order"`
	Overbook        float64 `json:"overbook"`
	// SaleStartAfterMs is when the sale started, counted from traffic
	// start, which in this scenario is when the line opened.
	SaleStartAfterMs float64 `json:"sale_start_after_ms"`

	// JoinedPreQueue and JoinedAfterStart count the places taken, by the
	// first ticket's status.
	JoinedPreQueue   Split `json:"joined_pre_queue"`
	JoinedAfterStart Split `json:"joined_after_start"`
	// Admitted counts the shoppers who saw their admission;
	// AdmittedByService is the service's admitted_total at the end.
	Admitted          Split `json:"admitted"`
	AdmittedByService int64 `json:"admitted_by_service"`

	// Admission compares the measured admission rate with the setting.
	Admission AdmissionRate `json:"admission"`

	// PredictedWait is estimated_wait_seconds of each admitted shopper's
	// first waiting ticket; ActualWait the time from that ticket to
	// admitted_at; WaitRatio actual over predicted, shopper by shopper.
	// NeverWaited shoppers were admitted before a ticket read waiting.
	PredictedWait Quantiles `json:"predicted_wait_s"`
	ActualWait    Quantiles `json:"actual_wait_s"`
	WaitRatio     Quantiles `json:"wait_ratio"`
	NeverWaited   int64     `json:"never_waited"`
	// AdmissionNoticed is how long after admitted_at the shoppers saw
	// their admission: what polling as told costs them.
	AdmissionNoticed Quantiles `json:"admission_noticed_s"`

	// Left gave their place up (DELETE) while waiting; WalkedAway stopped
	// polling and left their place to expire; Released gave their
	// admission slot back after reserving. Abandoned is the service's
	// count of places lost for not being seen (the last sample): those
	// who walked away within abandon_seconds of its end are not in it.
	Left       int64 `json:"left"`
	WalkedAway int64 `json:"walked_away"`
	Released   int64 `json:"released"`
	Abandoned  int64 `json:"abandoned"`
	// SessionsEnded saw their admission end; ExpiredLate lost a place
	// because the generator polled later than abandon_seconds (its
	// workers were all busy).
	SessionsEnded int64 `json:"sessions_ended"`
	ExpiredLate   int64 `json:"expired_late"`
	// TooLatePolls counts tickets whose poll_after_ms reached
	// abandon_seconds; the generator polled sooner.
	TooLatePolls int64 `json:"too_late_polls"`
	// TokenlessPresses are the bots' presses without an admission token;
	// every one must be refused.
	TokenlessPresses int64 `json:"tokenless_presses"`

	// Joins and Polls are the latencies of POST and GET …/queue;
	// PollsPerSecond is the GET rate over the traffic phase and
	// PeakPollsPerSecond the highest between two samples.
	Joins              LatencySummary `json:"joins"`
	Polls              LatencySummary `json:"polls"`
	PollsPerSecond     float64        `json:"polls_per_second"`
	PeakPollsPerSecond float64        `json:"peak_polls_per_second"`

	Samples []QueueSample `json:"samples"`
}

// AdmissionRate is the admission rate measured from the line's figures
// while shoppers were waiting and the sale was neither sold out nor
// paused: the setting is an upper bound the caps (max_active, overbook ×
// available) may hold it under.
type AdmissionRate struct {
	SettingPerSecond  float64 `json:"setting_per_second"`
	MeasuredPerSecond float64 `json:"measured_per_second"`
	// MeasuredOverSeconds is the span measured; FromMs and ToMs bound it,
	// from traffic start.
	MeasuredOverSeconds float64 `json:"measured_over_seconds"`
	FromMs              float64 `json:"from_ms"`
	ToMs                float64 `json:"to_ms"`
	// CappedSamples were taken with max_active reached.
	CappedSamples int `json:"capped_samples"`
}

// Quantiles summarise a distribution of seconds or ratios.
type Quantiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	Max   float64 `json:"max"`
}

func quantiles(values []float64) Quantiles {
	if len(values) == 0 {
		return Quantiles{}
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	at := func(q float64) float64 { return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)] }
	return Quantiles{Count: len(sorted), P50: at(0.5), P90: at(0.9), Max: sorted[len(sorted)-1]}
}

// queueReport assembles the queue scenario's report and the violations
// its figures show.
func (r *run) queueReport(endpoints []EndpointReport, trafficSeconds float64) (*QueueReport, []string) {
	q := r.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	w := r.sale.waitingRoom
	report := &QueueReport{
		AdmitPerMinute: w.AdmitPerMinute, MaxActive: w.MaxActive, PreQueueSeconds: w.PreQueueSeconds,
		AbandonSeconds: w.AbandonSeconds, Order: w.Order, Overbook: w.Overbook,
		SaleStartAfterMs: ms(r.sale.start.Sub(r.trafficStart)),
		JoinedPreQueue:   newSplit(q.joinedPreQueue), JoinedAfterStart: newSplit(q.joinedAfterStart), Admitted: newSplit(q.admitted),
		PredictedWait: quantiles(q.predicted), ActualWait: quantiles(q.actual), WaitRatio: quantiles(q.ratio),
		NeverWaited: q.neverWaited, AdmissionNoticed: quantiles(q.noticed),
		Left: q.left, WalkedAway: q.quiet, Released: q.released,
		SessionsEnded: q.sessionEnded, ExpiredLate: q.expiredLate, TooLatePolls: q.tooLatePolls,
		TokenlessPresses: q.tokenlessPresses,
		Samples:          append([]QueueSample{}, q.samples...),
	}
	for _, ep := range endpoints {
		switch ep.Endpoint {
		case endpointJoinQueue:
			report.Joins = ep.LatencySummary
		case endpointPollQueue:
			report.Polls = ep.LatencySummary
			if trafficSeconds > 0 {
				report.PollsPerSecond = float64(ep.Count) / trafficSeconds
			}
		}
	}
	var violations []string
	kinds := make([]string, 0, len(q.violations))
	for kind := range q.violations {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		v := q.violations[kind]
		violations = append(violations, fmt.Sprintf("waiting room: %d %s (e.g. %s)", v.count, kind, v.example))
	}
	last := q.final
	if last == nil && len(q.samples) > 0 {
		last = &q.samples[len(q.samples)-1]
	}
	if last != nil {
		report.Abandoned, report.AdmittedByService = last.Abandoned, last.AdmittedTotal
	}
	all := report.Samples
	if q.final != nil {
		all = append(all, *q.final)
	}
	report.Admission, violations = r.admissionRate(all, violations)
	for _, s := range report.Samples {
		report.PeakPollsPerSecond = max(report.PeakPollsPerSecond, s.PollsPerSecond)
	}
	return report, violations
}

// admissionRate measures the rate over the longest span of samples from
// the start during which shoppers waited and the sale was neither sold
// out nor paused, and checks every sample against the setting (at most
// the rate for the time since the start, plus one second for the tick)
// and the cap.
func (r *run) admissionRate(samples []QueueSample, violations []string) (AdmissionRate, []string) {
	startMs := ms(r.sale.start.Sub(r.trafficStart))
	var rate AdmissionRate
	var highest int64
	for _, s := range samples {
		highest = max(highest, s.AdmitPerMinute)
	}
	rate.SettingPerSecond = float64(r.sale.waitingRoom.AdmitPerMinute) / 60
	allowedPerSecond := float64(max(highest, r.sale.waitingRoom.AdmitPerMinute)) / 60
	first, last := -1, -1
	overRate, overCap := 0, 0
	var overRateExample, overCapExample string
	for i, s := range samples {
		since := max(s.AtMs-startMs, 0) / 1000
		if allowed := allowedPerSecond*(since+1) + 1; float64(s.AdmittedTotal) > allowed {
			overRate++
			overRateExample = fmt.Sprintf("%d admitted %.1f s after the start, at most %.0f allowed", s.AdmittedTotal, since, allowed)
		}
		if s.MaxActive > 0 && s.Active > s.MaxActive {
			overCap++
			overCapExample = fmt.Sprintf("%d active with max_active %d", s.Active, s.MaxActive)
		}
		if s.MaxActive > 0 && s.Active >= s.MaxActive {
			rate.CappedSamples++
		}
		busy := s.AtMs >= startMs && s.Waiting > 0 && !s.SoldOut && !s.Paused
		switch {
		case busy && first < 0:
			first, last = i, i
		case busy && last == i-1:
			last = i
		}
	}
	if overRate > 0 {
		violations = append(violations, fmt.Sprintf("waiting room: %d samples admitted more than admit_per_minute allows (e.g. %s)", overRate, overRateExample))
	}
	if overCap > 0 {
		violations = append(violations, fmt.Sprintf("waiting room: %d samples over max_active (e.g. %s)", overCap, overCapExample))
	}
	if first >= 0 && last > first {
		a, b := samples[first], samples[last]
		rate.FromMs, rate.ToMs = a.AtMs, b.AtMs
		rate.MeasuredOverSeconds = (b.AtMs - a.AtMs) / 1000
		rate.MeasuredPerSecond = float64(b.AdmittedTotal-a.AdmittedTotal) / rate.MeasuredOverSeconds
	}
	return rate, violations
}

// finishQueue reads the line's figures once more after the traffic, for
// the places abandoned since the last sample.
func (r *run) finishQueue(ctx context.Context) {
	if s, ok := r.sampleQueue(ctx); ok {
		r.queue.mu.Lock()
		r.queue.final = &s
		r.queue.mu.Unlock()
	}
}

// writeQueueText is the queue scenario's part of the text summary.
func writeQueueText(b *strings.Builder, q *QueueReport) {
	fmt.Fprintf(b, "waiting room: admit_per_minute %d (%.1f/s), max_active %d, pre-queue %d s, abandon %d s, %s; the sale started %.0f ms after the line opened\n",
		q.AdmitPerMinute, q.Admission.SettingPerSecond, q.MaxActive, q.PreQueueSeconds, q.AbandonSeconds, q.Order, q.SaleStartAfterMs)
	fmt.Fprintf(b, "  joined: %d in the pre-queue (bots %d), %d after the start (bots %d); admitted %d seen by shoppers (bots %d), %d by the service's count\n",
		q.JoinedPreQueue.Bots+q.JoinedPreQueue.People, q.JoinedPreQueue.Bots, q.JoinedAfterStart.Bots+q.JoinedAfterStart.People, q.JoinedAfterStart.Bots,
		q.Admitted.Bots+q.Admitted.People, q.Admitted.Bots, q.AdmittedByService)
	fmt.Fprintf(b, "  admissions: %.2f/s measured over %.1f s against %.2f/s set (%d samples at max_active)\n",
		q.Admission.MeasuredPerSecond, q.Admission.MeasuredOverSeconds, q.Admission.SettingPerSecond, q.Admission.CappedSamples)
	fmt.Fprintf(b, "  wait predicted p50 %.0f s, p90 %.0f s; actual p50 %.1f s, p90 %.1f s; actual/predicted p50 %.2f, p90 %.2f (%d shoppers; %d admitted before a ticket read waiting); admission seen p50 %.1f s, p90 %.1f s after it\n",
		q.PredictedWait.P50, q.PredictedWait.P90, q.ActualWait.P50, q.ActualWait.P90, q.WaitRatio.P50, q.WaitRatio.P90, q.PredictedWait.Count, q.NeverWaited,
		q.AdmissionNoticed.P50, q.AdmissionNoticed.P90)
	fmt.Fprintf(b, "  left %d, walked away %d (the service counted %d abandoned), released %d slots after reserving; %d sessions ended, %d expired late; %d bot presses without a token\n",
		q.Left, q.WalkedAway, q.Abandoned, q.Released, q.SessionsEnded, q.ExpiredLate, q.TokenlessPresses)
	fmt.Fprintf(b, "  join p50 %.2f ms, p99 %.2f ms; poll p50 %.2f ms, p99 %.2f ms; GET …/queue %.0f/s over the traffic, peak %.0f/s\n",
		q.Joins.P50Ms, q.Joins.P99Ms, q.Polls.P50Ms, q.Polls.P99Ms, q.PollsPerSecond, q.PeakPollsPerSecond)
}

// queueNotes explains the queue figures that need it.
func queueNotes(q *QueueReport) []string {
	var notes []string
	if q.TooLatePolls > 0 {
		notes = append(notes, fmt.Sprintf("%d tickets said poll_after_ms at or beyond abandon_seconds (%d s): a client obeying would lose its place; the generator polled within two thirds of abandon_seconds instead",
			q.TooLatePolls, q.AbandonSeconds))
	}
	if q.ExpiredLate > 0 {
		notes = append(notes, fmt.Sprintf("%d places expired because the generator polled later than abandon_seconds (its workers were busy): raise -concurrency", q.ExpiredLate))
	}
	if q.Admission.CappedSamples > 0 {
		notes = append(notes, fmt.Sprintf("max_active was reached in %d samples: the cap, not the rate, held admission there", q.Admission.CappedSamples))
	}
	if q.Admission.MeasuredOverSeconds == 0 {
		notes = append(notes, "shoppers waited in fewer than two consecutive samples of the line: the admission rate could not be measured (more users, or a lower rate)")
	}
	if q.WalkedAway > q.Abandoned {
		notes = append(notes, fmt.Sprintf("%d shoppers walked away but the service counted %d places abandoned: a place expires abandon_seconds after its last poll, and the run may end before, or the walker was admitted and sold out first", q.WalkedAway, q.Abandoned))
	}
	return notes
}
