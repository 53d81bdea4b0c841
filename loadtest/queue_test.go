package loadtest

import (
	"flag"
	"testing"
	"time"
)

// smallQueue is a queue run that finishes in a few seconds against the
// fake: the line opens a second before the start and admits 100 a second.
func smallQueue(baseURL string) Config {
	var cfg Config
	if err := cfg.ApplyPreset(ScenarioQueue); err != nil {
		panic(err)
	}
	cfg.BaseURL, cfg.MintToken, cfg.Seed = baseURL, fakeToken, 1
	cfg.Users, cfg.UnitsPerItem = 200, 20
	cfg.WaitingRoom.AdmitPerMinute, cfg.WaitingRoom.PreQueue = 6000, time.Second
	cfg.StartDelay, cfg.Jitter, cfg.RetryInterval, cfg.ThinkTime = 1500*time.Millisecond, 300*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	cfg.PayProbability, cfg.LeaveShare = 0.5, 0.2
	cfg.Concurrency = 32
	cfg.Duration, cfg.RequestTimeout = 30*time.Second, 2*time.Second
	return cfg
}

// The generator joins before and after the start, polls no sooner than
// each ticket says, buys only with its admission token, and counts what
// the line did as the line itself saw it.
func TestQueueBuysOnlyWhenAdmittedAndCountsTheLine(t *testing.T) {
	fake := &fakeService{queuePollAfter: 40 * time.Millisecond}
	server := startFake(t, fake)
	report := mustRun(t, smallQueue(server.URL))

	if !report.OK() {
		t.Fatalf("violations against a correct service: %v", report.Violations)
	}
	if report.StopReason != stopAllDone {
		t.Errorf("stop reason %q, want every shopper to finish", report.StopReason)
	}
	if got := report.Reservations.People; got != 20 {
		t.Errorf("reservations = %d, want the 20 units", got)
	}
	q := report.Queue
	if q == nil {
		t.Fatal("no queue report")
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.tokenless != 0 {
		t.Errorf("%d place-orders without a valid admission token: people buy only once admitted", fake.tokenless)
	}
	if fake.earlyPolls != 0 {
		t.Errorf("%d polls came sooner than poll_after_ms", fake.earlyPolls)
	}
	if q.JoinedPreQueue.People != int64(fake.joinedPreQueue) || q.JoinedAfterStart.People != int64(fake.joinedLate) ||
		fake.joinedPreQueue == 0 || fake.joinedLate == 0 {
		t.Errorf("joined %+v before and %+v after the start; the line saw %d and %d, want both kinds and the same counts",
			q.JoinedPreQueue, q.JoinedAfterStart, fake.joinedPreQueue, fake.joinedLate)
	}
	if q.Admitted.People != int64(len(fake.shownAdmitted)) || q.Admitted.People < 20 {
		t.Errorf("admitted %+v seen, the line showed %d users admitted", q.Admitted, len(fake.shownAdmitted))
	}
	// A shopper who gives up while waiting may be admitted before the
	// DELETE arrives: the line then sees an admitted shopper leave.
	if q.Left+q.Released != int64(fake.leftWaiting+fake.leftAdmitted) || q.Left < int64(fake.leftWaiting) || q.Left == 0 || q.WalkedAway == 0 {
		t.Errorf("left %d, released %d, walked away %d; the line saw %d leave waiting and %d admitted",
			q.Left, q.Released, q.WalkedAway, fake.leftWaiting, fake.leftAdmitted)
	}
	if q.AdmittedByService < q.Admitted.People || len(q.Samples) == 0 {
		t.Errorf("the service's count %d is below the %d shoppers who saw admission, or no sample (%d)", q.AdmittedByService, q.Admitted.People, len(q.Samples))
	}
	if q.PredictedWait.Count == 0 || q.ActualWait.Count != q.PredictedWait.Count || q.Joins.Count == 0 || q.Polls.Count == 0 {
		t.Errorf("wait %+v / %+v, joins %+v, polls %+v: want predictions, actual waits and latencies", q.PredictedWait, q.ActualWait, q.Joins, q.Polls)
	}

	reportSays(t, report, []string{"waiting room:", "admissions:", "join p50"},
		[]string{"<h2>Waiting room</h2>", "admission rate", "join_queue"})
}

// Everyone waits in the pre-queue for a line admitting 100 a second and
// more units than shoppers: the rate measured from the line's figures is
// the setting's.
func TestQueueMeasuresTheAdmissionRate(t *testing.T) {
	server := startFake(t, &fakeService{queuePollAfter: 50 * time.Millisecond})
	cfg := smallQueue(server.URL)
	cfg.Users, cfg.UnitsPerItem, cfg.PreQueueShare, cfg.LeaveShare = 400, 1000, 1, 0
	report := mustRun(t, cfg)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	a := report.Queue.Admission
	if a.SettingPerSecond != 100 || a.MeasuredOverSeconds < 1 || a.MeasuredPerSecond < 80 || a.MeasuredPerSecond > 120 {
		t.Errorf("admission %+v: want about 100/s measured over a second or more", a)
	}
	if report.Reservations.People != 400 || report.Queue.Admitted.People != 400 {
		t.Errorf("reservations %+v, admitted %+v: want all 400 admitted and buying", report.Reservations, report.Queue.Admitted)
	}
}

func TestQueueAdmittingFasterThanTheRateIsCaught(t *testing.T) {
	server := startFake(t, &fakeService{admitAll: true})
	cfg := smallQueue(server.URL)
	cfg.Users, cfg.UnitsPerItem, cfg.PreQueueShare = 400, 1000, 1
	report := mustRun(t, cfg)
	if report.OK() || !containsViolation(report, "admitted more than admit_per_minute") {
		t.Fatalf("violations %v, want the admissions over the rate", report.Violations)
	}
}

// Bots join the instant the line opens and press once without a token:
// the service must refuse every such press; the report sets the bots'
// share of the units against their share of the shoppers.
func TestQueueBotsPressWithoutATokenAndAreRefused(t *testing.T) {
	fake := &fakeService{}
	server := startFake(t, fake)
	cfg := smallQueue(server.URL)
	cfg.BotShare, cfg.LeaveShare = 0.1, 0
	report := mustRun(t, cfg)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	fake.mu.Lock()
	tokenless := fake.tokenless
	fake.mu.Unlock()
	if report.Bots != 20 || report.Queue.TokenlessPresses != 20 || tokenless != 20 {
		t.Errorf("%d bots pressed %d times without a token, the service saw %d: want one press each", report.Bots, report.Queue.TokenlessPresses, tokenless)
	}
	if report.BotShareOfUsers != 0.1 || report.Queue.JoinedPreQueue.Bots != 20 {
		t.Errorf("bot share of users %v, bots in the pre-queue %d: want 0.1 and all 20", report.BotShareOfUsers, report.Queue.JoinedPreQueue.Bots)
	}
	if got := report.Reservations; got.Bots+got.People != 20 {
		t.Errorf("reservations %+v, want the 20 units", got)
	}
}

func TestQueueOrdersWithoutAdmissionAreCaught(t *testing.T) {
	server := startFake(t, &fakeService{ignoreAdmission: true})
	cfg := smallQueue(server.URL)
	cfg.BotShare = 0.1
	report := mustRun(t, cfg)
	if report.OK() || !containsViolation(report, "without an admission token") {
		t.Fatalf("violations %v, want the bots' orders taken without a token", report.Violations)
	}
}

func TestQueuePlacesExpiredWhilePollingAreCaught(t *testing.T) {
	server := startFake(t, &fakeService{expireOnPoll: 3})
	cfg := smallQueue(server.URL)
	cfg.WaitingRoom.AdmitPerMinute, cfg.PreQueueShare, cfg.LeaveShare = 60, 0, 0
	report := mustRun(t, cfg)
	if report.OK() || !containsViolation(report, "expired while their shoppers polled") {
		t.Fatalf("violations %v, want the places taken from shoppers who polled", report.Violations)
	}
}

func TestQueueFlagsOverrideThePreset(t *testing.T) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	resolve := RegisterFlags(fs)
	err := fs.Parse([]string{"-admit-per-minute", "1200", "-scenario", "queue", "-max-active", "50", "-pre-queue", "30s",
		"-queue-order", "random", "-abandon", "20s", "-pre-queue-share", "0.7", "-leave-share", "0", "-bot-share", "0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := WaitingRoomSettings{AdmitPerMinute: 1200, MaxActive: 50, PreQueue: 30 * time.Second, Order: "random", Abandon: 20 * time.Second}
	if cfg.Scenario != ScenarioQueue || cfg.WaitingRoom != want || cfg.PreQueueShare != 0.7 || cfg.LeaveShare != 0 || cfg.BotShare != 0.1 {
		t.Errorf("resolved %+v", cfg)
	}
	cfg.MintToken = fakeToken
	for _, bad := range []WaitingRoomSettings{
		{AdmitPerMinute: 0, Order: "fifo", Abandon: 10 * time.Second},
		{AdmitPerMinute: 60, Order: "lifo", Abandon: 10 * time.Second},
		{AdmitPerMinute: 60, Order: "fifo", Abandon: 5 * time.Second},
		{AdmitPerMinute: 60, Order: "fifo", Abandon: 10 * time.Second, PreQueue: 1500 * time.Millisecond},
	} {
		cfg.WaitingRoom = bad
		if cfg.Validate() == nil {
			t.Errorf("waiting room %+v accepted", bad)
		}
	}
}

// A ticket that says to come back later than abandon_seconds would cost
// an obedient shopper the place: the generator comes back sooner, loses
// no place, and reports the advice.
func TestQueuePollsWithinAbandonWhateverTheTicketSays(t *testing.T) {
	fake := &fakeService{queuePollAfter: 3 * time.Second, queueAbandon: 2 * time.Second}
	server := startFake(t, fake)
	cfg := smallQueue(server.URL)
	cfg.Users, cfg.UnitsPerItem, cfg.LeaveShare = 20, 2, 0
	cfg.WaitingRoom.AdmitPerMinute = 60
	report := mustRun(t, cfg)

	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	q := report.Queue
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if q.TooLatePolls == 0 || !containsNote(report, "poll_after_ms at or beyond abandon_seconds") {
		t.Errorf("too-late polls %d, notes %v: want the advice counted and explained", q.TooLatePolls, report.Notes)
	}
	if q.ExpiredLate != 0 || q.Abandoned != 0 || report.Reservations.People != 2 {
		t.Errorf("%d places expired late, %d abandoned, reservations %+v: want none lost and the 2 units sold", q.ExpiredLate, q.Abandoned, report.Reservations)
	}
}
