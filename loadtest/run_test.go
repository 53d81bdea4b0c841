package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// smallHerd is a herd that finishes in about a second against the fake.
func smallHerd(baseURL string) Config {
	var cfg Config
	if err := cfg.ApplyPreset(ScenarioHerd); err != nil {
		panic(err)
	}
	cfg.BaseURL = baseURL
	cfg.MintToken = fakeToken
	cfg.Seed = 1
	cfg.Users, cfg.UnitsPerItem = 200, 20
	cfg.StartDelay, cfg.Jitter, cfg.RetryInterval, cfg.ThinkTime = 200*time.Millisecond, 200*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	cfg.PayProbability = 0.5
	cfg.Concurrency = 32
	cfg.Duration, cfg.RequestTimeout = 5*time.Second, 2*time.Second
	return cfg
}

func mustRun(t *testing.T, cfg Config) *Report {
	t.Helper()
	report, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return report
}

func TestHerdSellsExactlyTheStock(t *testing.T) {
	server := startFake(t, &fakeService{})
	report := mustRun(t, smallHerd(server.URL))

	if !report.OK() {
		t.Fatalf("violations against a correct service: %v", report.Violations)
	}
	if got := report.Reservations.People + report.Reservations.Bots; got != 20 {
		t.Errorf("reservations = %d, want exactly the 20 units", got)
	}
	if report.StopReason != stopAllDone {
		t.Errorf("stop reason %q, want %q: every user should see sold_out and stop", report.StopReason, stopAllDone)
	}
	if !report.SellOut.AllItemsSoldOut || report.SellOut.AfterMs == nil {
		t.Errorf("sell-out not detected: %+v", report.SellOut)
	}
	if report.PlaceOrderAttempts < 200 {
		t.Errorf("place-order attempts = %d, want every one of the 200 users to press", report.PlaceOrderAttempts)
	}
	stats := report.FinalStats.Items[0]
	if stats.Available != 0 || stats.Reserved+stats.Sold != 20 || stats.Sold != report.Payments.Confirmed {
		t.Errorf("final stats %+v, confirmed payments %d", stats, report.Payments.Confirmed)
	}
	if report.Payments.Confirmed+report.Payments.Abandoned != 20 {
		t.Errorf("payments %+v: every winner should pay or walk away", report.Payments)
	}
	if report.OrderCheck.Found != 20 || report.OrderCheck.Sampled {
		t.Errorf("order check %+v, want all 20 found", report.OrderCheck)
	}
	if report.TrafficRequests == 0 || len(report.Timeline) == 0 {
		t.Errorf("no traffic recorded: %d requests, %d seconds", report.TrafficRequests, len(report.Timeline))
	}
	// The sale starts 200 ms after it is created: the workers' connections
	// are open before it.
	if report.WarmConnections != 32 {
		t.Errorf("%d connections opened before the traffic, want the 32 workers'", report.WarmConnections)
	}
}

