package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// manualClock is a clock that moves only when slept on: a sleep returns at
// once, the clock that much later, and is remembered.
type manualClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	return true
}

func (c *manualClock) slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// mustRunOn runs cfg on clk, reporting to progress unless it is nil.
func mustRunOn(t *testing.T, cfg Config, progress *bytes.Buffer, clk clock) *Report {
	t.Helper()
	var out io.Writer
	if progress != nil {
		out = progress
	}
	report, err := runWith(context.Background(), cfg, out, clk)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return report
}

func TestParseRateLimit(t *testing.T) {
	for _, tt := range []struct {
		field     string
		reset     time.Duration
		exhausted []string
	}{
		{`"ip-1s";r=7;t=1`, 0, nil},
		{`"ip-1s";r=0;t=1`, time.Second, []string{"ip-1s"}},
		// One field per policy, several limits each: the longest wait of
		// the spent ones.
		{`"order-1s";r=0;t=1, "order-60s";r=0;t=45, "order-3600s";r=12;t=3000`, 45 * time.Second, []string{"order-1s", "order-60s"}},
		{` "a,b;c" ; r=0 ; t=2 `, 2 * time.Second, []string{"a,b;c"}},
		{`"ip-1s";t=1`, 0, nil},
		{`"ip-1s";r=zero;t=1, garbage, ;;,`, 0, nil},
		{``, 0, nil},
	} {
		reset, exhausted := parseRateLimit(tt.field)
		if reset != tt.reset || !slices.Equal(exhausted, tt.exhausted) {
			t.Errorf("parseRateLimit(%q) = %v, %q; want %v, %q", tt.field, reset, exhausted, tt.reset, tt.exhausted)
		}
	}
}

func TestWireClientReadsRateLimitFields(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /base/limited", func(w http.ResponseWriter, r *http.Request) {
		// As the service on a place-order: one field per policy.
		w.Header().Add("RateLimit", `"ip-1s";r=3;t=1`)
		w.Header().Add("RateLimit", `"order-1s";r=0;t=1, "order-60s";r=0;t=50`)
		w.Header().Set("Retry-After", "50")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	_, _, client := wireServer(t, mux)
	resp := client.roundTrip(context.Background(), request{method: "GET", path: "/limited"})
	if resp.err != nil || resp.limitReset != 50*time.Second || !slices.Equal(resp.exhausted, []string{"order-1s", "order-60s"}) ||
		resp.limitWait() != 50*time.Second {
		t.Errorf("answer %+v: want the spent order limits, 50 s", resp)
	}
}

func TestPacerWaitsWhatTheServiceSays(t *testing.T) {
	clk := newManualClock()
	p := &pacer{clock: clk}
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		resp response
		want time.Duration
	}{
		{"Retry-After", response{status: http.StatusTooManyRequests, retryAfter: 3 * time.Second, limitReset: time.Second, exhausted: []string{"ip-1s"}}, 3 * time.Second},
		{"RateLimit alone", response{status: http.StatusTooManyRequests, limitReset: 2 * time.Second, exhausted: []string{"ip-1s"}}, 2 * time.Second},
		{"a 429 that says nothing", response{status: http.StatusTooManyRequests}, defaultLimitWait},
		{"an answer that spent the limit", response{status: http.StatusOK, limitReset: 4 * time.Second, exhausted: []string{"ip-1s"}}, 4 * time.Second},
		{"an answer with quota left", response{status: http.StatusOK}, 0},
	} {
		before := len(clk.slept())
		p.learn(tt.resp)
		if !p.wait(ctx) {
			t.Fatalf("%s: wait gave up", tt.name)
		}
		var waited time.Duration
		for _, d := range clk.slept()[before:] {
			waited += d
		}
		if waited != tt.want {
			t.Errorf("%s: waited %v, want %v", tt.name, waited, tt.want)
		}
	}

	// A later answer that says less does not open the gate sooner.
	p.learn(response{status: http.StatusTooManyRequests, retryAfter: 5 * time.Second})
	p.learn(response{status: http.StatusTooManyRequests, retryAfter: time.Second})
	before := len(clk.slept())
	p.wait(ctx)
	if got := clk.slept()[before:]; !slices.Equal(got, []time.Duration{5 * time.Second}) {
		t.Errorf("waited %v, want the longer 5s", got)
	}

	p.learn(response{status: http.StatusTooManyRequests})
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if p.wait(canceled) {
		t.Error("wait went on past its context's end")
	}
}

