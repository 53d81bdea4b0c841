package checkout

import (
	"context"
	"time"

	"github.com/flashsale/flashsale"
)

// Challenges issues and checks proof-of-work challenges
// (challenge.Issuer).
type Challenges interface {
	Issue(saleID, userID string, maxNumber int64, notBefore, expires time.Time) (flashsale.Challenge, error)
	// Check returns what a good solution's challenge allows, or false.
	Check(solution, saleID, userID string, now time.Time) (flashsale.SolvedChallenge, bool)
}

// challengeLifetime is how long a challenge may take to solve and send
// after it may first be used, as long as Cloudflare Turnstile gives its
// tokens.
const challengeLifetime = 5 * time.Minute

// DefaultReactionTime is how soon after a button comes alive a person can
// press it: a press sooner is a machine's, or a guess's
// (Config.ReactionTime).
const DefaultReactionTime = 150 * time.Millisecond

// challenged refuses a request of a sale that asks for a challenge, unless
// it carries a solution of one issued to the user for the sale, unexpired
// and not used before; the refusal carries a fresh challenge. A paced
// sale's challenge is good no sooner than the reference device's mean
// time to solve it (flashsale.ChallengeWait): a solution sent before is
// refused as early and stays unspent. Under the
// suspicious policy only a request whose risk score (risk.go) reaches
// challengeAt is asked; a higher score, and a higher load, ask a harder
// challenge. A challenge asked stays asked: an account that was
// challenged owes the hardest challenge it was given until it solves one,
// so that a script refused at the start cannot wait out the reaction time
// and press again unchallenged. A solution is checked and counted
// whenever one comes, asked or not: the operators' view would otherwise
// show a challenge as never solved.
func (s *Service) challenged(ctx context.Context, sale *flashsale.Sale, who requester, opened time.Time, solution string) error {
	c := sale.Challenge
	if c == nil || c.Policy == flashsale.ChallengeOff {
		return nil // before any clock read: a sale without challenges pays nothing
	}
	p := press{requester: who, at: s.now(), opened: opened, reaction: s.reactionTime}
	sr := s.risks.sale(sale.ID)
	score, load := sr.score(p)
	// Under always every request is asked anyway: only a score can
	// drop, so only the suspicious policy keeps what is owed.
	suspicious := c.Policy == flashsale.ChallengeSuspicious
	raise := 0
	if suspicious {
		raise = score - challengeAt
		if owed, ok := sr.owes(p.userID); ok {
			raise = max(raise, owed)
		}
	}
	if solution != "" {
		solved, err := s.spendSolution(ctx, sr, solution, sale.ID, p, raise >= 0)
		if err != nil || solved {
			return err
		}
	}
	if raise < 0 {
		return nil
	}
	maxNumber := difficulty(c.MaxNumber, raise, load)
	var notBefore time.Time
	expires := p.at.Add(challengeLifetime)
	if c.Pace > 0 {
		notBefore = p.at.Add(flashsale.ChallengeWait(maxNumber, c.Pace))
		expires = notBefore.Add(challengeLifetime)
	}
	fresh, err := s.challenges.Issue(sale.ID, p.userID, maxNumber, notBefore, expires)
	if err != nil {
		return err
	}
	if suspicious {
		sr.owe(p.userID, raise)
	}
	sr.count(&sr.challenged)
	return flashsale.ChallengeRequired(fresh)
}

// SawSalePage records that a shopper fetched the sale's page, signed in,
// now: a button on it comes alive for that shopper no sooner than this,
// so the risk score's reaction time counts from the later of this first
// fetch and the button's own opening (the start, the line's opening,
// entries_open). Only a sale that scores risk keeps it, and only the
// first fetch counts: the page a shopper has open from before the start
// shows the button coming alive at the start. who names the shopper (ok
// false: nobody signed in); it is asked only for a sale that scores
// risk, so that other sales' pages pay nothing for it.
func (s *Service) SawSalePage(ctx context.Context, saleID string, who func() (userID string, ok bool)) {
	sale, err := s.Sale(ctx, saleID)
	if err != nil || !scoresRisk(sale) {
		return
	}
	if userID, ok := who(); ok {
		s.risks.sale(saleID).sawPage(userID, s.now())
	}
}

// spendSolution reports whether solution solves a challenge issued to the
// presser for the sale, unexpired and not used before, and uses it up;
// it counts the solution solved or failed, and a solved one settles what
// the presser owed. A solution sent before its challenge's notbefore is
// counted early and left unspent: a request that needs one is refused
// until then, one that does not goes through without it.
func (s *Service) spendSolution(ctx context.Context, sr *saleRisk, solution, saleID string, p press, needed bool) (bool, error) {
	if checked, ok := s.challenges.Check(solution, saleID, p.userID, p.at); ok {
		if p.at.Before(checked.NotBefore) {
			sr.count(&sr.earlySolutions)
			if !needed {
				return false, nil
			}
			return false, flashsale.ChallengeEarly(checked.NotBefore.Sub(p.at))
		}
		first, err := s.once.UseOnce(ctx, checked.ID, checked.Expires.Sub(p.at))
		if err != nil {
			return false, err
		}
		if first {
			sr.solvedBy(p.userID)
			return true, nil
		}
	}
	sr.count(&sr.failed)
	return false, nil
}

// Fairness reports a sale's challenges and shared devices, as this
// instance saw them.
func (s *Service) Fairness(ctx context.Context, saleID string) (FairnessReport, error) {
	if _, err := s.Sale(ctx, saleID); err != nil {
		return FairnessReport{}, err
	}
	return s.risks.sale(saleID).report(), nil
}
