package loadtest

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/challenge"
)

// smallBots is the bots scenario at the fake's scale, its sale asking a
// challenge of every press.
func smallBots(baseURL string) Config {
	cfg := smallHerd(baseURL)
	cfg.Scenario, cfg.BotShare = ScenarioBots, 0.1
	cfg.Challenge, cfg.ChallengeMaxNumber, cfg.ChallengeThink = ChallengeAlways, 1000, 20*time.Millisecond
	cfg.ForwardedFor = true
	return cfg
}

// Every press is challenged, every user solves and presses again with the
// solution, which the service takes once: the stock sells, and the report
// counts the challenges, the solutions and the solver's time as the fake
// saw them; each user sends an address of their own.
func TestChallengesAreSolvedAndCounted(t *testing.T) {
	fake := &fakeService{}
	server := startFake(t, fake)
	report := mustRun(t, smallBots(server.URL))
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	c := report.Challenges
	if c == nil {
		t.Fatal("no challenge report")
	}
	fake.mu.Lock()
	issued, spent, forwarded := fake.challenges, fake.solutions, fake.forwarded
	fake.mu.Unlock()
	challenged := c.Challenged.Bots + c.Challenged.People
	solved := c.Solved.Bots + c.Solved.People
	if challenged != int64(issued) || solved != challenged || c.Refused.Bots+c.Refused.People != 0 || int64(spent) != c.WithSolution.Bots+c.WithSolution.People || spent == 0 {
		t.Errorf("report %+v; the fake issued %d challenges and took %d solutions: want every challenge solved and its solution taken", c, issued, spent)
	}
	if c.Solved.Bots == 0 || c.Solved.People == 0 || c.SolveCPU.Bots <= 0 || c.SolveWall.People <= 0 || c.PeopleChallengedShare <= 0 {
		t.Errorf("report %+v: want bots and people solving, and the solver's time counted", c)
	}
	if got := report.Reservations.Bots + report.Reservations.People; got != 20 {
		t.Errorf("%d reservations, want the 20 units sold through the challenges", got)
	}
	// A solve's wall time is never shorter than its CPU time: no solution
	// is ready here before it would have been on a core of its own.
	if b := c.BotSolutionsBeforeSoldOut; b == nil || report.SellOut.AfterMs == nil || b.SoldOutMs != *report.SellOut.AfterMs ||
		int64(b.Solved) != c.Solved.Bots || b.Here > b.OnOwnCores || b.OnOwnCores > b.Solved {
		t.Errorf("bots' solutions before the sell-out %+v, sold out after %v ms, bots solved %d", b, report.SellOut.AfterMs, c.Solved.Bots)
	}
	seen := map[string]string{}
	for user, addresses := range forwarded {
		for address := range addresses {
			if other, ok := seen[address]; ok || len(addresses) != 1 {
				t.Errorf("user %s sent %v, user %q the same: want one address each", user, addresses, other)
			}
			seen[address] = user
		}
	}
	if len(seen) != 200 {
		t.Errorf("%d users sent an address, want all 200", len(seen))
	}
	reportSays(t, report, []string{"challenges (always, max_number 1000)", "bots' solutions ready before the sale sold out"},
		[]string{"<h2>Challenges</h2>", "bots' solutions before the sell-out"})
}

