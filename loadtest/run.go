package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Stop reasons of the traffic phase.
const (
	stopAllDone     = "every user finished"
	stopDuration    = "duration reached"
	stopMaxAttempts = "max attempts reached"
	stopInterrupted = "interrupted"
)

// botErrorPause is how long a bot waits after a transport error or a 5xx:
// bots hammer, but a tight loop against a dead server would only measure the
// generator spinning.
const botErrorPause = 10 * time.Millisecond

// payBody is every payment's body: the simulator's card that always pays.
var payBody = []byte(`{"payment_token":"tok_visa","payment_method":"credit_card"}`)

// paymentAttempts bounds a winner's tries at paying when the answer is a 429,
// a 503 or unknown (the API keeps a reservation through up to three declined
// attempts; the simulated card never declines).
const paymentAttempts = 3

// simUser is one simulated person or bot. Its steps run one at a time (a
// step schedules the next), so rng, soldOut and the retry state need no
// lock; the token is minted on first use and may be read by several
// goroutines in the soak.
type simUser struct {
	id      string
	bot     bool
	rng     *mathrand.Rand
	soldOut []bool
	// retryItem and retryKey repeat a request whose outcome is unknown (a
	// timeout, a 5xx) with the same idempotency key, as a careful client
	// does: the first try may have reserved a unit.
	retryItem int
	retryKey  string
	attempts  int
	token     atomic.Pointer[string]
}

// saleTarget is the sale under load, with times on the local clock.
type saleTarget struct {
	id      string
	items   []saleItem
	start   time.Time
	end     time.Time
	created bool
}

type saleItem struct {
	id    string
	total int64
}

func (s saleTarget) totalUnits() int64 {
	var total int64
	for _, item := range s.items {
		total += item.total
	}
	return total
}

// run is the state of one Run.
type run struct {
	cfg        Config
	runID      string
	rec        *recorder
	client     *apiClient
	sched      *scheduler
	ledger     *ledger
	adminToken string
	sale       saleTarget
	// placeBodies holds each item's place-order body, encoded once.
	placeBodies [][]byte
	users       []*simUser
	bots        int

	trafficStart time.Time
	trafficEnd   time.Time
	stopTraffic  context.CancelFunc
	stopOnce     sync.Once
	stopReason   string

	placeAttempts atomic.Int64
	dropped       atomic.Int64
	unused        atomic.Int64

	// Open-loop herd: people waiting for their next press, and how many
	// people have not finished yet.
	idleMu     sync.Mutex
	idlePeople []*simUser
	peopleLeft atomic.Int64

	// lastETag is the refresh storm's shared browser cache.
	lastETag atomic.Pointer[string]
	// pickerRand makes the run-wide random choices (bots, open-loop picks,
	// the soak mix); several goroutines share it under pickerMu.
	pickerMu   sync.Mutex
	pickerRand *mathrand.Rand
	setupNotes []string
}

// Run drives the scenario of cfg against the service at cfg.BaseURL, then
// reads the sale's stats and checks the invariants. It returns an error only
// when the run could not happen (bad config, no sale); a run that found
// violations returns a report whose OK is false. The traffic phase ends at
// cfg.Duration, at cfg.MaxAttempts place-order attempts, when every user is
// done, or when ctx ends; the checks that follow still run (with their own
// one-minute bound) so an interrupted run is verified too. progress, when
// not nil, receives live counters.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = mathrand.Uint64()
	}
	r := &run{
		cfg:        cfg,
		runID:      newRunID(),
		rec:        newRecorder(),
		ledger:     newLedger(),
		pickerRand: mathrand.New(mathrand.NewPCG(cfg.Seed, 0)),
	}
	client, err := newAPIClient(cfg, r.rec)
	if err != nil {
		return nil, err
	}
	r.client = client
	defer r.client.close()
	r.sched = newScheduler(cfg.Concurrency, r.rec.recordQueueWait)
	defer r.sched.stop()

	adminToken, err := cfg.MintToken("loadtest-admin-"+r.runID, true)
	if err != nil {
		return nil, fmt.Errorf("mint admin token: %w", err)
	}
	r.adminToken = adminToken
	if err := r.setupSale(ctx); err != nil {
		return nil, err
	}
	r.makeUsers()
	if cfg.Scenario != ScenarioRefresh {
		r.mintAhead(ctx)
	}

	r.traffic(ctx, progress)

	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return r.verify(checkCtx), nil
}