// The workers' connections are opened a moment before the start, not
// when the sale is created: a start far off would otherwise find them
// closed by the server's keep-alive timeout.
func TestConnectionsAreOpenedJustBeforeTheStart(t *testing.T) {
	fake := &fakeService{}
	server := startFake(t, fake)
	cfg := smallHerd(server.URL)
	cfg.StartDelay = warmLead + 500*time.Millisecond
	report := mustRun(t, cfg)
	if !report.OK() || report.WarmConnections != 32 {
		t.Fatalf("violations %v, %d connections opened before the traffic: want none and 32", report.Violations, report.WarmConnections)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var start time.Time
	for _, sale := range fake.sales {
		start = sale.start
	}
	if len(fake.warmedAt) != 32 {
		t.Fatalf("%d connections opened with a GET /healthz, want 32", len(fake.warmedAt))
	}
	for _, at := range fake.warmedAt {
		if at.Before(start.Add(-warmLead)) {
			t.Errorf("a connection opened %s before the start, want at most %s", start.Sub(at), warmLead)
		}
	}
}

func TestBotsShareIsReported(t *testing.T) {
	server := startFake(t, &fakeService{})
	cfg := smallHerd(server.URL)
	cfg.Scenario, cfg.BotShare = ScenarioBots, 0.1
	// The bots' head start is the people's jitter: over smallHerd's 200 ms
	// the first people press while the bots' burst is still being
	// answered, and on a loaded machine (CI's) that burst is slow enough
	// for them to take nearly all the units. Over 2 s the people who
	// press during the burst are a few.
	cfg.Jitter = 2 * time.Second
	report := mustRun(t, cfg)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if report.Bots != 20 {
		t.Errorf("bots = %d, want 10%% of 200", report.Bots)
	}
	// Bots fire the instant the sale opens while people spread over the
	// jitter window, so they take a share far above their 10 %.
	if got := report.Reservations; got.Bots+got.People != 20 || got.Bots == 0 || got.BotShare <= 0.1 {
		t.Errorf("reservations %+v: want 20 with bots over-represented", got)
	}
}

func TestOpenLoopHerdSellsExactlyTheStock(t *testing.T) {
	server := startFake(t, &fakeService{})
	cfg := smallHerd(server.URL)
	cfg.Users, cfg.UnitsPerItem, cfg.Items, cfg.Rate = 100, 10, 2, 1000
	report := mustRun(t, cfg)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if got := report.Reservations.People; got != 20 {
		t.Errorf("reservations = %d, want the 2 x 10 units", got)
	}
	if report.StopReason != stopAllDone {
		t.Errorf("stop reason %q, want every user to finish", report.StopReason)
	}
}

func TestRateLimitedHerdStillSellsTheStock(t *testing.T) {
	server := startFake(t, &fakeService{rateLimitEvery: 2})
	report := mustRun(t, smallHerd(server.URL))
	if !report.OK() || report.Reservations.People != 20 {
		t.Fatalf("violations %v, reservations %+v", report.Violations, report.Reservations)
	}
	if report.StatusCounts["429"] == 0 {
		t.Errorf("no 429 counted: %v", report.StatusCounts)
	}
}

func TestOversellIsCaught(t *testing.T) {
	server := startFake(t, &fakeService{oversellEvery: 5})
	report := mustRun(t, smallHerd(server.URL))
	if report.OK() {
		t.Fatalf("a service that answers 201 after selling out passed: %+v", report.Reservations)
	}
	if !containsViolation(report, "oversold") {
		t.Errorf("violations %v, want one naming the oversell", report.Violations)
	}
}

func TestBrokenStockInvariantIsCaught(t *testing.T) {
	server := startFake(t, &fakeService{skewStats: true})
	report := mustRun(t, smallHerd(server.URL))
	if report.OK() || !containsViolation(report, "available") {
		t.Fatalf("violations %v, want the broken available+reserved+sold", report.Violations)
	}
}

func TestMissingOrdersAreCaught(t *testing.T) {
	server := startFake(t, &fakeService{forgetOrders: true})
	cfg := smallHerd(server.URL)
	cfg.PayProbability = 0 // paying a forgotten order would fail first
	report := mustRun(t, cfg)
	if report.OK() || !containsViolation(report, "missing") || report.OrderCheck.Missing != 20 {
		t.Fatalf("violations %v, order check %+v: want 20 missing orders", report.Violations, report.OrderCheck)
	}
}

func TestExistingSaleIsTargeted(t *testing.T) {
	server := startFake(t, &fakeService{})
	first := smallHerd(server.URL)
	first.Users = 10
	report := mustRun(t, first)
	if !report.OK() || report.Reservations.People != 10 {
		t.Fatalf("first run: violations %v, reservations %+v", report.Violations, report.Reservations)
	}

	// The second run's users are new people: they get the 10 units left.
	second := smallHerd(server.URL)
	second.SaleID, second.ItemIDs = report.SaleID, report.ItemIDs
	report = mustRun(t, second)
	if !report.OK() || report.CreatedSale || report.Reservations.People != 10 {
		t.Fatalf("second run: violations %v, created %v, reservations %+v", report.Violations, report.CreatedSale, report.Reservations)
	}
	if s := report.FinalStats.Items[0]; s.Available != 0 || s.Reserved+s.Sold != 20 {
		t.Errorf("final stats %+v, want all 20 units gone", s)
	}

	second.ItemIDs = []string{"no-such-item"}
	if _, err := Run(context.Background(), second, nil); err == nil {
		t.Error("an item id outside the sale was accepted")
	}
}

func TestInterruptedRunIsStillVerified(t *testing.T) {
	server := startFake(t, &fakeService{})
	cfg := smallHerd(server.URL)
	cfg.Jitter, cfg.RetryInterval = 2*time.Second, 100*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	report, err := Run(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.StopReason != stopInterrupted || report.FinalStats == nil {
		t.Fatalf("stop reason %q, stats %v: want an interrupted run that was still checked", report.StopReason, report.FinalStats)
	}
	if !report.OK() {
		t.Errorf("violations: %v", report.Violations)
	}
}

func TestMaxAttemptsBoundsTheRun(t *testing.T) {
	server := startFake(t, &fakeService{})
	cfg := smallHerd(server.URL)
	cfg.UnitsPerItem, cfg.MaxAttempts, cfg.Jitter = 1000, 50, 0
	report := mustRun(t, cfg)
	if report.PlaceOrderAttempts != 50 || report.StopReason != stopMaxAttempts {
		t.Fatalf("attempts %d, stop reason %q: want 50 and %q", report.PlaceOrderAttempts, report.StopReason, stopMaxAttempts)
	}
	if !report.OK() {
		t.Errorf("violations: %v", report.Violations)
	}
}

func TestOpenLoopRefreshKeepsTheRate(t *testing.T) {
	server := startFake(t, &fakeService{})
	cfg := smallHerd(server.URL)
	if err := cfg.ApplyPreset(ScenarioRefresh); err != nil {
		t.Fatal(err)
	}
	cfg.Rate, cfg.RampUp, cfg.Duration, cfg.Concurrency = 400, 0, time.Second, 16
	report := mustRun(t, cfg)

	if report.StopReason != stopDuration {
		t.Errorf("stop reason %q, want the duration", report.StopReason)
	}
	// 400 arrivals a second for a second; allow for the last ones cut off
	// and a slow machine under the race detector.
	if sent := report.TrafficRequests + report.DroppedArrivals + report.Canceled; sent < 300 || sent > 402 {
		t.Errorf("%d requests (+%d dropped, %d canceled) in 1 s at 400/s", report.TrafficRequests, report.DroppedArrivals, report.Canceled)
	}
	if report.StatusCounts["304"] == 0 {
		t.Errorf("no 304: refreshes should revalidate with the ETag, statuses %v", report.StatusCounts)
	}
	if !report.OK() {
		t.Errorf("violations: %v", report.Violations)
	}
}

func TestSoakMixesViewsAndOrders(t *testing.T) {
	server := startFake(t, &fakeService{})
	cfg := smallHerd(server.URL)
	if err := cfg.ApplyPreset(ScenarioSoak); err != nil {
		t.Fatal(err)
	}
	cfg.Users, cfg.UnitsPerItem, cfg.ThinkTime = 50, 1000, 10*time.Millisecond
	cfg.StartDelay, cfg.Rate, cfg.RampUp, cfg.OrderShare, cfg.Duration, cfg.Concurrency = 100*time.Millisecond, 300, 0, 0.5, time.Second, 16
	report := mustRun(t, cfg)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if report.PlaceOrderAttempts < 100 || report.PlaceOrderAttempts > 200 {
		t.Errorf("%d place-order attempts, want about half of 300", report.PlaceOrderAttempts)
	}
	if report.Reservations.People == 0 || report.Reservations.People > 4*50 {
		t.Errorf("reservations %+v: want some, at most one per user and item", report.Reservations)
	}
}

func TestWritersAndProgress(t *testing.T) {
	server := startFake(t, &fakeService{})
	var progress bytes.Buffer
	report, err := Run(context.Background(), smallHerd(server.URL), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(progress.String()), "\n"); len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "reserved=20/20") || strings.Contains(progress.String(), "\r") {
		t.Errorf("progress to a non-terminal should be plain lines ending with the final count, got:\n%s", progress.String())
	}

	var encoded bytes.Buffer
	if err := WriteJSON(&encoded, report); err != nil {
		t.Fatal(err)
	}
	var decoded Report
	if err := json.Unmarshal(encoded.Bytes(), &decoded); err != nil {
		t.Fatalf("JSON report does not read back: %v", err)
	}
	if decoded.Reservations != report.Reservations || len(decoded.Endpoints) != len(report.Endpoints) {
		t.Errorf("JSON round trip lost data")
	}

	var page bytes.Buffer
	if err := WriteHTML(&page, report); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{"<svg", "<path d=\"M", "place_order", "409 sold_out", "every invariant held"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	for _, external := range []string{"<script", "src=", "href=", "<link"} {
		if strings.Contains(html, external) {
			t.Errorf("HTML report is not self-contained: it has %q", external)
		}
	}

	var text bytes.Buffer
	if err := WriteText(&text, report); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "OK") || !strings.Contains(text.String(), "place_order") {
		t.Errorf("text summary:\n%s", text.String())
	}
}

func TestFlagsOverrideThePreset(t *testing.T) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	resolve := RegisterFlags(fs)
	if err := fs.Parse([]string{"-users", "50", "-scenario", "soak", "-item-ids", "a,b", "-duration", "90s"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	soak := Presets()[ScenarioSoak]
	if cfg.Scenario != ScenarioSoak || cfg.Users != 50 || cfg.Duration != 90*time.Second || cfg.Rate != soak.Rate ||
		strings.Join(cfg.ItemIDs, ",") != "a,b" || cfg.BaseURL == "" {
		t.Errorf("resolved config %+v: want the soak preset with 50 users, 90s and items a,b", cfg)
	}

	fs = flag.NewFlagSet("loadtest", flag.ContinueOnError)
	resolve = RegisterFlags(fs)
	if err := fs.Parse([]string{"-scenario", "stampede"}); err != nil {
		t.Fatal(err)
	}
	if _, err := resolve(); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}

func TestPresetsAreValid(t *testing.T) {
	for name, preset := range Presets() {
		preset.BaseURL, preset.MintToken = "http://127.0.0.1:1", fakeToken
		if err := preset.Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
}

func TestArrivalOffset(t *testing.T) {
	// Constant rate: the k-th arrival at k/rate.
	if got := arrivalOffset(250, 100, 0); got != 2500*time.Millisecond {
		t.Errorf("constant: arrival 250 at %v, want 2.5s", got)
	}
	// Ramp 0 -> 100/s over 10 s: 500 arrivals during the ramp, the 125th at
	// sqrt(2*125*10/100) = 5 s, then 100/s.
	if got := arrivalOffset(125, 100, 10*time.Second); got != 5*time.Second {
		t.Errorf("ramp: arrival 125 at %v, want 5s", got)
	}
	if got := arrivalOffset(600, 100, 10*time.Second); got != 11*time.Second {
		t.Errorf("after ramp: arrival 600 at %v, want 11s", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for value, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"soon":                          0,
		"Tue, 01 Jan 2030 00:00:05 GMT": 5 * time.Second,
	} {
		if got := parseRetryAfter(value, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", value, got, want)
		}
	}
}

func containsViolation(r *Report, fragment string) bool {
	for _, v := range r.Violations {
		if strings.Contains(v, fragment) {
			return true
		}
	}
	return false
}

// A closed-loop herd of many more users than workers against a slow
// service: the users queue for workers inside the generator, which reports
// that wait apart; the service sees at most Concurrency requests at once,
// each request's latency is the service's own, nothing times out, every
// user presses exactly once, and the generator holds a goroutine per
// worker, not per waiting user.
func TestClosedLoopHerdQueuesUsersForWorkers(t *testing.T) {
	const users, workers, delay = 1000, 10, 10 * time.Millisecond
	fake := &fakeService{delay: delay}
	server := startFake(t, fake)
	cfg := smallHerd(server.URL)
	cfg.Users, cfg.UnitsPerItem, cfg.Concurrency, cfg.Jitter = users, 20, workers, 0
	cfg.RequestTimeout, cfg.Duration = 500*time.Millisecond, 30*time.Second
	report := mustRun(t, cfg)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if report.StopReason != stopAllDone || report.PlaceOrderAttempts != users {
		t.Errorf("stop reason %q after %d place-order attempts: want every one of the %d users to press once and finish",
			report.StopReason, report.PlaceOrderAttempts, users)
	}
	if got := report.Reservations.People; got != 20 {
		t.Errorf("reservations = %d, want the 20 units", got)
	}
	if report.StatusCounts["error"] != 0 || report.StatusCounts["409"] != users-20 {
		t.Errorf("status counts %v: want no transport error and %d sold_out", report.StatusCounts, users-20)
	}
	if got := fake.maxInFlight.Load(); got > workers {
		t.Errorf("the service saw %d requests at once, more than the %d workers", got, workers)
	}
	// 1,000 presses of 10 ms on 10 workers take a second: the last users
	// wait most of it for a worker, and that wait is not their latency.
	var placeOrder EndpointReport
	for _, ep := range report.Endpoints {
		if ep.Endpoint == endpointPlaceOrder {
			placeOrder = ep
		}
	}
	if placeOrder.P50Ms < ms(delay) || placeOrder.P99Ms > 200 {
		t.Errorf("place-order latency p50 %.1f ms, p99 %.1f ms: want the service's %v, not the queue", placeOrder.P50Ms, placeOrder.P99Ms, delay)
	}
	if report.QueueWait.MaxMs < 500 || report.QueueWait.Count < users {
		t.Errorf("queue wait %+v: want every step counted and the last users waiting most of a second", report.QueueWait)
	}
	if got := fake.goroutines.Load(); got > 300 {
		t.Errorf("%d goroutines while %d users waited: the generator should hold one per worker, not per user", got, users)
	}
}

// An open loop against a service slower than the offered rate keeps the
// rate: arrivals that find every sender busy are dropped and counted, so
// sent + dropped is the schedule.
func TestOpenLoopAgainstASlowServiceDropsArrivals(t *testing.T) {
	server := startFake(t, &fakeService{delay: 50 * time.Millisecond})
	cfg := smallHerd(server.URL)
	if err := cfg.ApplyPreset(ScenarioRefresh); err != nil {
		t.Fatal(err)
	}
	// 4 senders of 50 ms answers carry 80/s of the 400/s offered.
	cfg.Rate, cfg.RampUp, cfg.Duration, cfg.Concurrency = 400, 0, time.Second, 4
	report := mustRun(t, cfg)

	if offered := report.TrafficRequests + report.DroppedArrivals + report.Canceled; offered < 300 || offered > 402 {
		t.Errorf("%d sent + %d dropped + %d canceled in 1 s at 400/s", report.TrafficRequests, report.DroppedArrivals, report.Canceled)
	}
	if report.DroppedArrivals < 200 || report.TrafficRequests > 120 {
		t.Errorf("%d sent, %d dropped: want about 80 sent and the rest dropped", report.TrafficRequests, report.DroppedArrivals)
	}
	if !containsNote(report, "dropped") {
		t.Errorf("notes %v: want one explaining the dropped arrivals", report.Notes)
	}
}

// An open-loop schedule that has fallen behind (a generator short of CPU)
// sends its overdue arrivals at once, late, and reports how late, rather
// than offering a lower rate.
func TestOpenLoopBehindScheduleSendsLateNotFewer(t *testing.T) {
	// In a bubble: the schedule is the clock's, not the machine's, so a
	// loaded machine cannot starve the senders of their 200 ms.
	synctest.Test(t, func(t *testing.T) {
		r := &run{cfg: Config{Rate: 1000, Concurrency: 2000}, rec: newRecorder()}
		r.sched = newScheduler(1, r.rec.recordQueueWait)
		defer r.sched.stop()
		r.trafficStart = time.Now().Add(-500 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		var sent atomic.Int64
		r.openLoop(ctx, func() bool { return true }, func(time.Time) { sent.Add(1) })
		<-r.sched.idle()

		// 500 arrivals were overdue at the start, about 200 more fell due.
		if offered := sent.Load() + r.dropped.Load(); offered < 650 || offered > 710 {
			t.Errorf("%d sent + %d dropped, want about 700", sent.Load(), r.dropped.Load())
		}
		if _, lag := r.rec.generatorDelays(); lag.MaxMs < 400 {
			t.Errorf("arrival lag %+v: want the overdue arrivals reported up to 500 ms late", lag)
		}
	})
}

func containsNote(r *Report, fragment string) bool {
	for _, n := range r.Notes {
		if strings.Contains(n, fragment) {
			return true
		}
	}
	return false
}
