package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
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
	// stopLotterySold ends a lottery once its users have paid for every
	// unit: no reservation can come back, and every entry still on the
	// waitlist has lost, whenever its owner reads it.
	stopLotterySold = "every unit paid for: the waitlist has lost"
)

// botErrorPause is how long a bot waits after a transport error or a 5xx:
// bots hammer, but a tight loop against a dead server would only measure the
// generator spinning.
const botErrorPause = 10 * time.Millisecond

// payBody is every payment's body when users share a card: the
// simulator's card that always pays.
var payBody = []byte(`{"payment_token":"tok_visa","payment_method":"credit_card"}`)

// payBodyWith is a payment's body with card, one of the simulator's
// tok_visa_<suffix> cards: each suffix a separate card that always pays.
func payBodyWith(card string) []byte {
	if card == "" {
		return payBody
	}
	return []byte(`{"payment_token":"` + card + `","payment_method":"credit_card"}`)
}

// paymentAttempts bounds a winner's tries at paying when the answer is a 503
// or unknown (the API keeps a reservation through up to three declined
// attempts; the simulated card never declines). A 429 spends none: the
// winner waits out the rate limit (herd.go, pay).
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
	// queue is the user's place in the waiting room (queue scenario).
	queue *queuePlace
	// card is the payment token the user pays with, tok_visa when empty;
	// device is the Flashsale-Device header the user sends, none when
	// empty. A farm account has its operator's (farm), as has every other
	// account of that operator.
	card, device string
	farm         *farmOperator
	// lottery is the user's entry as the user has seen it (lottery
	// scenario).
	lottery *lotteryEntry
	// solution is a solved challenge to send with the next press, once;
	// ip the address sent in X-Forwarded-For (Config.ForwardedFor);
	// evaded whether the bot has pressed again once without solving
	// (Config.BotEvade).
	solution string
	ip       string
	evaded   bool
}

// farmOperator is one person behind a farm's accounts: one card, one
// device, one address.
type farmOperator struct {
	index            int
	card, device, ip string
}

// addressOf is the i-th simulated address, from 10.0.0.1 on: a private
// range, so that none is anybody's.
func addressOf(i int) string {
	n := i + 1
	return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
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
	// operators are the farm operators of a run with farms; their
	// accounts are among users.
	operators []*farmOperator
	// skew is how far the server's clock is ahead of the generator's.
	skew time.Duration
	// queue is the queue scenario's own state.
	queue *queueRun
	// lottery is the lottery scenario's own state.
	lottery *lotteryRun
	// challenges counts the challenges of a sale that asks them; nil
	// otherwise.
	challenges *challengeRun

	// warmConnections counts the connections opened before the traffic.
	warmConnections int
	trafficStart    time.Time
	trafficEnd      time.Time
	stopTraffic     context.CancelFunc
	stopOnce        sync.Once
	stopReason      string

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

	// clock paces the generator's own requests through pacer and times
	// the limit watch; console is where the run reports while it runs.
	clock   clock
	pacer   *pacer
	console *console
}

// Run drives the scenario of cfg against the service at cfg.BaseURL, then
// reads the sale's stats and checks the invariants. It returns an error only
// when the run could not happen (bad config, no sale); a run that found
// violations returns a report whose OK is false. The traffic phase ends at
// cfg.Duration, at cfg.MaxAttempts place-order attempts, when every user is
// done, or when ctx ends; the checks that follow still run (with their own
// one-minute bound) so an interrupted run is verified too. progress, when
// not nil, receives live counters, and a warning when the service's rate
// limits refuse most of the traffic's first second.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	return runWith(ctx, cfg, progress, systemClock{})
}

