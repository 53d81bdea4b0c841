package checkout

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

// Each signal raises the score on its own, by its weight; a press with
// none scores nothing.
func TestRiskSignals(t *testing.T) {
	start := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	calm := func(user string, at time.Time) press {
		return press{requester: requester{userID: user}, at: at, opened: start, reaction: DefaultReactionTime}
	}
	t.Run("none", func(t *testing.T) {
		if got := scoreOf((&risks{}).sale("s"), calm("ann", start.Add(2*time.Second))); got != 0 {
			t.Fatalf("a calm press scores %d", got)
		}
	})
	t.Run("reaction", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		if got := scoreOf(sr, calm("bot", start.Add(DefaultReactionTime-time.Millisecond))); got != scoreReaction {
			t.Fatalf("a press %s after the start scores %d, want %d", DefaultReactionTime-time.Millisecond, got, scoreReaction)
		}
		if got := scoreOf(sr, calm("ann", start.Add(DefaultReactionTime))); got != 0 {
			t.Fatalf("a press at reaction time scores %d", got)
		}
	})
	t.Run("reaction sooner", func(t *testing.T) {
		// One point more each time the press comes in half the time,
		// and never fewer for a sooner press.
		for _, c := range []struct {
			since time.Duration
			want  int
		}{
			{DefaultReactionTime / 2, scoreReaction}, {DefaultReactionTime/2 - 1, scoreReaction + 1},
			{DefaultReactionTime / 4, scoreReaction + 1}, {DefaultReactionTime/4 - 1, scoreReaction + 2},
			{time.Millisecond, scoreReaction + reactionHalvings}, {0, scoreReaction + reactionHalvings},
			{-time.Second, scoreReaction + reactionHalvings},
		} {
			sr := (&risks{}).sale("s")
			if got := scoreOf(sr, calm("bot", start.Add(c.since))); got != c.want {
				t.Errorf("a press %s after the start scores %d, want %d", c.since, got, c.want)
			}
		}
		last := 0
		for since := DefaultReactionTime; since >= -time.Millisecond; since -= 100 * time.Microsecond {
			got := reactionScore(since, DefaultReactionTime)
			if got < last {
				t.Fatalf("a press %s after the start scores %d, below the %d of a later one", since, got, last)
			}
			last = got
		}
	})
	t.Run("reaction from the page", func(t *testing.T) {
		// The button comes alive for a shopper at the later of the start
		// and the shopper's first fetch of the page.
		sr := (&risks{}).sale("s")
		opened := start.Add(10 * time.Second)
		sr.sawPage("late", opened)
		sr.sawPage("late", opened.Add(time.Minute)) // only the first fetch counts
		sr.sawPage("ready", start.Add(-time.Minute))
		for _, c := range []struct {
			user string
			at   time.Time
			want int
		}{
			{"late", opened.Add(100 * time.Millisecond), scoreReaction},
			{"late", opened.Add(DefaultReactionTime), 0},
			{"ready", start.Add(100 * time.Millisecond), scoreReaction},
			{"ready", start.Add(DefaultReactionTime), 0},
			{"never", opened.Add(100 * time.Millisecond), 0},
		} {
			if got := scoreOf(sr, calm(c.user, c.at)); got != c.want {
				t.Errorf("%s pressing %s after the start: %d, want %d", c.user, c.at.Sub(start), got, c.want)
			}
		}
	})
	t.Run("reaction time set", func(t *testing.T) {
		p := calm("slowpoke", start.Add(200*time.Millisecond))
		p.reaction = 300 * time.Millisecond
		if got := scoreOf((&risks{}).sale("s"), p); got != scoreReaction {
			t.Errorf("a press 200 ms after the start with a reaction time of 300 ms: %d, want %d", got, scoreReaction)
		}
	})
	t.Run("early", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		for range earlyPresses {
			sr.pressedEarly("eager")
		}
		sr.pressedEarly("once")
		if got := scoreOf(sr, calm("eager", start.Add(time.Minute))); got != scoreEarly {
			t.Fatalf("after %d presses before the start: %d, want %d", earlyPresses, got, scoreEarly)
		}
		if got := scoreOf(sr, calm("once", start.Add(time.Minute))); got != 0 {
			t.Fatalf("after one press before the start: %d", got)
		}
	})
	t.Run("device", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		for i := range deviceAccounts {
			p := calm(fmt.Sprintf("farm-%d", i), start.Add(time.Duration(i+1)*time.Minute))
			p.device = "phone-1"
			want := 0
			if i+1 >= deviceAccounts {
				want = scoreDevice
			}
			if got := scoreOf(sr, p); got != want {
				t.Fatalf("account %d on one device: %d, want %d", i+1, got, want)
			}
		}
		if d := sr.report().SharedDevices; len(d) != 1 || d[0] != (SharedDevice{"phone-1", deviceAccounts}) {
			t.Fatalf("shared devices %v", d)
		}
	})
	t.Run("ip", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		ip := netip.MustParseAddr("203.0.113.7")
		var got int
		for i := range ipAccounts {
			p := calm(fmt.Sprintf("user-%d", i), start.Add(time.Duration(i+1)*time.Minute))
			p.ip = ip
			got = scoreOf(sr, p)
		}
		if got != scoreIP {
			t.Fatalf("the %dth account behind one IP: %d, want %d", ipAccounts, got, scoreIP)
		}
	})
	t.Run("rhythm", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		var got int
		for i := range rhythmKept {
			got = scoreOf(sr, calm("metronome", start.Add(time.Minute+time.Duration(i)*500*time.Millisecond)))
		}
		if got != scoreRhythm {
			t.Fatalf("presses every 500 ms: %d, want %d", got, scoreRhythm)
		}
		for i, gap := range []time.Duration{0, 700, 1900, 400, 2600} {
			got = scoreOf(sr, calm("person", start.Add(time.Minute+time.Duration(i)*time.Second+gap*time.Millisecond)))
		}
		if got != 0 {
			t.Fatalf("a person's uneven presses: %d", got)
		}
	})
	t.Run("card", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		for i := range cardAccounts {
			sr.paidWith(fmt.Sprintf("farm-%d", i), "fp_farm")
		}
		sr.paidWith("ann", "fp_ann")
		if got := scoreOf(sr, calm("farm-0", start.Add(time.Minute))); got != scoreCard {
			t.Fatalf("an account whose card %d accounts paid with: %d, want %d", cardAccounts, got, scoreCard)
		}
		if got := scoreOf(sr, calm("ann", start.Add(time.Minute))); got != 0 {
			t.Fatalf("an account with a card of its own: %d", got)
		}
	})
}

