package checkout

import "context"

// FollowUp is one round of RunFollower, for tests that must not wait for
// its ticker.
func (s *Service) FollowUp(ctx context.Context) error { return s.followUp(ctx) }
