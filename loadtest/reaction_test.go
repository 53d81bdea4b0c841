package loadtest

import (
	mathrand "math/rand/v2"
	"slices"
	"testing"
	"time"
)

// firstMoves draws the first moves of n people of cfg over window.
func firstMoves(cfg Config, n int, window time.Duration) []time.Duration {
	r := &run{cfg: cfg}
	moves := make([]time.Duration, n)
	for i := range moves {
		moves[i] = r.firstMove(r.newUser("person", i), window)
	}
	return moves
}

// shareBelow is the share of moves sooner than d.
func shareBelow(moves []time.Duration, d time.Duration) float64 {
	n := 0
	for _, m := range moves {
		if m < d {
			n++
		}
	}
	return float64(n) / float64(len(moves))
}

// People's reaction times have a human's shape: the configured mean, a
// tail of slow ones (the median below the mean), none below zero, and
// few within the service's 150 ms reaction window.
func TestReactionTimesAreHuman(t *testing.T) {
	cfg := Config{Seed: 1, Reaction: 250 * time.Millisecond}
	moves := firstMoves(cfg, 20000, 0)
	var sum time.Duration
	for _, m := range moves {
		sum += m
	}
	mean := sum / time.Duration(len(moves))
	slices.Sort(moves)
	median := moves[len(moves)/2]
	if mean < 240*time.Millisecond || mean > 260*time.Millisecond {
		t.Errorf("mean reaction %v, want about 250ms", mean)
	}
	if median >= mean {
		t.Errorf("median %v not below the mean %v: no tail of slow reactions", median, mean)
	}
	if moves[0] < 0 {
		t.Errorf("a reaction of %v", moves[0])
	}
	if fast := shareBelow(moves, 150*time.Millisecond); fast == 0 || fast > 0.02 {
		t.Errorf("%.2f %% react within 150 ms, want a thin tail, above 0 and at most 2 %%", 100*fast)
	}
}

// Without a reaction time or guessers, the moment a person turns to the
// button is drawn from the person's generator exactly as before, so that
// a seed repeats the runs published without them.
func TestWithoutAReactionTheMomentIsDrawnAsBefore(t *testing.T) {
	cfg := Config{Seed: 7}
	window := 2 * time.Second
	for i, move := range firstMoves(cfg, 100, window) {
		before := mathrand.New(mathrand.NewPCG(cfg.Seed, uint64(i)+1))
		if want := time.Duration(before.Int64N(int64(window) + 1)); move != want {
			t.Fatalf("person %d moves at %v, drawn before as %v", i, move, want)
		}
	}
}

// Guessers press around the start, never before it (the page's button is
// not alive yet, and sends nothing): those who guessed early react to
// the button instead. About 43 % of them land within 150 ms, where the
// service cannot tell them from a script.
func TestGuessersLandAroundTheStart(t *testing.T) {
	cfg := Config{Seed: 1, Reaction: 250 * time.Millisecond, Guessers: 1}
	moves := firstMoves(cfg, 20000, 2*time.Second)
	if slices.Min(moves) < 0 {
		t.Errorf("a guesser pressed %v before the start", -slices.Min(moves))
	}
	if fast := shareBelow(moves, 150*time.Millisecond); fast < 0.40 || fast > 0.47 {
		t.Errorf("%.1f %% of guessers within 150 ms, want about 43 %% (a guess in [0, 1.5 sd) or a rare fast reaction)", 100*fast)
	}
	if late := 1 - shareBelow(moves, time.Second); late > 0.001 {
		t.Errorf("%.2f %% of guessers pressed a second late: they watch the countdown, not the crowd's window", 100*late)
	}
}

// People who react to the button are not asked a challenge under
// suspicious: their presses come after the reaction window; the bots,
// pressing at the start, are.
func TestPeopleWhoReactAreNotChallenged(t *testing.T) {
	server := startFake(t, &fakeService{})
	cfg := smallBots(server.URL)
	cfg.Challenge, cfg.Jitter = ChallengeSuspicious, 0
	// A second, give or take a tenth: no draw comes near 150 ms.
	cfg.Reaction = time.Second
	report := mustRun(t, cfg)
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	c := report.Challenges
	if c.Challenged.People != 0 || c.Answered.People == 0 {
		t.Errorf("challenges %+v: people reacting in about a second were challenged", c)
	}
	if c.Challenged.Bots == 0 {
		t.Errorf("challenges %+v: no bot was challenged", c)
	}
	if got := report.Settings["reaction"]; got != "1s" {
		t.Errorf("report's reaction setting %v, want 1s", got)
	}
}
