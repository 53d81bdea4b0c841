package loadtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// The queue scenario's view of the line from the operators' side: the
// admin figures sampled every second, from which the report measures the
// admission rate and checks the caps.

// QueueStats is GET /admin/flash-sales/{id}/queue.
type QueueStats struct {
	Waiting        int64 `json:"waiting"`
	PreQueue       int64 `json:"pre_queue"`
	AdmittedTotal  int64 `json:"admitted_total"`
	Active         int64 `json:"active"`
	Abandoned      int64 `json:"abandoned"`
	AdmitPerMinute int64 `json:"admit_per_minute"`
	MaxActive      int64 `json:"max_active"`
	Paused         bool  `json:"paused"`
	SoldOut        bool  `json:"sold_out"`
}

// QueueSample is the line's admin figures at one moment.
type QueueSample struct {
	// AtMs counts from traffic start to the answer.
	AtMs float64 `json:"at_ms"`
	QueueStats
	// PollsPerSecond is the generator's GET …/queue rate since the
	// sample before.
	PollsPerSecond float64 `json:"polls_per_second"`
}

// queueSampleEvery is how often the line's figures are read: the admission
// rate is measured from them.
const queueSampleEvery = time.Second

// startQueueMonitor reads the line's figures every queueSampleEvery from
// traffic start until stopMonitor. It runs outside the scheduler, whose
// idleness tells that every user is done.
func (r *run) startQueueMonitor(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.queue.stop = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		timer := time.NewTimer(time.Until(r.trafficStart))
		defer timer.Stop()
		var lastPolls int64
		lastAt := r.trafficStart
		for k := 1; ; k++ {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			if s, ok := r.sampleQueue(ctx); ok {
				polls, now := r.queue.polls.Load(), time.Now()
				if elapsed := now.Sub(lastAt).Seconds(); elapsed > 0 {
					s.PollsPerSecond = float64(polls-lastPolls) / elapsed
				}
				lastPolls, lastAt = polls, now
				r.queue.mu.Lock()
				r.queue.samples = append(r.queue.samples, s)
				r.queue.mu.Unlock()
			}
			timer.Reset(time.Until(r.trafficStart.Add(time.Duration(k) * queueSampleEvery)))
		}
	}()
}

// sampleQueue reads the line's figures, waiting out the service's rate
// limits: the sample then counts from when it was answered.
func (r *run) sampleQueue(ctx context.Context) (QueueSample, bool) {
	resp := r.paced(ctx, request{endpoint: endpointQueueStats, method: http.MethodGet,
		path: "/admin/flash-sales/" + url.PathEscape(r.sale.id) + "/queue", token: r.adminToken})
	var v QueueStats
	if resp.status != http.StatusOK || json.Unmarshal(resp.body, &v) != nil {
		return QueueSample{}, false
	}
	return QueueSample{AtMs: ms(time.Since(r.trafficStart)), QueueStats: v}, true
}
