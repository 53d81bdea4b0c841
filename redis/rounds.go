package redis

import (
	"context"
	"sync"
	"time"
)

// rounds runs a function for many callers at once: a caller waits for the
// next round that starts after it asked, joining the callers that asked
// while the previous round ran. Rounds run one at a time, each with a
// context of its own, so one caller giving up does not fail the others.
type rounds struct {
	mu      sync.Mutex
	running bool
	next    *round
}

type round struct {
	done chan struct{}
	err  error
}

func (r *rounds) do(ctx context.Context, fn func(context.Context) error) error {
	r.mu.Lock()
	if r.next == nil {
		r.next = &round{done: make(chan struct{})}
	}
	mine := r.next
	if !r.running {
		r.running = true
		go r.run(fn)
	}
	r.mu.Unlock()
	select {
	case <-mine.done:
		return mine.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *rounds) run(fn func(context.Context) error) {
	for {
		r.mu.Lock()
		current := r.next
		r.next = nil
		if current == nil {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		current.err = fn(ctx)
		cancel()
		close(current.done)
	}
}