// runWith is Run on the given clock.
func runWith(ctx context.Context, cfg Config, progress io.Writer, clk clock) (*Report, error) {
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
		clock:      clk,
		pacer:      &pacer{clock: clk},
		console:    newConsole(progress),
		pickerRand: mathrand.New(mathrand.NewPCG(cfg.Seed, 0)),
	}
	r.rec.limits = &limitWatch{clock: clk, out: r.console}
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
	if cfg.lined() {
		if r.sale.waitingRoom == nil {
			return nil, fmt.Errorf("sale %s has no waiting room: a run through a waiting room needs one", r.sale.id)
		}
		r.queue = newQueueRun()
	}
	if cfg.challenged() {
		r.challenges = &challengeRun{}
	}
	if cfg.Scenario == ScenarioLottery {
		if r.sale.entriesClose.IsZero() {
			return nil, fmt.Errorf("sale %s is not a lottery: the lottery scenario needs one", r.sale.id)
		}
		r.lottery = newLotteryRun()
	}
	if cfg.Scenario != ScenarioRefresh {
		r.mintAhead(ctx)
	}

	r.traffic(ctx)

	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return r.verify(checkCtx), nil
}

func newRunID() string {
	random := make([]byte, 3)
	_, _ = rand.Read(random)
	return strconv.FormatInt(time.Now().Unix(), 36) + hex.EncodeToString(random)
}

// makeUsers creates the simulated users; a seeded shuffle picks the bots so
// that they are spread over the user ids and a seed repeats the choice. In
// a run with farms the operators' accounts follow the other people's,
// FarmAccounts of them per operator.
func (r *run) makeUsers() {
	operators := r.cfg.operators()
	people := r.cfg.Users - operators
	r.users = make([]*simUser, people, people+operators*r.cfg.FarmAccounts)
	r.bots = r.cfg.botCount()
	botOrder := r.pickerRand.Perm(people)
	for i := range r.users {
		r.users[i] = r.newUser(fmt.Sprintf("loadtest-%s-%d", r.runID, i), i)
		// An existing sale that counts cards needs them as much as one
		// the run creates.
		if r.cfg.ownCards() || r.sale.cardLimit > 0 {
			r.users[i].card = fmt.Sprintf("tok_visa_%d", i)
		}
		if r.cfg.farmed() {
			// A device each, so that only the farms share one.
			r.users[i].device = fmt.Sprintf("loadtest-%s-device-%d", r.runID, i)
		}
	}
	if r.cfg.ForwardedFor {
		// An address each (bots too: residential proxies give them
		// one each), so that only a farm's accounts share one.
		for i, u := range r.users {
			u.ip = addressOf(i)
		}
	}
	for _, i := range botOrder[:r.bots] {
		r.users[i].bot = true
	}
	for op := range operators {
		operator := &farmOperator{index: op, card: fmt.Sprintf("tok_visa_farm%d", op),
			device: fmt.Sprintf("loadtest-%s-farm%d-device", r.runID, op)}
		if r.cfg.ForwardedFor {
			operator.ip = addressOf(people + op)
		}
		r.operators = append(r.operators, operator)
		for k := range r.cfg.FarmAccounts {
			u := r.newUser(fmt.Sprintf("loadtest-%s-farm%d-%d", r.runID, op, k), len(r.users))
			// A farm account is a bot in all it does (the start to the
			// millisecond, machine-speed retries, paying at once) but
			// for whose card and device it uses.
			u.bot, u.farm, u.card, u.device, u.ip = true, operator, operator.card, operator.device, operator.ip
			r.users = append(r.users, u)
		}
	}
	// The accounts press at the same instant, and which of them the
	// scheduler sends first is the order they come in: shuffled, so that
	// the first operator's accounts are not the first to the stock.
	farms := r.users[people:]
	r.pickerRand.Shuffle(len(farms), func(i, j int) { farms[i], farms[j] = farms[j], farms[i] })
}

func (r *run) newUser(id string, i int) *simUser {
	return &simUser{
		id:        id,
		rng:       mathrand.New(mathrand.NewPCG(r.cfg.Seed, uint64(i)+1)),
		soldOut:   make([]bool, len(r.sale.items)),
		retryItem: -1,
	}
}

