package loadtest

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// recorder accumulates latencies and counts of every request. Histograms sit
// behind one mutex: a request costs tens of microseconds or more, a locked
// histogram update well under one, so the lock is not what limits the rate.
type recorder struct {
	mu        sync.Mutex
	endpoints map[string]*endpointRecord
	// queueWait is how long users' steps waited for one of the generator's
	// workers after their time had come, which request latency excludes.
	// It covers an hour: in a big closed-loop herd the last users wait
	// more than the minute a latency histogram covers.
	queueWait *Histogram
	// arrivalLag is how late open-loop arrivals went out, which their
	// latency includes.
	arrivalLag *Histogram
	// The timeline holds the traffic phase only: it starts at origin and
	// closes when traffic ends, so setup and the final checks stay out.
	origin         time.Time
	timelineClosed bool
	seconds        []*secondRecord
	// limits watches the timeline's answers for a service whose rate
	// limits refuse the load; nil watches nothing.
	limits *limitWatch

	// Live counters for the progress line, readable without the lock.
	requests     atomic.Int64
	reservations atomic.Int64
	soldOut      atomic.Int64
	rejected     atomic.Int64
	errors       atomic.Int64
	canceled     atomic.Int64
}

type endpointRecord struct {
	latency  *Histogram
	outcomes map[string]*outcomeRecord
}

type outcomeRecord struct {
	status  int
	code    string
	latency *Histogram
}

// secondRecord is one second of the timeline. Its histogram has two
// significant digits: a chart needs no more, and a long soak keeps one per
// second.
type secondRecord struct {
	requests, reservations, paid, soldOut, rejected, errors int64
	latency                                                 *Histogram
}

func newRecorder() *recorder {
	return &recorder{endpoints: map[string]*endpointRecord{}, queueWait: newHistogram(time.Hour, 3), arrivalLag: NewHistogram()}
}

func (r *recorder) startTimeline(origin time.Time) {
	r.mu.Lock()
	r.origin = origin
	r.mu.Unlock()
}

func (r *recorder) closeTimeline() {
	r.mu.Lock()
	r.timelineClosed = true
	r.mu.Unlock()
}

// responseClass sorts a response into the timeline's and progress line's
// counters.
type responseClass struct{ reservation, paid, soldOut, rejected, failed bool }

// A payment's 200 counts one paid order: the generator pays an order again
// only after an answer that was not 200.
func classify(endpoint string, resp response) responseClass {
	return responseClass{
		reservation: (endpoint == endpointPlaceOrder || endpoint == endpointPollOrder) && resp.status == http.StatusCreated,
		paid:        endpoint == endpointPay && resp.status == http.StatusOK,
		soldOut:     resp.code == "sold_out",
		rejected:    resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable,
		failed:      resp.err != nil || (resp.status >= 500 && resp.status != http.StatusServiceUnavailable),
	}
}

func (r *recorder) record(endpoint string, resp response, latency time.Duration, finished time.Time) {
	class := classify(endpoint, resp)
	r.requests.Add(1)
	addIf(&r.reservations, class.reservation)
	addIf(&r.soldOut, class.soldOut)
	addIf(&r.rejected, class.rejected)
	addIf(&r.errors, class.failed)

	// The limit watch may print: it takes the answer after the lock.
	if r.store(endpoint, resp, class, latency, finished) {
		r.limits.observe(resp)
	}
}

// store adds resp to its endpoint's histograms and, when it is an answer
// of the traffic phase, to the timeline; it reports whether it was.
func (r *recorder) store(endpoint string, resp response, class responseClass, latency time.Duration, finished time.Time) bool {
	name := outcomeName(resp)
	r.mu.Lock()
	defer r.mu.Unlock()
	ep := r.endpoints[endpoint]
	if ep == nil {
		ep = &endpointRecord{latency: NewHistogram(), outcomes: map[string]*outcomeRecord{}}
		r.endpoints[endpoint] = ep
	}
	ep.latency.Record(latency)
	outcome := ep.outcomes[name]
	if outcome == nil {
		outcome = &outcomeRecord{status: resp.status, code: resp.code, latency: NewHistogram()}
		ep.outcomes[name] = outcome
	}
	outcome.latency.Record(latency)

	if r.origin.IsZero() || r.timelineClosed || finished.Before(r.origin) {
		return false
	}
	second := int(finished.Sub(r.origin) / time.Second)
	for len(r.seconds) <= second {
		r.seconds = append(r.seconds, &secondRecord{latency: newHistogram(time.Minute, 2)})
	}
	s := r.seconds[second]
	s.requests++
	s.latency.Record(latency)
	s.reservations += boolCount(class.reservation)
	s.paid += boolCount(class.paid)
	s.soldOut += boolCount(class.soldOut)
	s.rejected += boolCount(class.rejected)
	s.errors += boolCount(class.failed)
	return true
}

func (r *recorder) recordCanceled() { r.canceled.Add(1) }

func (r *recorder) recordQueueWait(wait time.Duration) {
	r.mu.Lock()
	r.queueWait.Record(wait)
	r.mu.Unlock()
}

func (r *recorder) recordArrivalLag(lag time.Duration) {
	r.mu.Lock()
	r.arrivalLag.Record(lag)
	r.mu.Unlock()
}

// endpointQuantile returns a quantile of one endpoint's latency so far, for
// the progress line.
func (r *recorder) endpointQuantile(endpoint string, q float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ep := r.endpoints[endpoint]; ep != nil {
		return ep.latency.Quantile(q)
	}
	return 0
}

func addIf(counter *atomic.Int64, condition bool) {
	if condition {
		counter.Add(1)
	}
}

func boolCount(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// outcomeSummary is the latency of one outcome ("201") of one endpoint.
func (r *recorder) outcomeSummary(endpoint, outcome string) LatencySummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ep := r.endpoints[endpoint]; ep != nil {
		if o := ep.outcomes[outcome]; o != nil {
			return summarize(o.latency)
		}
	}
	return LatencySummary{}
}
