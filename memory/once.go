package memory

import (
	"context"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// OnceLedger is the flashsale.OnceLedger of one process. It forgets an id
// once its time is up, sweeping at most once a second, so it holds no more
// than the ids of the last validity period.
type OnceLedger struct {
	mu    sync.Mutex
	used  map[string]time.Time
	swept time.Time
}

var _ flashsale.OnceLedger = (*OnceLedger)(nil)

// NewOnceLedger returns an empty ledger.
func NewOnceLedger() *OnceLedger {
	return &OnceLedger{used: map[string]time.Time{}}
}

// UseOnce records id for keep and reports whether it was new.
func (l *OnceLedger) UseOnce(_ context.Context, id string, keep time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.swept) >= time.Second {
		l.swept = now
		for used, end := range l.used {
			if !now.Before(end) {
				delete(l.used, used)
			}
		}
	}
	if end, ok := l.used[id]; ok && now.Before(end) {
		return false, nil
	}
	l.used[id] = now.Add(keep)
	return true, nil
}
