package loadtest

import "time"

// When a person first uses a button that comes alive at a moment (Buy at
// the start, Join at the line's opening, Enter at entries_open): the
// crowd turns to it spread over a window, and each person then takes a
// reaction time of their own to press, which a script does not (the
// service's risk score reads exactly that: API.md, "Challenges"). Some
// people do not react but guess: they watch the countdown and time the
// press to its end.

// guessSpread is the spread (a standard deviation) of a guesser's press
// around the moment: people time an interval with an error of about a
// tenth of it (the scalar property of interval timing), and the
// countdown's last interval is a second.
const guessSpread = 100 * time.Millisecond

// firstMove is how long after its button comes alive person u first
// presses it, for a crowd that turns to it over window. Without a
// reaction time or guessers configured it is the moment alone, drawn as
// before, so that a seed repeats the runs made without them.
func (r *run) firstMove(u *simUser, window time.Duration) time.Duration {
	if r.cfg.Guessers > 0 && u.rng.Float64() < r.cfg.Guessers {
		guess := time.Duration(u.rng.NormFloat64() * float64(guessSpread))
		if guess >= 0 {
			return guess
		}
		// Pressed before the button came alive, as the page shows it
		// (it sends nothing then): the guesser sees it come alive and
		// reacts.
		return r.reaction(u)
	}
	return time.Duration(u.rng.Int64N(int64(window)+1)) + r.reaction(u)
}

// reaction is a draw of u's reaction time: an ex-Gaussian, the usual fit
// of human simple reaction times (a normal part, the perception and the
// motion, plus an exponential tail, the attention), of mean
// Config.Reaction with a tail of a fifth of it and a spread of a tenth:
// at 250 ms, 200 ms ± 25 ms plus a tail of mean 50 ms, as measured of
// adults pressing a key at a light. Zero when no reaction is configured.
func (r *run) reaction(u *simUser) time.Duration {
	mean := r.cfg.Reaction
	if mean <= 0 {
		return 0
	}
	tail := float64(mean) / 5
	normal := float64(mean) - tail + u.rng.NormFloat64()*float64(mean)/10
	return max(time.Duration(normal+u.rng.ExpFloat64()*tail), 0)
}