func newRunID() string {
	random := make([]byte, 3)
	_, _ = rand.Read(random)
	return strconv.FormatInt(time.Now().Unix(), 36) + hex.EncodeToString(random)
}

// saleView is the part of GET /flash-sales/{id} the generator reads.
type saleView struct {
	SaleID     string    `json:"sale_id"`
	StartTime  time.Time `json:"start_time"`
	EndTime    time.Time `json:"end_time"`
	ServerTime time.Time `json:"server_time"`
	Items      []struct {
		ItemID        string `json:"item_id"`
		TotalQuantity int64  `json:"total_quantity"`
	} `json:"items"`
}

// setupSale creates the sale, or reads the existing one the config names.
func (r *run) setupSale(ctx context.Context) error {
	var resp response
	var received time.Time
	if r.cfg.SaleID == "" {
		body, err := json.Marshal(r.newSaleBody())
		if err != nil {
			return err
		}
		resp = r.client.do(ctx, request{endpoint: endpointCreateSale, method: http.MethodPost, path: "/admin/flash-sales",
			token: r.adminToken, body: body})
		received = time.Now()
		if resp.status != http.StatusCreated {
			return fmt.Errorf("create sale: %s", describe(resp))
		}
	} else {
		resp = r.client.do(ctx, request{endpoint: endpointGetSale, method: http.MethodGet,
			path: "/flash-sales/" + url.PathEscape(r.cfg.SaleID), token: r.adminToken})
		received = time.Now()
		if resp.status != http.StatusOK {
			return fmt.Errorf("read sale %s: %s", r.cfg.SaleID, describe(resp))
		}
	}
	var view saleView
	if err := json.Unmarshal(resp.body, &view); err != nil || view.SaleID == "" || len(view.Items) == 0 {
		return fmt.Errorf("sale answer without sale_id or items: %.200s", resp.body)
	}
	// The server's clock rules the sale window; translate it to ours by the
	// server_time it reported (half a round trip is well within the jitter).
	var skew time.Duration
	if !view.ServerTime.IsZero() {
		skew = view.ServerTime.Sub(received)
	}
	r.sale = saleTarget{id: view.SaleID, start: view.StartTime.Add(-skew), end: view.EndTime.Add(-skew), created: r.cfg.SaleID == ""}
	if view.EndTime.IsZero() {
		// No end_time: the sale stays open as far as the run can tell.
		r.sale.end = time.Now().Add(100 * 365 * 24 * time.Hour)
	}
	wanted := map[string]bool{}
	for _, id := range r.cfg.ItemIDs {
		wanted[id] = true
	}
	for _, item := range view.Items {
		if len(wanted) == 0 || wanted[item.ItemID] {
			r.sale.items = append(r.sale.items, saleItem{id: item.ItemID, total: item.TotalQuantity})
			delete(wanted, item.ItemID)
		}
	}
	for id := range wanted {
		return fmt.Errorf("item %s is not in sale %s", id, view.SaleID)
	}
	for _, item := range r.sale.items {
		body, err := json.Marshal(map[string]any{"item_id": item.id, "quantity": 1})
		if err != nil {
			return err
		}
		r.placeBodies = append(r.placeBodies, body)
	}
	if skew > time.Second || skew < -time.Second {
		r.setupNotes = append(r.setupNotes, fmt.Sprintf("server clock is %v off the generator's; sale times corrected", skew.Round(time.Millisecond)))
	}
	if time.Now().After(r.sale.end) {
		r.setupNotes = append(r.setupNotes, "the sale has already ended: orders will be rejected")
	}
	return nil
}

func (r *run) newSaleBody() map[string]any {
	start := time.Now().Add(r.cfg.StartDelay).Truncate(time.Millisecond).UTC()
	end := start.Add(r.cfg.Duration + 10*time.Minute)
	items := make([]map[string]any, r.cfg.Items)
	for i := range items {
		items[i] = map[string]any{
			"product_id":     fmt.Sprintf("loadtest-%s-product-%d", r.runID, i+1),
			"name":           fmt.Sprintf("Load test item %d", i+1),
			"original_price": "100.00",
			"sale_price":     "50.00",
			"currency":       "USD",
			"total_quantity": r.cfg.UnitsPerItem,
			"per_user_limit": r.cfg.PerUserLimit,
		}
	}
	return map[string]any{
		"name":                    fmt.Sprintf("Load test %s (%s)", r.runID, r.cfg.Scenario),
		"start_time":              start.Format(time.RFC3339Nano),
		"end_time":                end.Format(time.RFC3339Nano),
		"mode":                    "fcfs",
		"reservation_ttl_seconds": int(r.cfg.ReservationTTL / time.Second),
		"items":                   items,
	}
}

