package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
)

// OnceLedger is the flashsale.OnceLedger of a fleet: one key per id, set
// only if absent (SET NX) and expiring with the id, so the first instance
// to use or claim an id wins and Redis forgets it on its own. A claimed
// id's key holds its owner.
type OnceLedger struct {
	client rueidis.Client
	prefix string
}

var _ flashsale.OnceLedger = (*OnceLedger)(nil)

// NewOnceLedger returns the ledger kept under "P:once:".
func NewOnceLedger(client rueidis.Client, prefix string) *OnceLedger {
	if strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("redis: key prefix %q contains a brace", prefix))
	}
	return &OnceLedger{client: client, prefix: prefix + ":once:"}
}

// UseOnce records id for keep and reports whether it was new.
func (l *OnceLedger) UseOnce(ctx context.Context, id string, keep time.Duration) (bool, error) {
	// At least a millisecond: PX refuses zero.
	set := l.client.B().Set().Key(l.prefix + id).Value("1").Nx().Px(max(keep, time.Millisecond)).Build()
	err := l.client.Do(ctx, set).Error()
	switch {
	case rueidis.IsRedisNil(err):
		return false, nil // set before: used
	case err != nil:
		return false, failure("use once", err)
	}
	return true, nil
}

// Claim gives id to owner for keep unless another holds it, and returns
// the holder: one SET NX GET (Redis 7.0+), which sets the key only if it
// is absent and answers its value before the call, nil when there was
// none, in the same atomic step.
func (l *OnceLedger) Claim(ctx context.Context, id, owner string, keep time.Duration) (string, error) {
	if owner == "" {
		return "", errors.New("redis: a claim needs an owner")
	}
	set := l.client.B().Set().Key(l.prefix + id).Value(owner).Nx().Get().Px(max(keep, time.Millisecond)).Build()
	holder, err := l.client.Do(ctx, set).ToString()
	switch {
	case rueidis.IsRedisNil(err):
		return owner, nil // absent before: this call set it
	case err != nil:
		return "", failure("claim", err)
	}
	return holder, nil
}