// A paced sale's solutions are sent no sooner than their challenge's
// notbefore, by bots and people alike. When the service's clock is
// behind and refuses one as early, the same solution goes again after the
// wait it gives, unspent and not solved anew; the report counts it early.
func TestPacedSolutionsWaitForTheirNotBefore(t *testing.T) {
	for _, lag := range []time.Duration{0, 30 * time.Millisecond} {
		t.Run(fmt.Sprintf("service %v behind", lag), func(t *testing.T) {
			fake := &fakeService{paceLag: lag}
			server := startFake(t, fake)
			cfg := smallBots(server.URL)
			cfg.ChallengePace = 10_000 // 50 ms: half of [0, 1000] at 10,000 hashes a second
			report := mustRun(t, cfg)
			if !report.OK() {
				t.Fatalf("violations: %v", report.Violations)
			}
			c := report.Challenges
			fake.mu.Lock()
			issued, spent, early := fake.challenges, fake.solutions, fake.early
			fake.mu.Unlock()
			sentEarly := c.Early.Bots + c.Early.People
			if lag == 0 && early != 0 || lag > 0 && early == 0 || sentEarly != int64(early) {
				t.Errorf("the fake answered %d solutions early, the report counts %d: want none with the clocks agreeing, some with the service behind", early, sentEarly)
			}
			solved := c.Solved.Bots + c.Solved.People
			if solved != int64(issued) || int64(spent+early) != c.WithSolution.Bots+c.WithSolution.People || c.Refused.Bots+c.Refused.People != 0 {
				t.Errorf("report %+v; the fake issued %d challenges, took %d solutions and answered %d early: want each challenge solved once and its solution taken", c, issued, spent, early)
			}
			if got := report.Reservations.Bots + report.Reservations.People; got != 20 || c.Pace != 10_000 {
				t.Errorf("%d reservations, pace %d: want the 20 units sold through paced challenges", got, c.Pace)
			}
			reportSays(t, report, []string{"challenges (always, max_number 1000, pace 10000 hashes/s)"},
				[]string{"pace 10000 hashes a second", "or its notbefore when later"})
		})
	}
}

// A bot that evades presses again once, BotEvade later, without solving.
// Against a service that asks only within the reaction time (the fake
// under suspicious) it then goes through unsolved; against one that asks
// again (always), it solves the second challenge.
func TestBotsEvadeOnceThenSolve(t *testing.T) {
	for _, policy := range []string{ChallengeSuspicious, ChallengeAlways} {
		t.Run(policy, func(t *testing.T) {
			server := startFake(t, &fakeService{})
			cfg := smallBots(server.URL)
			cfg.Challenge, cfg.BotEvade = policy, 200*time.Millisecond
			report := mustRun(t, cfg)
			if !report.OK() {
				t.Fatalf("violations: %v", report.Violations)
			}
			c := report.Challenges
			switch {
			case c.Challenged.Bots == 0:
				t.Errorf("challenges %+v: no bot was challenged", c)
			case policy == ChallengeSuspicious && (c.Solved.Bots != 0 || c.WithSolution.Bots != 0):
				t.Errorf("challenges %+v: the bots came back after the reaction time and should have needed no solution", c)
			case policy == ChallengeAlways && (c.Solved.Bots == 0 || c.Challenged.Bots < 2*c.Solved.Bots):
				// A bot whose press after evading found the sale sold out
				// was challenged once and solved nothing.
				t.Errorf("challenges %+v: want each bot that solved challenged twice, once evaded", c)
			}
		})
	}
}

// A solution whose press was answered before the service looked at it
// (a sold-out item, a sale not active) goes with the next press, as the
// page sends it; one whose press the service took does not.
func TestUnlookedSolutionsGoWithTheNextPress(t *testing.T) {
	answers := []struct {
		status int
		body   string
	}{
		{http.StatusConflict, `{"error":{"code":"sold_out","message":"sold out"}}`},
		{http.StatusBadRequest, `{"error":{"code":"sale_not_active","message":"not yet"}}`},
		{http.StatusCreated, `{"order_id":"order-1"}`},
		{http.StatusConflict, `{"error":{"code":"sold_out","message":"sold out"}}`},
	}
	var mu sync.Mutex
	var sent []string
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("Flashsale-Challenge"))
		answer := answers[len(sent)-1]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(answer.status)
		io.WriteString(w, answer.body)
	}))
	defer server.Close()
	cfg := smallHerd(server.URL)
	r := &run{cfg: cfg, rec: newRecorder(), ledger: newLedger()}
	client, err := newAPIClient(cfg, r.rec)
	if err != nil {
		t.Fatal(err)
	}
	defer client.close()
	r.client = client
	u := r.newUser("shopper", 0)
	u.solution = "the solution"
	for range answers {
		r.doSolved(t.Context(), u, request{endpoint: endpointPlaceOrder, method: http.MethodPost, path: "/flash-sales/sale-1/orders"})
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"the solution", "the solution", "the solution", ""}; !slices.Equal(sent, want) {
		t.Errorf("the presses carried %q, want %q", sent, want)
	}
}

