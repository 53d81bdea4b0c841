package ratelimit

import (
	"context"
	"sync/atomic"
)

// Fallback is a limiter shared by a fleet (in Redis) with this process's
// own to decide when the shared one cannot answer: while Redis is away a
// fleet of N instances admits up to N times the shared limit, rather
// than everybody. Its decisions are counted, so that an operator sees
// the limits went local.
type Fallback struct {
	shared, local Limiter
	fellBack      atomic.Int64
}

// WithFallback returns a limiter that asks shared and, when it fails,
// local.
func WithFallback(shared, local Limiter) *Fallback {
	return &Fallback{shared: shared, local: local}
}

// Allow asks the shared limiter, and the local one when it fails.
func (f *Fallback) Allow(ctx context.Context, key string, p Policy) (Decision, error) {
	d, err := f.shared.Allow(ctx, key, p)
	if err == nil {
		return d, nil
	}
	f.fellBack.Add(1)
	return f.local.Allow(ctx, key, p)
}

// FellBack is how many decisions the local limiter made.
func (f *Fallback) FellBack() int64 { return f.fellBack.Load() }
