// Package groupcommit is the queue half of a group commit, shared by the
// stores: callers queue writes and wait for their batch's outcome;
// committers take, as one batch, whatever queued up while they were busy,
// with no timer holding a write back. How a batch is applied (one
// transaction, a savepoint per write) is the store's.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/flashsale/flashsale"
)

// ErrClosed answers writes queued after Close.
var ErrClosed = errors.New("the store is closed")

// Queue is the writes waiting for a committer. Op is what a store needs
// to apply one write.
type Queue[Op any] struct {
	maxBatch int

	mu     sync.Mutex
	queued *sync.Cond // signalled when a write is queued or the queue closes
	writes []*Write[Op]
	closed bool
}

// Write is one caller's operation, waiting for or in a batch.
type Write[Op any] struct {
	Op    Op
	state atomic.Int32
	done  chan error // buffered: a committer never waits for the caller
}

// A write's state decides, without a lock, whether a caller that gives up
// still can: a write taken into a batch has its outcome, whatever the
// caller's context says.
const (
	queued int32 = iota
	taken
	abandoned
)

// New returns an empty queue whose batches hold at most maxBatch writes.
func New[Op any](maxBatch int) *Queue[Op] {
	q := &Queue[Op]{maxBatch: max(maxBatch, 1)}
	q.queued = sync.NewCond(&q.mu)
	return q
}

// Do queues op and waits for its outcome. A caller whose ctx ends while
// the write is still queued gets ctx's error and the write never runs;
// once the write is in a batch, the batch carries it through, and a
// caller whose ctx ends before the batch does gets ErrWriteInDoubt: a
// stalled database holds no caller longer than its deadline.
func (q *Queue[Op]) Do(ctx context.Context, op Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &Write[Op]{Op: op, done: make(chan error, 1)}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.writes = append(q.writes, w)
	q.mu.Unlock()
	q.queued.Signal()

	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		if w.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		select {
		case err := <-w.done:
			return err // the outcome came with the deadline
		default:
			return fmt.Errorf("%w: its batch was still running: %w", flashsale.ErrWriteInDoubt, ctx.Err())
		}
	}
}

// Next waits for writes and takes as many as are queued, up to the batch
// size, keeping those whose callers still wait: each of them must be
// given its outcome with Finish. It returns an empty batch only once the
// queue is closed and drained.
func (q *Queue[Op]) Next() (batch []*Write[Op], closed bool) {
	for {
		q.mu.Lock()
		for len(q.writes) == 0 && !q.closed {
			q.queued.Wait()
		}
		n := min(len(q.writes), q.maxBatch)
		waiting := q.writes[:n:n]
		q.writes = q.writes[n:]
		closed = q.closed
		q.mu.Unlock()

		for _, w := range waiting {
			if w.state.CompareAndSwap(queued, taken) {
				batch = append(batch, w)
			}
		}
		if len(batch) > 0 || (closed && len(waiting) == 0) {
			return batch, closed
		}
	}
}

// Close stops accepting writes and wakes every committer; Next keeps
// handing out what was queued before.
func (q *Queue[Op]) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.queued.Broadcast()
}

// Finish gives the write's caller its outcome.
func (w *Write[Op]) Finish(err error) { w.done <- err }

// Waiting reports how many writes wait for a committer.
func (q *Queue[Op]) Waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.writes)
}
