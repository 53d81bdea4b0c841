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
// suspicious policy only a request the risk signals flag is asked: here,
// one sent within a person's reaction time of opened (the start, or the
// opening of the waiting room for a join).
func (s *Service) challenged(ctx context.Context, sale *flashsale.Sale, userID, solution string, opened time.Time) error {
	c := sale.Challenge
	if c == nil || c.Policy == flashsale.ChallengeOff {
		return nil
	}
	now := s.now()
	if c.Policy == flashsale.ChallengeSuspicious && now.Sub(opened) >= reactionTime {
		return nil
	}
	if solution != "" {
		if id, expires, ok := s.challenges.Check(solution, sale.ID, userID, now); ok {
			first, err := s.once.UseOnce(ctx, id, expires.Sub(now))
			if err != nil {
				return err
			}
			if first {
				return nil
			}
		}
	}
	fresh, err := s.challenges.Issue(sale.ID, userID, c.MaxNumber, now.Add(challengeLifetime))
	if err != nil {
		return err
	}
	return flashsale.ChallengeRequired(fresh)
}
