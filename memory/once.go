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
	mu    sync.Mutex
	held  map[string]claim // ids used (no owner) or claimed
	swept time.Time
}

// claim is an id's holder until end: an owner, or none for an id used
// once (Claim refuses an empty owner, and callers keep the two kinds of
// ids apart).
type claim struct {
	owner string
	end   time.Time
}

var _ flashsale.OnceLedger = (*OnceLedger)(nil)

// NewOnceLedger returns an empty ledger.
func NewOnceLedger() *OnceLedger {
	return &OnceLedger{held: map[string]claim{}}
}

// UseOnce records id for keep and reports whether it was new.
func (l *OnceLedger) UseOnce(_ context.Context, id string, keep time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, held := l.hold(id, "", keep)
	return !held, nil
}

// Claim gives id to owner for keep unless another holds it, and returns
// the holder.
func (l *OnceLedger) Claim(_ context.Context, id, owner string, keep time.Duration) (string, error) {
	if owner == "" {
		return "", errors.New("memory: a claim needs an owner")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	holder, _ := l.hold(id, owner, keep)
	return holder, nil
}

// hold gives id to owner for keep unless it is held, and returns its
// holder and whether it was held before. It forgets the ids whose time is
// up, at most once a second. l.mu is held.
func (l *OnceLedger) hold(id, owner string, keep time.Duration) (holder string, before bool) {
	now := time.Now()
	if now.Sub(l.swept) >= time.Second {
		l.swept = now
		for id, c := range l.held {
			if !now.Before(c.end) {
				delete(l.held, id)
			}
		}
	}
	if c, ok := l.held[id]; ok && now.Before(c.end) {
		return c.owner, true
	}
	l.held[id] = claim{owner: owner, end: now.Add(keep)}
	return owner, false
}
