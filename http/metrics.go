package http

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	placeOrder *prometheus.CounterVec
	payments   *prometheus.CounterVec
	shed       *prometheus.CounterVec
	handler    http.Handler
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flashsale_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flashsale_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		placeOrder: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flashsale_place_order_total", Help: "Place-order outcomes: reserved, or the error code.",
		}, []string{"outcome"}),
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flashsale_payments_total", Help: "Payment outcomes: confirmed, or the error code.",
		}, []string{"outcome"}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flashsale_shed_requests_total", Help: "Requests refused with 503 overloaded by load shedding, by route.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration, m.placeOrder, m.payments, m.shed)
	// A registry that a test or a second server shares already has these.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = MetricsHandler(reg)
	return m
}

// registerShedding exposes the shedder's state, read at each scrape.
func registerShedding(reg *prometheus.Registry, s *Shedder) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flashsale_inflight_requests", Help: "API requests admitted by load shedding and not yet finished.",
		}, func() float64 { return float64(s.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flashsale_shed_waiting_requests", Help: "API requests over their class's share, waiting for a slot.",
		}, func() float64 { return float64(s.Waiting()) }),
	)
}

// registerThrottle exposes the measured request rate and the throttle
// level it selects, read at each scrape.
func registerThrottle(reg *prometheus.Registry, s *server) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flashsale_request_rate", Help: "Requests per second this process served, over the last complete seconds, as throttling sees it.",
		}, s.Limits.Traffic.Rate),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flashsale_throttle_level", Help: "Progressive throttling step in force: 0 none, k the k-th step of FLASHSALE_THROTTLE.",
		}, func() float64 { return float64(s.throttleLevel()) }),
	)
}

// httpStatusText holds label values for status codes, so counting a
// request allocates no string.
var httpStatusText = func() map[int]string {
	m := make(map[int]string, 600)
	for code := 100; code < 600; code++ {
		m[code] = strconv.Itoa(code)
	}
	return m
}()

// MetricsHandler serves reg's metrics, the API's among them once NewServer
// has registered them there, in Prometheus's text format: for a listener
// apart from the API's (Deps.MetricsElsewhere).
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
