package flashsale

import (
	"context"
	"time"
)

// ChallengePolicy says which requests of a sale must carry a solved
// proof-of-work challenge (API.md, "Challenges").
type ChallengePolicy string

const (
	ChallengeOff ChallengePolicy = "off"
	// ChallengeSuspicious challenges the requests the risk signals flag.
	ChallengeSuspicious ChallengePolicy = "suspicious"
	// ChallengeAlways challenges every place-order and queue join.
	ChallengeAlways ChallengePolicy = "always"
)

// ChallengeConfig is a sale's "challenge" object.
type ChallengeConfig struct {
	Policy ChallengePolicy
	// MaxNumber is the base difficulty: the solver searches [0, MaxNumber].
	MaxNumber int64
	// Pace, when set, is the hashes a second of the device every solver
	// is held to (a phone's browser): a solution is accepted no sooner
	// than that device's mean time to solve after its challenge was
	// issued (ChallengeWait), so that native code, many cores or a GPU
	// buy no time over it. Zero: a solution counts as soon as it comes.
	Pace int64
}

// ChallengeWait is how long after it was issued a solution of a challenge
// of maxNumber is accepted at pace (ChallengeConfig.Pace): the mean time
// the reference device takes, half the range at pace. Not the time the
// challenge's own number would take: a solver that asked for many
// challenges would keep the one with the smallest.
func ChallengeWait(maxNumber, pace int64) time.Duration {
	if pace <= 0 {
		return 0
	}
	return time.Duration(float64(maxNumber) / 2 / float64(pace) * float64(time.Second))
}

// The bounds of a challenge's difficulty: below the floor a challenge
// costs a bot nothing; above the ceiling a phone takes minutes.
const (
	MinChallengeNumber     = 1_000
	MaxChallengeNumber     = 10_000_000
	DefaultChallengeNumber = 100_000
	// The bounds of a pace: from a very slow phone's browser to a GPU's.
	MinChallengePace = 1_000
	MaxChallengePace = 10_000_000_000
)

// Validate refuses a configuration no sale could run.
func (c ChallengeConfig) Validate() error {
	switch {
	case c.Policy != ChallengeOff && c.Policy != ChallengeSuspicious && c.Policy != ChallengeAlways:
		return InvalidField("challenge.policy", "must be %q, %q or %q", ChallengeOff, ChallengeSuspicious, ChallengeAlways)
	case c.MaxNumber < MinChallengeNumber || c.MaxNumber > MaxChallengeNumber:
		return InvalidField("challenge.max_number", "must be from %d to %d", MinChallengeNumber, MaxChallengeNumber)
	case c.Pace != 0 && (c.Pace < MinChallengePace || c.Pace > MaxChallengePace):
		return InvalidField("challenge.pace", "must be 0 (unpaced) or from %d to %d hashes a second", MinChallengePace, MaxChallengePace)
	}
	return nil
}

// Challenge is a proof-of-work challenge in ALTCHA's format, so that its
// widget and libraries solve it: find number in [0, MaxNumber] such that
// the hex SHA-256 of Salt followed by the decimal number is Challenge.
// Signature binds it to the service that issued it.
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	MaxNumber int64  `json:"maxnumber"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// SolvedChallenge is what a good solution's challenge allows: ID, the
// challenge, identifies it for spending it once; it may be used from
// NotBefore (the zero time: at once) until Expires.
type SolvedChallenge struct {
	ID                 string
	NotBefore, Expires time.Time
}

// OnceLedger remembers what may be used once, or held by one owner,
// across a fleet: a solved challenge is spent by the first request that
// shows it; a payment card holds one place in a waiting room's line.
//
// Implementations: memory (one process) and redis (a fleet). Both pass
// challenge/challengetest.Run.
type OnceLedger interface {
	// UseOnce records id as used for the next keep, and reports whether
	// this call was the first to use it. After keep the id may be
	// forgotten: callers refuse what expired before asking. A duration,
	// not an instant, so that the ledger's clock need not be the caller's.
	UseOnce(ctx context.Context, id string, keep time.Duration) (bool, error)
	// Claim gives id to owner for the next keep unless someone holds it
	// already, and returns who holds it after the call: owner when this
	// call gave it, or when owner held it before; the other owner when
	// another did. A claim is decided once, atomically across the fleet:
	// of any number of concurrent claims of one free id, exactly one
	// wins and every caller is told the same holder. Claiming again what
	// one holds neither fails nor extends the keep. After keep the id
	// may be forgotten and claimed anew, so keep should outlast the use
	// it guards. An empty owner is refused with an error. Claim and
	// UseOnce must not be given the same ids: callers keep them apart
	// with prefixes.
	Claim(ctx context.Context, id, owner string, keep time.Duration) (holder string, err error)
}

// ChallengeRequired refuses a request that must carry a solved challenge
// and does not carry a valid, unused one; fresh is the challenge to solve.
func ChallengeRequired(fresh Challenge) *Error {
	e := Errorf(EChallengeRequired, "solve the challenge and send the solution in the Flashsale-Challenge header (base64 of its JSON, as ALTCHA's widget sends it)")
	e.Challenge = &fresh
	return e
}

// ReasonChallengeEarly is the reason of a rate_limited answer to a
// solution sent before its paced challenge allows.
const ReasonChallengeEarly = "challenge_early"

// ChallengeEarly refuses a solution of a paced sale's challenge sent
// before its challenge's notbefore: good, and left unspent, to be sent
// again after wait.
func ChallengeEarly(wait time.Duration) *Error {
	// Whole milliseconds, rounded up: retry_after_ms must not send the
	// solution back a fraction too soon.
	wait = (wait + time.Millisecond - 1).Truncate(time.Millisecond)
	e := Errorf(ERateLimited, "the solution came before the challenge allows (its salt's notbefore): send it again in %d ms", wait.Milliseconds())
	e.Reason = ReasonChallengeEarly
	e.RetryAfter = wait
	return e
}
