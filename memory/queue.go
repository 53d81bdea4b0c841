package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// QueueOptions configure an OrderQueue; zero values take the defaults of
// the NATS queue, so both behave alike.
type QueueOptions struct {
	// Capacity is the most requests waiting at once (default 100,000).
	Capacity int
	// MaxAttempts is how many times a request whose settling failed for a
	// transient reason is tried before it is given up (default 5).
	MaxAttempts int
	// Retention is how long an outcome stays readable (default 24 h).
	Retention time.Duration
}

// OrderQueue is queued admission's order queue inside one process: the
// requests wait in memory, so they last as long as the process does. It
// answers as the NATS queue does (both pass queuetest.Run); a fleet, or a
// shop that wants queued requests to survive a restart, uses NATS.
type OrderQueue struct {
	capacity    int
	maxAttempts int
	retention   time.Duration

	mu      sync.Mutex
	waiting []string // request ids, oldest first
	records map[string]*queued
	pruned  time.Time     // when forgetOld last looked
	queued  chan struct{} // a token when a request is waiting
}

// queued is a request with its attempts and, once settled, its outcome.
type queued struct {
	request  flashsale.OrderRequest
	attempts int
	outcome  *flashsale.OrderRequestOutcome
}

var _ flashsale.OrderQueue = (*OrderQueue)(nil)

// NewOrderQueue returns an empty queue.
func NewOrderQueue(opts QueueOptions) *OrderQueue {
	if opts.Capacity <= 0 {
		opts.Capacity = 100_000
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	return &OrderQueue{capacity: opts.Capacity, maxAttempts: opts.MaxAttempts, retention: opts.Retention,
		records: map[string]*queued{}, queued: make(chan struct{}, 1)}
}

// Enqueue adds the request unless its id is known (queued or settled); a
// full queue is ErrQueueFull and adds nothing.
func (q *OrderQueue) Enqueue(_ context.Context, r flashsale.OrderRequest) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, known := q.records[r.ID]; known {
		return nil
	}
	if len(q.waiting) >= q.capacity {
		return flashsale.ErrQueueFull
	}
	q.records[r.ID] = &queued{request: r}
	q.waiting = append(q.waiting, r.ID)
	q.signal()
	return nil
}

// signal wakes a worker; q.mu is held.
func (q *OrderQueue) signal() {
	select {
	case q.queued <- struct{}{}:
	default:
	}
}

// Request returns the request and its outcome, nil while it waits.
func (q *OrderQueue) Request(_ context.Context, id string) (flashsale.OrderRequest, *flashsale.OrderRequestOutcome, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	rec, ok := q.records[id]
	if !ok {
		return flashsale.OrderRequest{}, nil, flashsale.ErrUnknownRequest
	}
	if rec.outcome == nil {
		return rec.request, nil, nil
	}
	outcome := *rec.outcome
	return rec.request, &outcome, nil
}

// Work settles waiting requests one at a time, at most rate a second,
// until ctx ends. A request whose settling fails goes to the back of the
// queue until it has been tried MaxAttempts times, and is then given up.
func (q *OrderQueue) Work(ctx context.Context, rate int, settle func(context.Context, flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error)) error {
	if rate <= 0 {
		return fmt.Errorf("order queue: rate %d is not positive", rate)
	}
	pace := time.NewTicker(time.Second / time.Duration(rate))
	defer pace.Stop()
	for {
		rec, ok := q.next()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-q.queued:
				continue
			}
		}
		outcome, err := settle(ctx, rec.request)
		q.settled(rec, outcome, err)
		select {
		case <-ctx.Done():
			return nil
		case <-pace.C:
		}
	}
}

// next takes the oldest waiting request, forgetting outcomes past their
// retention on the way.
func (q *OrderQueue) next() (*queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.forgetOld(time.Now())
	if len(q.waiting) == 0 {
		return nil, false
	}
	id := q.waiting[0]
	q.waiting = q.waiting[1:]
	if len(q.waiting) > 0 {
		q.signal() // for another worker
	}
	rec := q.records[id]
	rec.attempts++
	return rec, true
}

// settled records a settling's outcome, or puts the request back.
func (q *OrderQueue) settled(rec *queued, outcome flashsale.OrderRequestOutcome, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil && rec.attempts < q.maxAttempts {
		q.waiting = append(q.waiting, rec.request.ID)
		q.signal()
		return
	}
	if err != nil {
		outcome = flashsale.GivenUp(time.Now().UTC())
	}
	rec.outcome = &outcome
}

// forgetOld drops the outcomes settled longer ago than the retention,
// looking at most once a minute; q.mu is held.
func (q *OrderQueue) forgetOld(now time.Time) {
	if now.Sub(q.pruned) < time.Minute {
		return
	}
	q.pruned = now
	for id, rec := range q.records {
		if rec.outcome != nil && now.Sub(rec.outcome.SettledAt) > q.retention {
			delete(q.records, id)
		}
	}
}
