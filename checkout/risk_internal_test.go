package checkout

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Each signal raises the score on its own, by its weight; a press with
// none scores nothing.
func TestRiskSignals(t *testing.T) {
	start := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	calm := func(user string, at time.Time) press {
		return press{requester: requester{userID: user}, at: at, opened: start}
	}
	t.Run("none", func(t *testing.T) {
		if got := (&risks{}).sale("s").score(calm("ann", start.Add(2*time.Second))); got != 0 {
			t.Fatalf("a calm press scores %d", got)
		}
	})
	t.Run("reaction", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		if got := sr.score(calm("bot", start.Add(reactionTime-time.Millisecond))); got != scoreReaction {
			t.Fatalf("a press %s after the start scores %d, want %d", reactionTime-time.Millisecond, got, scoreReaction)
		}
		if got := sr.score(calm("ann", start.Add(reactionTime))); got != 0 {
			t.Fatalf("a press at reaction time scores %d", got)
		}
	})
	t.Run("early", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		for range earlyPresses {
			sr.pressedEarly("eager")
		}
		sr.pressedEarly("once")
		if got := sr.score(calm("eager", start.Add(time.Minute))); got != scoreEarly {
			t.Fatalf("after %d presses before the start: %d, want %d", earlyPresses, got, scoreEarly)
		}
		if got := sr.score(calm("once", start.Add(time.Minute))); got != 0 {
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
			if got := sr.score(p); got != want {
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
			got = sr.score(p)
		}
		if got != scoreIP {
			t.Fatalf("the %dth account behind one IP: %d, want %d", ipAccounts, got, scoreIP)
		}
	})
	t.Run("rhythm", func(t *testing.T) {
		sr := (&risks{}).sale("s")
		var got int
		for i := range rhythmKept {
			got = sr.score(calm("metronome", start.Add(time.Minute+time.Duration(i)*500*time.Millisecond)))
		}
		if got != scoreRhythm {
			t.Fatalf("presses every 500 ms: %d, want %d", got, scoreRhythm)
		}
		for i, gap := range []time.Duration{0, 700, 1900, 400, 2600} {
			got = sr.score(calm("person", start.Add(time.Minute+time.Duration(i)*time.Second+gap*time.Millisecond)))
		}
		if got != 0 {
			t.Fatalf("a person's uneven presses: %d", got)
		}
	})
}
