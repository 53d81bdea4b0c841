package loadtest

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// The refresh scenario: the sale page reloaded as a storm.

// startRefresh storms the sale page: open loop at the rate, or Concurrency
// workers back to back. Each request revalidates with the last ETag seen, as
// a browser's reload does.
func (r *run) startRefresh(ctx context.Context) {
	view := func(intended time.Time) response {
		req := request{endpoint: endpointGetSale, method: http.MethodGet, path: "/flash-sales/" + url.PathEscape(r.sale.id), intended: intended}
		if etag := r.lastETag.Load(); etag != nil {
			req.ifNoneMatch = *etag
		}
		resp := r.client.do(ctx, req)
		if resp.etag != "" {
			r.lastETag.Store(&resp.etag)
		}
		return resp
	}
	if r.cfg.Rate > 0 {
		r.sched.spawn(func() {
			r.openLoop(ctx, func() bool { return true }, func(intended time.Time) { view(intended) })
		})
		return
	}
	for range r.cfg.Concurrency {
		r.backToBack(ctx, 0, func() response { return view(time.Time{}) })
	}
}

// backToBack sends act's request again and again from after first until
// ctx ends: a closed-loop worker, as a chain of steps, each scheduling the
// next, so that it shares the workers with users' other steps (payments)
// instead of holding one for the whole run. After a transport error or a
// 5xx it pauses botErrorPause, so that a dead server is not hammered in a
// tight loop that would only measure the generator spinning.
func (r *run) backToBack(ctx context.Context, first time.Duration, act func() response) {
	var next func()
	next = func() {
		if ctx.Err() != nil {
			return
		}
		var pause time.Duration
		if act().outcomeUnknown() {
			pause = botErrorPause
		}
		r.sched.after(pause, next)
	}
	r.sched.after(first, next)
}
