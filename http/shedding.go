package http

import (
	"container/list"
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale"
)

// priority is a route's class for load shedding. Under overload the least
// protected class is refused first, so that the requests closest to money
// (a shopper paying for a unit they hold) keep working longest.
type priority int

const (
	// critical is paying, reading and cancelling an order, and the admin
	// routes: it may use the whole capacity.
	critical priority = iota
	// ordering is placing an order: up to orderingShare of the capacity.
	ordering
	// browsing is the sale pages, which a CDN or the render cache can
	// serve: up to browsingShare of the capacity.
	browsing
	// neverShed is the operational endpoints: an orchestrator must see
	// /healthz, /readyz and /metrics most of all when the process is
	// overloaded. They are not counted in flight either.
	neverShed
)

// The shares of the capacity that the less protected classes may fill.
// The 15 % that place-order cannot take is kept for payments and order
// status, so a shopper who holds a unit can always pay for it; the 25 %
// more that browsing cannot take keeps place-order going while the sale
// pages are refused, since those are cached upstream and cheap to retry.
const (
	orderingShare = 0.85
	browsingShare = 0.60
)

// Shedder admits requests by priority within a bounded number in flight:
// a request of class critical is admitted while fewer than the capacity are
// in flight, ordering while fewer than 85 % of it, browsing while fewer
// than 60 %. A request over its class's share waits up to maxWait for a
// slot, then is refused with 503 overloaded: never a hang.
//
// A slot freed while requests wait goes to the most protected class
// waiting that it fits. Admission itself is a compare-and-swap on one
// counter; the lock is taken only by requests that must wait and by
// releases while some wait.
type Shedder struct {
	limits   [neverShed]int64 // most in flight at which each class is still admitted, exclusive
	maxWait  time.Duration
	inFlight atomic.Int64
	// waiting counts the requests queued below. A release reads it after
	// freeing its slot and a waiter adds to it before its last try, so
	// either the waiter's try sees the free slot or the release sees the
	// waiter: no slot is left free while a request that fits waits.
	waiting atomic.Int64

	mu     sync.Mutex
	queues [neverShed]list.List // of *shedWaiter, oldest first, per class
}

type shedWaiter struct {
	admitted chan struct{} // closed when a release hands it a slot
	handed   bool          // guarded by Shedder.mu
}

// NewShedder returns a shedder for at most capacity requests in flight,
// where a request over its class's share waits up to maxWait for a slot
// (0: refused at once). It returns nil, which sheds nothing, when capacity
// is not positive.
func NewShedder(capacity int, maxWait time.Duration) *Shedder {
	if capacity <= 0 {
		return nil
	}
	share := func(f float64) int64 { return max(1, int64(float64(capacity)*f)) }
	return &Shedder{
		limits:  [neverShed]int64{critical: int64(capacity), ordering: share(orderingShare), browsing: share(browsingShare)},
		maxWait: max(0, maxWait),
	}
}

// InFlight returns the number of requests admitted and not yet finished.
func (s *Shedder) InFlight() int64 { return s.inFlight.Load() }

// Waiting returns the number of requests waiting for a slot.
func (s *Shedder) Waiting() int64 { return s.waiting.Load() }

// acquire admits a request of the class, waiting at most maxWait for a
// slot. Every admitted request must call release once it is done.
func (s *Shedder) acquire(ctx context.Context, class priority) bool {
	limit := s.limits[class]
	if s.tryAcquire(limit) {
		return true
	}
	if s.maxWait <= 0 {
		return false
	}
	s.mu.Lock()
	s.waiting.Add(1)
	if s.tryAcquire(limit) { // a slot freed before this request was queued
		s.waiting.Add(-1)
		s.mu.Unlock()
		return true
	}
	w := &shedWaiter{admitted: make(chan struct{})}
	queued := s.queues[class].PushBack(w)
	s.mu.Unlock()

	timer := time.NewTimer(s.maxWait)
	defer timer.Stop()
	select {
	case <-w.admitted:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.handed { // a slot came as time ran out: it is this request's now
		return true
	}
	s.queues[class].Remove(queued)
	s.waiting.Add(-1)
	return false
}

// tryAcquire takes a slot if fewer than limit are in flight.
func (s *Shedder) tryAcquire(limit int64) bool {
	for {
		n := s.inFlight.Load()
		if n >= limit {
			return false
		}
		if s.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release frees an admitted request's slot and hands free slots to the
// waiting requests, most protected class first.
func (s *Shedder) release() {
	s.inFlight.Add(-1)
	if s.waiting.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for class := range s.queues {
		queue := &s.queues[class]
		for queue.Len() > 0 && s.tryAcquire(s.limits[class]) {
			w := queue.Remove(queue.Front()).(*shedWaiter)
			w.handed = true
			close(w.admitted)
			s.waiting.Add(-1)
		}
	}
}

// errShed is shared: under overload many requests get it at once, and
// allocating one each would add to the load it reports.
var errShed = &flashsale.Error{Code: flashsale.EOverloaded, RetryAfter: time.Second,
	Message: "the service is overloaded; please retry after the time in Retry-After"}

// shed admits a request of the route's class through the Shedder, or
// answers 503 overloaded with Retry-After and counts the route's refusal.
func (s *server) shed(class priority, route string, next http.Handler) http.Handler {
	if s.Shedding == nil || class == neverShed {
		return next
	}
	refused := s.metrics.shed.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.Shedding.acquire(r.Context(), class) {
			refused.Inc()
			s.error(w, r, errShed)
			return
		}
		defer s.Shedding.release()
		next.ServeHTTP(w, r)
	})
}