// The watch warns once, when most answers are 429s within the first
// second from the first answer, and only then.
func TestLimitWatchWarnsOnceWithinTheFirstSecond(t *testing.T) {
	limited := response{status: http.StatusTooManyRequests, exhausted: []string{"ip-1s"}}
	ok := response{status: http.StatusCreated}
	watch := func() (*limitWatch, *manualClock, *bytes.Buffer) {
		var out bytes.Buffer
		clk := newManualClock()
		return &limitWatch{clock: clk, out: newConsole(&out)}, clk, &out
	}

	w, _, out := watch()
	for range limitWatchMinAnswers - 1 {
		w.observe(limited)
	}
	if out.Len() != 0 {
		t.Errorf("warned after %d answers, fewer than make most mean something:\n%s", limitWatchMinAnswers-1, out)
	}
	w.observe(limited)
	if got := strings.Count(out.String(), "WARNING"); got != 1 {
		t.Fatalf("%d warnings after most answers were 429s:\n%s", got, out)
	}
	for _, want := range []string{"10 of the first 10 answers were 429", `"ip-1s" is the per-IP limit`,
		"FLASHSALE_RATE_LIMIT_IP=off FLASHSALE_RATE_LIMIT_ORDER_USER=off flashsale serve", "--rate-limit-ip off --rate-limit-order-user off"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("warning lacks %q:\n%s", want, out)
		}
	}
	for range 100 {
		w.observe(limited)
	}
	if got := strings.Count(out.String(), "WARNING"); got != 1 {
		t.Errorf("%d warnings: want one per run", got)
	}

	// Half is not most.
	w, _, out = watch()
	for range limitWatchMinAnswers {
		w.observe(ok)
		w.observe(limited)
	}
	if out.Len() != 0 {
		t.Errorf("warned with half the answers 429s:\n%s", out)
	}

	// After the first second, 429s are for the final report.
	w, clk, out := watch()
	w.observe(ok)
	clk.sleep(context.Background(), limitWatchWindow)
	for range 100 {
		w.observe(limited)
	}
	if out.Len() != 0 {
		t.Errorf("warned after the first second:\n%s", out)
	}

	// Transport errors are no answers.
	w, _, out = watch()
	for range 100 {
		w.observe(response{err: context.DeadlineExceeded})
	}
	if out.Len() != 0 {
		t.Errorf("warned of errors:\n%s", out)
	}
}

// A service at its default limits answers most of the herd's first presses
// 429: the run says so on its console once, in its first second, naming
// the limit and the settings, and goes on to sell the stock.
func TestRateLimitedStartIsWarnedOfOnce(t *testing.T) {
	server := startFake(t, &fakeService{refuseOrders: 150})
	var progress bytes.Buffer
	// The clock stands still: every answer is in the first second.
	report := mustRunOn(t, smallHerd(server.URL), &progress, newManualClock())

	if !report.OK() || report.Reservations.People != 20 {
		t.Fatalf("violations %v, reservations %+v", report.Violations, report.Reservations)
	}
	text := progress.String()
	if got := strings.Count(text, "WARNING"); got != 1 {
		t.Fatalf("%d warnings in the progress output, want one:\n%s", got, text)
	}
	for _, want := range []string{"answers were 429 rate_limited", `"ip-1s"`, "FLASHSALE_RATE_LIMIT_IP=off", "FLASHSALE_RATE_LIMIT_ORDER_USER=off"} {
		if !strings.Contains(text, want) {
			t.Errorf("warning lacks %q:\n%s", want, text)
		}
	}
}