// makeUsers creates the simulated users; a seeded shuffle picks the bots so
// that they are spread over the user ids and a seed repeats the choice.
func (r *run) makeUsers() {
	r.users = make([]*simUser, r.cfg.Users)
	r.bots = int(float64(r.cfg.Users)*r.cfg.BotShare + 0.5)
	if r.cfg.Scenario != ScenarioHerd && r.cfg.Scenario != ScenarioBots {
		r.bots = 0
	}
	botOrder := r.pickerRand.Perm(r.cfg.Users)
	for i := range r.users {
		r.users[i] = &simUser{
			id:        fmt.Sprintf("loadtest-%s-%d", r.runID, i),
			rng:       mathrand.New(mathrand.NewPCG(r.cfg.Seed, uint64(i)+1)),
			soldOut:   make([]bool, len(r.sale.items)),
			retryItem: -1,
		}
	}
	for _, i := range botOrder[:r.bots] {
		r.users[i].bot = true
	}
}

// mintAhead mints users' tokens while the sale counts down, on every core,
// so that the traffic phase spends no generator CPU on them: minting was
// the generator's largest cost after the socket calls, and a real herd's
// shoppers signed in before the sale. It stops a little before the sale
// starts; the users left are minted on first use, as are those of a run
// against a sale that is already open.
func (r *run) mintAhead(ctx context.Context) {
	stopAt := r.sale.start.Add(-100 * time.Millisecond)
	var next atomic.Int64
	var minters sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		minters.Go(func() {
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				i := next.Add(1) - 1
				if i >= int64(len(r.users)) {
					return
				}
				// An error here comes back on the user's first request,
				// which reports it.
				_, _ = r.token(r.users[i])
			}
		})
	}
	minters.Wait()
}

// endTraffic stops the traffic phase once, remembering why.
func (r *run) endTraffic(reason string) {
	r.stopOnce.Do(func() {
		r.stopReason = reason
		r.stopTraffic()
	})
}

// traffic runs the scenario's traffic phase and returns when it is over and
// every request has finished.
func (r *run) traffic(parent context.Context, progressOut io.Writer) {
	r.trafficStart = time.Now()
	if r.cfg.Scenario != ScenarioRefresh && r.sale.start.After(r.trafficStart) {
		r.trafficStart = r.sale.start
	}
	ctx, cancel := context.WithDeadline(parent, r.trafficStart.Add(r.cfg.Duration))
	r.stopTraffic = cancel
	defer cancel()
	r.rec.startTimeline(r.trafficStart)
	stopProgress := startProgress(progressOut, r.progressSnapshot)

	switch r.cfg.Scenario {
	case ScenarioHerd, ScenarioBots:
		r.startHerd(ctx)
	case ScenarioRefresh:
		r.startRefresh(ctx)
	case ScenarioSoak:
		r.startSoak(ctx)
	}

	select {
	case <-r.sched.idle():
		r.endTraffic(stopAllDone)
	case <-ctx.Done():
		switch {
		case parent.Err() != nil:
			r.endTraffic(stopInterrupted)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			r.endTraffic(stopDuration)
		}
	}
	r.sched.stop()
	<-r.sched.idle()
	r.trafficEnd = time.Now()
	r.rec.closeTimeline()
	stopProgress()
}

// timerGranularity is how late a timer may fire: sleeps of 50 µs to 800 µs
// overshoot by about a millisecond on the machines measured. Open-loop
// arrivals are therefore sent up to this much early rather than that much
// late; latency counts from the later of the scheduled and the actual send,
// so neither way distorts it.
const timerGranularity = time.Millisecond

