package checkout

import (
	"context"
	"time"

	"github.com/flashsale/flashsale"
)

// Challenges issues and checks proof-of-work challenges
// (challenge.Issuer).
type Challenges interface {
	Issue(saleID, userID string, maxNumber int64, expires time.Time) (flashsale.Challenge, error)
	// Check returns the solved challenge's id and expiry, or false.
	Check(solution, saleID, userID string, now time.Time) (string, time.Time, bool)
}

// challengeLifetime is how long a challenge may take to solve and send,
// as long as Cloudflare Turnstile gives its tokens.
const challengeLifetime = 5 * time.Minute

// reactionTime is how soon after a button comes alive a person can press
// it: a press sooner is a machine's, or a guess's.
const reactionTime = 150 * time.Millisecond

// challenged refuses a request of a sale that asks for a challenge, unless
// it carries a solution of one issued to the user for the sale, unexpired
// and not used before; the refusal carries a fresh challenge. Under the
// suspicious policy only a request whose risk score (risk.go) reaches
// challengeAt is asked; a higher score, and a higher load, ask a harder
// challenge.
func (s *Service) challenged(ctx context.Context, sale *flashsale.Sale, who requester, opened time.Time, solution string) error {
	c := sale.Challenge
	if c == nil || c.Policy == flashsale.ChallengeOff {
		return nil // before any clock read: a sale without challenges pays nothing
	}
	p := press{requester: who, at: s.now(), opened: opened}
	sr := s.risks.sale(sale.ID)
	score, load := sr.score(p)
	raise := 0
	if c.Policy == flashsale.ChallengeSuspicious {
		if score < challengeAt {
			return nil
		}
		raise = score - challengeAt
	}
	if solution != "" {
		if id, expires, ok := s.challenges.Check(solution, sale.ID, p.userID, p.at); ok {
			first, err := s.once.UseOnce(ctx, id, expires.Sub(p.at))
			if err != nil {
				return err
			}
			if first {
				sr.count(&sr.solved)
				return nil
			}
		}
		sr.count(&sr.failed)
	}
	fresh, err := s.challenges.Issue(sale.ID, p.userID, difficulty(c.MaxNumber, raise, load), p.at.Add(challengeLifetime))
	if err != nil {
		return err
	}
	sr.count(&sr.challenged)
	return flashsale.ChallengeRequired(fresh)
}

// Fairness reports a sale's challenges and shared devices, as this
// instance saw them.
func (s *Service) Fairness(ctx context.Context, saleID string) (FairnessReport, error) {
	if _, err := s.Sale(ctx, saleID); err != nil {
		return FairnessReport{}, err
	}
	return s.risks.sale(saleID).report(), nil
}
