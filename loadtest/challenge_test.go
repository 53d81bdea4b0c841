package loadtest

import (
	"flag"
	"strings"
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
	var text strings.Builder
	if err := WriteText(&text, report); err != nil || !strings.Contains(text.String(), "challenges (always, max_number 1000)") {
		t.Errorf("text report (%v):\n%s", err, text.String())
	}
	var page strings.Builder
	if err := WriteHTML(&page, report); err != nil || !strings.Contains(page.String(), "<h2>Challenges</h2>") {
		t.Errorf("HTML report without the challenges (%v)", err)
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

// Without -challenge the sale asks none and the report has no challenges;
// the flag sets the policy, and a scenario whose users do not solve
// refuses it.
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
		"unknown policy":  func(c *Config) { c.Challenge = "sometimes" },
		"lottery":         func(c *Config) { c.Scenario = ScenarioLottery },
		"no difficulty":   func(c *Config) { c.ChallengeMaxNumber = 0 },
		"negative think":  func(c *Config) { c.ChallengeThink = -time.Second },
		"queue with bots": func(c *Config) { c.Scenario = ScenarioQueue },
	} {
		bad := parsed
		change(&bad)
		if bad.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The solver that yields between ranges finds what one pass finds, and
// nothing where there is nothing to find.
func TestSolveAsideFindsWhatSolveFinds(t *testing.T) {
	issuer := challenge.NewIssuer([]byte("generator"))
	for _, maxNumber := range []int64{1000, solveStep - 1, solveStep, 3*solveStep + 5} {
		c, err := issuer.Issue("sale", "bot", maxNumber, time.Now().Add(time.Minute))
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