// Solutions the service refuses are counted as refused, and the users
// keep solving the fresh challenges until the run's bound.
func TestRefusedSolutionsAreCounted(t *testing.T) {
	fake := &fakeService{refuseSolutions: true}
	server := startFake(t, fake)
	cfg := smallBots(server.URL)
	cfg.MaxAttempts = 300
	report := mustRun(t, cfg)
	c := report.Challenges
	if c.Refused.Bots == 0 || report.Reservations.Bots+report.Reservations.People != 0 || report.StopReason != stopMaxAttempts {
		t.Errorf("challenges %+v, reservations %+v, stopped because %q: want refused solutions, no unit sold, the attempts spent", c, report.Reservations, report.StopReason)
	}
}

// A waiting room's line asks a challenge of every join, and the sale of
// every press: each is solved and sent again with its solution, which the
// service takes once, and the units sell as without challenges. A
// shopper may still hold a solution when the ticket reads sold_out, and
// leaves it unsent. The bots' presses without a token are refused for
// their challenge, unsolved, which is no violation.
func TestQueueSolvesTheChallengesOfJoinsAndPresses(t *testing.T) {
	fake := &fakeService{queuePollAfter: 40 * time.Millisecond}
	server := startFake(t, fake)
	cfg := smallQueue(server.URL)
	cfg.BotShare = 0.1
	cfg.Challenge, cfg.ChallengeMaxNumber, cfg.ChallengeThink = ChallengeAlways, 1000, 20*time.Millisecond
	cfg.ForwardedFor = true
	report := mustRun(t, cfg)
	if !report.OK() {
		t.Fatalf("violations against a correct service: %v", report.Violations)
	}
	if report.StopReason != stopAllDone {
		t.Errorf("stop reason %q, want every shopper to finish", report.StopReason)
	}
	if got := report.Reservations.Bots + report.Reservations.People; got != 20 {
		t.Errorf("%d reservations, want the 20 units sold through the challenges", got)
	}
	c, q := report.Challenges, report.Queue
	if c == nil || q == nil {
		t.Fatalf("challenge report %+v, queue report %+v: want both", c, q)
	}
	fake.mu.Lock()
	issued, spent := int64(fake.challenges), int64(fake.solutions)
	fake.mu.Unlock()
	total := func(s Split) int64 { return s.Bots + s.Farms + s.People }
	challenged, withSolution := total(c.Challenged), total(c.WithSolution)
	if q.TokenlessPresses != 20 || challenged+q.TokenlessPresses != issued {
		t.Errorf("the fake issued %d challenges, the report counts %d and %d presses without a token: want every challenge but the probes' counted",
			issued, challenged, q.TokenlessPresses)
	}
	if total(c.Solved) != challenged || withSolution > challenged || spent != withSolution || total(c.Refused) != 0 {
		t.Errorf("report %+v; the fake took %d solutions: want every challenge solved, and every solution sent taken", c, spent)
	}
	joins, presses := answers(report, endpointJoinQueue), answers(report, endpointPlaceOrder)
	const refusedForIt = "403 challenge_required"
	if joins[refusedForIt] != int64(cfg.Users) || joins[refusedForIt]+presses[refusedForIt] != issued {
		t.Errorf("joins %v, place-orders %v: want each of the %d users' join challenged once, and the rest of the %d challenges the presses'",
			joins, presses, cfg.Users, issued)
	}
	// Every answer but a challenge (and the line's not being open yet,
	// which comes before it) is one to a request with a solution.
	passed := sum(joins) - joins[refusedForIt] - joins["400 queue_not_open"] + sum(presses) - presses[refusedForIt]
	if passed != withSolution || presses["201"] != 20 {
		t.Errorf("joins %v, place-orders %v: %d passed the challenge, %d carried a solution; want the same, and the 20 units reserved",
			joins, presses, passed, withSolution)
	}
	reportSays(t, report, []string{"people's requests (place-orders and joins) challenged"}, []string{"people's requests (place-orders and joins): "})
}

// answers counts an endpoint's answers by outcome ("409 sold_out").
func answers(r *Report, endpoint string) map[string]int64 {
	counts := map[string]int64{}
	for _, ep := range r.Endpoints {
		if ep.Endpoint == endpoint {
			for _, o := range ep.Outcomes {
				counts[o.Outcome] = o.Count
			}
		}
	}
	return counts
}

