package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// OnceLedger is the flashsale.OnceLedger of one process. It forgets an id
// once its time is up, sweeping at most once a second, so it holds no more
// than the ids of the last validity period.
type OnceLedger struct {
	mu     sync.Mutex
	used   map[string]time.Time
	claims map[string]claim
	swept  time.Time
}

// claim is an id's holder until end.
type claim struct {
	owner string
	end   time.Time
}

var _ flashsale.OnceLedger = (*OnceLedger)(nil)

// NewOnceLedger returns an empty ledger.
func NewOnceLedger() *OnceLedger {
	return &OnceLedger{used: map[string]time.Time{}, claims: map[string]claim{}}
}

// UseOnce records id for keep and reports whether it was new.
func (l *OnceLedger) UseOnce(_ context.Context, id string, keep time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.sweep()
	if end, ok := l.used[id]; ok && now.Before(end) {
		return false, nil
	}
	l.used[id] = now.Add(keep)
	return true, nil
}

// Claim gives id to owner for keep unless another holds it, and returns
// the holder.
func (l *OnceLedger) Claim(_ context.Context, id, owner string, keep time.Duration) (string, error) {
	if owner == "" {
		return "", errors.New("memory: a claim needs an owner")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.sweep()
	if c, ok := l.claims[id]; ok && now.Before(c.end) {
		return c.owner, nil
	}
	l.claims[id] = claim{owner: owner, end: now.Add(keep)}
	return owner, nil
}

// sweep forgets the ids whose time is up, at most once a second, and
// returns the time now. l.mu is held.
func (l *OnceLedger) sweep() time.Time {
	now := time.Now()
	if now.Sub(l.swept) < time.Second {
		return now
	}
	l.swept = now
	for id, end := range l.used {
		if !now.Before(end) {
			delete(l.used, id)
		}
	}
	for id, c := range l.claims {
		if !now.Before(c.end) {
			delete(l.claims, id)
		}
	}
	return now
}