// openLoop calls dispatch for every arrival of the open-loop schedule (Rate,
// RampUp, from traffic start) at the arrival's time however the server is
// doing, until ctx ends or more reports false. Concurrency senders take the
// arrivals: one that finds every sender busy is dropped and counted, not
// queued, because a queue in the generator would hide the server's
// slowness and grow without bound. dispatch receives the arrival's intended
// time, from which latency is measured; how late a sender took it is
// recorded as the arrival lag. A generator short of CPU therefore shows as
// lag and drops, never as a lower offered rate: a schedule that fell
// behind sends its overdue arrivals at once.
func (r *run) openLoop(ctx context.Context, more func() bool, dispatch func(intended time.Time)) {
	arrivals := make(chan time.Time)
	defer close(arrivals)
	for range r.cfg.Concurrency {
		r.sched.spawn(func() {
			for intended := range arrivals {
				r.rec.recordArrivalLag(max(time.Since(intended), 0))
				dispatch(intended)
			}
		})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for k := int64(0); ; k++ {
		intended := r.trafficStart.Add(arrivalOffset(k, r.cfg.Rate, r.cfg.RampUp))
		if wait := time.Until(intended) - timerGranularity; wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		if !more() {
			return
		}
		select {
		case arrivals <- intended:
		default:
			r.dropped.Add(1)
		}
	}
}

// takeAttempt reserves one place-order attempt of the MaxAttempts budget
// and returns its number (from 1), or 0 when the budget is spent.
func (r *run) takeAttempt() int64 {
	n := r.placeAttempts.Add(1)
	if r.cfg.MaxAttempts > 0 && n > r.cfg.MaxAttempts {
		r.placeAttempts.Add(-1)
		r.endTraffic(stopMaxAttempts)
		return 0
	}
	return n
}

func (r *run) token(u *simUser) (string, error) {
	if t := u.token.Load(); t != nil {
		return *t, nil
	}
	t, err := r.cfg.MintToken(u.id, false)
	if err != nil {
		return "", fmt.Errorf("mint token for %s: %w", u.id, err)
	}
	u.token.Store(&t)
	return t, nil
}

// ---- herd and bots ----

// startHerd schedules every user's first press: bots the instant the sale
// opens, people spread over the jitter window (closed loop) or, with a rate,
// pressing as the open-loop arrivals pick them.
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
			jitter := time.Duration(u.rng.Int64N(int64(r.cfg.Jitter) + 1))
			r.sched.after(untilStart+jitter, func() { r.press(ctx, u) })
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

// press is one press of Buy by u, and u's reaction to the answer.
func (r *run) press(ctx context.Context, u *simUser) {
	if ctx.Err() != nil {
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
	return r.client.do(ctx, request{
		endpoint: endpointPlaceOrder, method: http.MethodPost,
		path:  "/flash-sales/" + url.PathEscape(r.sale.id) + "/orders",
		token: token, idempotencyKey: idempotencyKey, intended: intended,
		body: r.placeBodies[item],
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
			r.finish(u)
			return
		}
		r.again(ctx, u, r.retryWait(u, resp))
	case resp.code == "already_purchased",
		resp.status == http.StatusUnauthorized, resp.code == "forbidden",
		resp.status == http.StatusNotFound, resp.status == http.StatusRequestEntityTooLarge,
		resp.status == http.StatusBadRequest && resp.code != "sale_not_active":
		// Nothing a retry can change: the user has one already, or the
		// request itself is wrong (the report shows which).
		r.finish(u)
	default:
		// sale_not_active (a countdown off by a little), 429, 503,
		// challenge_required (the generator cannot solve one), 5xx and
		// transport errors: try again.
		r.again(ctx, u, r.retryWait(u, resp))
	}
}

// retryWait is how long u waits before pressing again: bots do not wait
// (not even for Retry-After: ignoring it is what makes them bots); people
// honour Retry-After and otherwise keep their pace, which in open loop is
// the arrival rate.
func (r *run) retryWait(u *simUser, resp response) time.Duration {
	switch {
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
		token: token, idempotencyKey: "pay-" + order.id, body: payBody,
	})
	switch {
	case resp.canceled:
		r.ledger.paymentUnfinished()
	case resp.status == http.StatusOK:
		r.ledger.paid(order)
	case (resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable || resp.outcomeUnknown()) && attempt < paymentAttempts:
		wait := resp.retryAfter
		if wait == 0 {
			wait = r.cfg.RetryInterval
		}
		r.sched.after(wait, func() { r.pay(ctx, u, order, attempt+1) })
	default:
		r.ledger.paymentFailed()
	}
}

// ---- refresh ----

// startRefresh storms the sale page: open loop at the rate, or Concurrency
// workers back to back. Each request revalidates with the last ETag seen, as
// a browser's reload does.
func (r *run) startRefresh(ctx context.Context) {
	view := func(intended time.Time) response {
		req := request{endpoint: endpointGetSale, method: http.MethodGet, path: "/flash-sales/" + url.PathEscape(r.sale.id), intended: intended}
		if etag := r.lastETag.Load(); etag != nil {
			req.ifNoneMatch = *etag
		}
		resp := r.client.do(ctx, req)
		if resp.etag != "" {
			r.lastETag.Store(&resp.etag)
		}
		return resp
	}
	if r.cfg.Rate > 0 {
		r.sched.spawn(func() {
			r.openLoop(ctx, func() bool { return true }, func(intended time.Time) { view(intended) })
		})
		return
	}
	for range r.cfg.Concurrency {
		r.backToBack(ctx, 0, func() response { return view(time.Time{}) })
	}
}

// backToBack sends act's request again and again from after first until
// ctx ends: a closed-loop worker, as a chain of steps, each scheduling the
// next, so that it shares the workers with users' other steps (payments)
// instead of holding one for the whole run. After a transport error or a
// 5xx it pauses botErrorPause, so that a dead server is not hammered in a
// tight loop that would only measure the generator spinning.
func (r *run) backToBack(ctx context.Context, first time.Duration, act func() response) {
	var next func()
	next = func() {
		if ctx.Err() != nil {
			return
		}
		var pause time.Duration
		if act().outcomeUnknown() {
			pause = botErrorPause
		}
		r.sched.after(pause, next)
	}
	r.sched.after(first, next)
}

// ---- soak ----

// soakAction is one request of the soak mix, decided by whoever holds a
// random source so that the request itself needs none.
type soakAction struct {
	order bool
	user  *simUser
	item  int
	pays  bool
	think time.Duration
}

func (r *run) nextSoakAction(rng *mathrand.Rand) soakAction {
	if rng.Float64() >= r.cfg.OrderShare {
		return soakAction{}
	}
	return soakAction{
		order: true,
		user:  r.users[rng.IntN(len(r.users))],
		item:  rng.IntN(len(r.sale.items)),
		pays:  rng.Float64() < r.cfg.PayProbability,
		think: time.Duration(float64(r.cfg.ThinkTime) * (0.5 + rng.Float64())),
	}
}

// startSoak sends the steady mix: page views and, for a share, a single
// press by a random user whose win is paid or abandoned like in the herd.
func (r *run) startSoak(ctx context.Context) {
	act := func(a soakAction, intended time.Time) response {
		if !a.order {
			return r.client.do(ctx, request{endpoint: endpointGetSale, method: http.MethodGet, path: "/flash-sales/" + url.PathEscape(r.sale.id), intended: intended})
		}
		attempt := r.takeAttempt()
		if attempt == 0 {
			return response{}
		}
		resp := r.placeOrder(ctx, a.user, a.item, fmt.Sprintf("%s-soak-%d", a.user.id, attempt), intended)
		switch {
		case resp.status == http.StatusCreated || resp.status == http.StatusOK:
			if order, ok := r.ledger.reserved(a.user, r.sale.items[a.item].id, resp, r.trafficStart); ok {
				r.settle(ctx, a.user, order, a.pays, a.think)
			}
		case resp.code == "sold_out":
			r.ledger.soldOut(r.sale.items[a.item].id, r.trafficStart)
		}
		return resp
	}
	if r.cfg.Rate > 0 {
		// The schedule itself waits for the traffic start.
		r.sched.spawn(func() {
			r.openLoop(ctx, func() bool { return true }, func(intended time.Time) {
				r.pickerMu.Lock()
				a := r.nextSoakAction(r.pickerRand)
				r.pickerMu.Unlock()
				act(a, intended)
			})
		})
		return
	}
	untilStart := time.Until(r.trafficStart)
	for worker := range r.cfg.Concurrency {
		// A chain's steps run one at a time, so its source needs no lock.
		rng := mathrand.New(mathrand.NewPCG(r.cfg.Seed, uint64(len(r.users)+worker+1)))
		r.backToBack(ctx, untilStart, func() response { return act(r.nextSoakAction(rng), time.Time{}) })
	}
}

// describe renders a failed response for an error message.
func describe(resp response) string {
	if resp.err != nil {
		return resp.err.Error()
	}
	return fmt.Sprintf("HTTP %d %.300s", resp.status, resp.body)
}