func sum(counts map[string]int64) int64 {
	var n int64
	for _, count := range counts {
		n += count
	}
	return n
}

// Without -challenge the sale asks none and the report has no challenges;
// the flag sets the policy, the queue scenario takes it, and a scenario
// whose users do not solve refuses it.
func TestChallengeFlagsAndValidation(t *testing.T) {
	fake := &fakeService{}
	server := startFake(t, fake)
	cfg := smallBots(server.URL)
	cfg.Challenge = ChallengeOff
	report := mustRun(t, cfg)
	if report.Challenges != nil || fake.challenges != 0 {
		t.Errorf("a sale without challenges: report %+v, %d issued", report.Challenges, fake.challenges)
	}

	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	build := RegisterFlags(fs)
	if err := fs.Parse([]string{"-challenge", "suspicious", "-scenario", "bots", "-challenge-think", "3s"}); err != nil {
		t.Fatal(err)
	}
	parsed, err := build()
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Challenge != ChallengeSuspicious || parsed.ChallengeThink != 3*time.Second || parsed.ChallengeMaxNumber != 100_000 {
		t.Errorf("config %+v: want the suspicious policy over the bots preset", parsed)
	}
	parsed.MintToken = fakeToken
	for name, change := range map[string]func(*Config){
		"unknown policy": func(c *Config) { c.Challenge = "sometimes" },
		"no difficulty":  func(c *Config) { c.ChallengeMaxNumber = 0 },
		"negative think": func(c *Config) { c.ChallengeThink = -time.Second },
	} {
		bad := parsed
		change(&bad)
		if bad.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, scenario := range []string{ScenarioLottery, ScenarioRefresh} {
		bad := parsed
		bad.Scenario = scenario
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "challenges are solved") {
			t.Errorf("%s: %v, want challenges refused", scenario, err)
		}
	}

	fs = flag.NewFlagSet("loadtest", flag.ContinueOnError)
	build = RegisterFlags(fs)
	if err := fs.Parse([]string{"-challenge", "suspicious", "-scenario", "queue"}); err != nil {
		t.Fatal(err)
	}
	queue, err := build()
	if err != nil {
		t.Fatal(err)
	}
	queue.BaseURL, queue.MintToken = server.URL, fakeToken
	if err := queue.Validate(); err != nil || queue.Challenge != ChallengeSuspicious || queue.ChallengeMaxNumber != 100_000 {
		t.Errorf("the queue scenario with challenges: %v, config %+v", err, queue)
	}
}

// The solver that yields between ranges finds what one pass finds, and
// nothing where there is nothing to find.
func TestSolveAsideFindsWhatSolveFinds(t *testing.T) {
	issuer := challenge.NewIssuer([]byte("generator"))
	for _, maxNumber := range []int64{1000, solveStep - 1, solveStep, 3*solveStep + 5} {
		c, err := issuer.Issue("sale", "bot", maxNumber, time.Time{}, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := challenge.Solve(c)
		if got, ok := solveAside(c); !ok || got != want {
			t.Errorf("max %d: %+v, %v; want %+v", maxNumber, got, ok, want)
		}
		c.Challenge = strings.Repeat("0", 64)
		if got, ok := solveAside(c); ok {
			t.Errorf("max %d: %+v solves a challenge no number fits", maxNumber, got)
		}
	}
}

// A solution counts as ready before the sell-out on its own core by the
// solve's CPU time, and here by its wall time.
func TestSolutionsBeforeTheSellOut(t *testing.T) {
	c := &challengeRun{machineSolutions: []solutionReady{
		{ownCore: 10 * time.Millisecond, here: 50 * time.Millisecond},
		{ownCore: 30 * time.Millisecond, here: 30 * time.Millisecond},
		{ownCore: 40 * time.Millisecond, here: 40 * time.Millisecond},
		{ownCore: 60 * time.Millisecond, here: 90 * time.Millisecond},
	}}
	got := c.solutionsBefore(40 * time.Millisecond)
	if want := (SolutionsBefore{SoldOutMs: 40, Solved: 4, OnOwnCores: 2, Here: 1}); *got != want {
		t.Errorf("%+v, want %+v", *got, want)
	}
}