// The checks at the end wait out the rate limits as long as the service
// says, past any count of attempts: every order is found, the stock
// checked, and nothing counted against the service.
func TestChecksWaitWhatTheRateLimitsSay(t *testing.T) {
	fake := &fakeService{limitFollowUps: checkAttempts + 1, limitWait: 2 * time.Second}
	server := startFake(t, fake)
	cfg := smallHerd(server.URL)
	cfg.PayProbability = 0 // payments would wait the 2 s on the machine's clock
	clk := newManualClock()
	report := mustRunOn(t, cfg, nil, clk)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if c := report.OrderCheck; c.Found != 20 || c.RateLimited != 0 || c.Unverified != 0 || report.FinalStats == nil {
		t.Errorf("order check %+v, stats %v: want all 20 orders found and the stats read", c, report.FinalStats)
	}
	slept := clk.slept()
	if len(slept) == 0 || slices.Max(slept) != 2*time.Second || slices.Min(slept) <= 0 {
		t.Errorf("slept %v: want waits of up to the 2 s the service said", slept)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for key, n := range fake.refused {
		if n != checkAttempts+2 {
			t.Errorf("%s sent %d times, want %d refused and one answered", key, n, checkAttempts+1)
		}
	}
}

// Payments, queued orders' status reads and the checks answered 429 are
// sent again once the limit allows: no payment fails, nobody presses Buy
// again beside a queued order.
func TestRateLimitedFollowUpsAreRetriedNotFailed(t *testing.T) {
	server := startFake(t, &fakeService{queueOrders: true, limitFollowUps: paymentAttempts + 1})
	cfg := smallHerd(server.URL)
	cfg.PayProbability = 1
	report := mustRunOn(t, cfg, nil, newManualClock())

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if p := report.Payments; p.Confirmed != 20 || p.Failed != 0 {
		t.Errorf("payments %+v: want the 20 winners paid, none failed", p)
	}
	if report.PlaceOrderAttempts != int64(cfg.Users) || report.RecoveredReservations != 0 {
		t.Errorf("%d place-order attempts, %d recovered reservations: want one press each of the %d users",
			report.PlaceOrderAttempts, report.RecoveredReservations, cfg.Users)
	}
	if report.OrderCheck.Found != 20 || report.StatusCounts["429"] == 0 {
		t.Errorf("order check %+v, statuses %v", report.OrderCheck, report.StatusCounts)
	}
}

// expiringClock is a manualClock on which the given sleep ends the checks'
// time: the service's limits outlast them.
type expiringClock struct {
	*manualClock
	sleepsLeft int
	expire     context.CancelFunc
}

func (c *expiringClock) sleep(ctx context.Context, d time.Duration) bool {
	c.mu.Lock()
	c.sleepsLeft--
	last := c.sleepsLeft == 0
	c.mu.Unlock()
	if last {
		c.expire()
	}
	return c.manualClock.sleep(ctx, d)
}

// Checks the service refuses 429 until their time runs out did not
// happen: notes say so, and no violation blames the service.
func TestChecksOutlastedByRateLimitsAreNoViolations(t *testing.T) {
	server := startFake(t, &fakeService{limitFollowUps: 1 << 30})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &expiringClock{manualClock: newManualClock(), sleepsLeft: 50, expire: cancel}
	cfg := smallHerd(server.URL)
	cfg.Concurrency = 2
	r := &run{cfg: cfg, rec: newRecorder(), ledger: newLedger(), clock: clk, pacer: &pacer{clock: clk},
		sale: saleTarget{id: "sale-1", items: []saleItem{{id: "item-1", total: 3}}}}
	client, err := newAPIClient(cfg, r.rec)
	if err != nil {
		t.Fatal(err)
	}
	defer client.close()
	r.client = client
	for i := range 3 {
		u := r.newUser(fmt.Sprintf("user-%d", i), i)
		if _, isNew := r.ledger.reserved(u, "item-1", response{status: http.StatusCreated, body: fmt.Appendf(nil, `{"order_id":"order-%d"}`, i)}, time.Now()); !isNew {
			t.Fatal("the ledger did not take the order")
		}
	}

	report := r.verify(ctx)
	if !report.OK() {
		t.Errorf("violations: %v", report.Violations)
	}
	if c := report.OrderCheck; c.RateLimited != 3 || c.Unverified != 0 || report.FinalStats != nil {
		t.Errorf("order check %+v, stats %v: want the 3 orders and the stats unchecked", c, report.FinalStats)
	}
	for _, want := range []string{"the stock invariants were not checked", "3 acknowledged order(s) were not looked up"} {
		if !containsNote(report, want) {
			t.Errorf("notes %v lack %q", report.Notes, want)
		}
	}
}

// The lottery's own requests wait out the limits too: the draw is read and
// verified, and no cancel or payment counts as failed for a 429.
func TestLotteryWaitsOutRateLimits(t *testing.T) {
	fake := &fakeService{expireReservations: true, limitFollowUps: checkAttempts + 1}
	server := startFake(t, fake)
	report := mustRunOn(t, smallLottery(server.URL), nil, newManualClock())

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	l := report.Lottery
	if !l.Verification.Verified || l.CancelFailed != 0 || report.Payments.Failed != 0 || report.Payments.Confirmed != 10 {
		t.Errorf("verification %+v, %d cancels failed, payments %+v: want the draw verified, no cancel or payment failed, the 10 units paid",
			l.Verification, l.CancelFailed, report.Payments)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var cancels int
	for key := range fake.refused {
		if strings.HasSuffix(key, "/cancel") {
			cancels++
		}
	}
	if cancels == 0 || l.Cancelled == 0 {
		t.Errorf("%d cancels refused, %d cancelled: want winners who cancel, refused first", cancels, l.Cancelled)
	}
}