// mintAhead mints users' tokens while the sale counts down, on every core,
// so that the traffic phase spends no generator CPU on them: minting was
// the generator's largest cost after the socket calls, and a real herd's
// shoppers signed in before the sale. It stops a little before traffic
// starts; the users left are minted on first use, as are those of a run
// against a sale that is already open.
func (r *run) mintAhead(ctx context.Context) {
	stopAt := r.plannedStart().Add(-100 * time.Millisecond)
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

// plannedStart is when traffic starts: the sale's start, or the opening of
// its line in a run through a waiting room (the pre-queue is part of the
// traffic), or at once for refresh; never before now.
func (r *run) plannedStart() time.Time {
	start := r.sale.start
	switch {
	case r.cfg.Scenario == ScenarioRefresh:
		return time.Now()
	case r.cfg.lined():
		start = r.sale.opensAt()
	case r.cfg.Scenario == ScenarioLottery:
		start = r.sale.entriesOpen
	}
	if now := time.Now(); now.After(start) {
		return now
	}
	return start
}

// traffic runs the scenario's traffic phase and returns when it is over and
// every request has finished.
func (r *run) traffic(parent context.Context) {
	if until := time.Until(r.plannedStart()); until > 0 {
		// The crowd is on the page before the start, its connections
		// open: the first presses go out on them. They are opened a
		// moment before it, well within any keep-alive timeout of the
		// server or a proxy, however far off the start is.
		if until > warmLead {
			r.clock.sleep(parent, until-warmLead)
		}
		if parent.Err() == nil {
			r.warmConnections = r.client.wire.warm(parent, r.cfg.Concurrency, "/healthz")
		}
	}
	r.trafficStart = r.plannedStart()
	ctx, cancel := context.WithDeadline(parent, r.trafficStart.Add(r.cfg.Duration))
	r.stopTraffic = cancel
	defer cancel()
	r.rec.startTimeline(r.trafficStart)
	stopProgress := startProgress(r.console, r.progressSnapshot)

	switch {
	case r.cfg.lined():
		r.startQueue(ctx)
	case r.cfg.Scenario == ScenarioHerd, r.cfg.Scenario == ScenarioBots, r.cfg.Scenario == ScenarioFarm:
		r.startHerd(ctx)
	case r.cfg.Scenario == ScenarioRefresh:
		r.startRefresh(ctx)
	case r.cfg.Scenario == ScenarioSoak:
		r.startSoak(ctx)
	case r.cfg.Scenario == ScenarioLottery:
		r.startLottery(ctx)
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
	if r.queue != nil {
		r.queue.stopMonitor()
	}
	r.trafficEnd = time.Now()
	r.rec.closeTimeline()
	stopProgress()
}

// warmLead is how long before the traffic's start the workers' connections
// are opened.
const warmLead = time.Second

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
	// An arrival is dropped when Concurrency of them are already taken or
	// being taken, counted in busy, not when no sender happens to be
	// waiting on the channel: the senders just spawned may not wait there
	// yet, and the overdue arrivals of a late start went dropped for it.
	// So the channel holds as many as there are senders and never blocks.
	arrivals := make(chan time.Time, r.cfg.Concurrency)
	defer close(arrivals)
	var busy atomic.Int64
	for range r.cfg.Concurrency {
		r.sched.spawn(func() {
			for intended := range arrivals {
				r.rec.recordArrivalLag(max(time.Since(intended), 0))
				dispatch(intended)
				busy.Add(-1)
			}
		})
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	deadline, bounded := ctx.Deadline()
	for k := int64(0); ; k++ {
		intended := r.trafficStart.Add(arrivalOffset(k, r.cfg.Rate, r.cfg.RampUp))
		if bounded && intended.After(deadline) {
			// The end may fire late on a busy machine: the schedule
			// itself sends nothing past it, and waits for it.
			<-ctx.Done()
			return
		}
		if wait := time.Until(intended) - timerGranularity; wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if ctx.Err() != nil || !more() {
			return
		}
		if busy.Add(1) > int64(r.cfg.Concurrency) {
			busy.Add(-1)
			r.dropped.Add(1)
			continue
		}
		arrivals <- intended
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

// describe renders a failed response for an error message.
func describe(resp response) string {
	if resp.err != nil {
		return resp.err.Error()
	}
	return fmt.Sprintf("HTTP %d %.300s", resp.status, resp.body)
}