func scoreOf(sr *saleRisk, p press) int {
	score, _ := sr.score(p)
	return score
}

// The load a press is priced at is the presses of the second up to it,
// at this instance, sliding: the first second of a rush is priced as it
// happens, and a rush fades from the price over the second after it.
func TestRiskLoad(t *testing.T) {
	sr := (&risks{}).sale("s")
	at := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	loadAt := func(user string, d time.Duration) int64 {
		_, load := sr.score(press{requester: requester{userID: user}, at: at.Add(d)})
		return load
	}
	for i := range 1499 {
		loadAt(fmt.Sprint(i), time.Duration(i)*time.Microsecond)
	}
	if load := loadAt("1500th", 1500*time.Microsecond); load != 1500 {
		t.Fatalf("load at the 1500th press of a second's first 2 ms: %d, want 1500", load)
	}
	if load := loadAt("next", time.Second); load != 1+1500 {
		t.Fatalf("load at the start of the next second: %d, want 1501", load)
	}
	if load := loadAt("later", 1750*time.Millisecond); load != 2+375 {
		t.Fatalf("load three quarters into the next second: %d, want 377 (a quarter of the rush)", load)
	}
	if load := loadAt("quiet", 3*time.Second); load != 1 {
		t.Fatalf("load after a quiet second: %d, want 1", load)
	}
}

// Each point of risk over the threshold and each tenfold of load from
// the floor doubles the work, the load at most loadSteps times, all under
// the ceiling.
func TestDifficulty(t *testing.T) {
	for _, tc := range []struct {
		raise int
		load  int64
		want  int64
	}{
		{0, 0, 1000},
		{0, loadFloor - 1, 1000},
		{0, loadFloor, 2000},
		{0, 10 * loadFloor, 4000},
		{0, 1000 * loadFloor, 8000},
		{0, 1_000_000 * loadFloor, 8000},
		{2, 0, 4000},
		{2, 10 * loadFloor, 16000},
	} {
		if got := difficulty(1000, tc.raise, tc.load); got != tc.want {
			t.Errorf("difficulty(1000, %d, %d) = %d, want %d", tc.raise, tc.load, got, tc.want)
		}
	}
	if got := difficulty(flashsale.DefaultChallengeNumber, 30, 1_000_000*loadFloor); got != flashsale.MaxChallengeNumber {
		t.Errorf("the hardest challenge: %d, want the ceiling %d", got, flashsale.MaxChallengeNumber)
	}
}
