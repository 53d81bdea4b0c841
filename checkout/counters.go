package checkout

import (
	"sync"
	"sync/atomic"
)

// itemCounters counts place-order outcomes of one item in this process.
type itemCounters struct {
	attempts   atomic.Int64
	rejections sync.Map // error code -> *atomic.Int64
}

func (s *Service) counters(itemID string) *itemCounters {
	if v, ok := s.items.Load(itemID); ok {
		return v.(*itemCounters)
	}
	v, _ := s.items.LoadOrStore(itemID, &itemCounters{})
	return v.(*itemCounters)
}

func (c *itemCounters) reject(code string) {
	v, ok := c.rejections.Load(code)
	if !ok {
		v, _ = c.rejections.LoadOrStore(code, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (c *itemCounters) rejectionCounts() map[string]int64 {
	out := map[string]int64{}
	c.rejections.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// commitTracker lets a double click wait for the commit of the reservation
// it found, so that a 200 is as durable as the 201 it repeats.
type commitTracker struct {
	inFlight sync.Map // order id -> *commit
}

type commit struct {
	done chan struct{}
	err  error
}

func (t *commitTracker) begin(orderID string) *commit {
	c := &commit{done: make(chan struct{})}
	t.inFlight.Store(orderID, c)
	return c
}

func (t *commitTracker) end(orderID string, c *commit, err error) {
	c.err = err
	close(c.done)
	t.inFlight.Delete(orderID)
}

func (t *commitTracker) pending(orderID string) (*commit, bool) {
	v, ok := t.inFlight.Load(orderID)
	if !ok {
		return nil, false
	}
	return v.(*commit), true
}
