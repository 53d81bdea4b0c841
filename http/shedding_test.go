package http_test

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/paysim"
)

// heldPayments fills the shedder with payments caught inside the provider:
// each is admitted and in flight until the test releases it.
type heldPayments struct {
	h       *harness
	gated   *gatedProvider
	results chan *response
	held    int
}

func newHeldPayments(t *testing.T, shedder *http.Shedder) *heldPayments {
	gated := &gatedProvider{Simulator: paysim.New(paysim.Options{}), charging: make(chan struct{}, 100), gate: make(chan struct{})}
	// An hour of payment timeout: a held charge must not be settled as
	// timed out however slowly the test runs.
	h := newHarness(t, harnessOptions{payments: gated, shedding: shedder, paymentTimeout: time.Hour})
	return &heldPayments{h: h, gated: gated, results: make(chan *response, 100)}
}

// hold starts paying for the orders and returns once each charge is in the
// provider, so exactly that many more requests are in flight.
func (p *heldPayments) hold(orders map[string]string) {
	for user, id := range orders {
		go func() { p.results <- p.h.pay(id, user, "tok_visa") }()
	}
	for range orders {
		<-p.gated.charging
	}
	p.held += len(orders)
}

// releaseAll lets every held charge finish and checks each was confirmed.
func (p *heldPayments) releaseAll(t *testing.T) {
	t.Helper()
	close(p.gated.gate)
	for range p.held {
		expect(t, <-p.results, 200, "")
	}
	p.held = 0
}

func wantInFlight(t *testing.T, s *http.Shedder, want int64) {
	t.Helper()
	if got := s.InFlight(); got != want {
		t.Fatalf("%d requests in flight, want %d", got, want)
	}
}

// expectShed checks a load-shedding refusal: 503 overloaded, told to retry
// in a second in the header and the body.
func expectShed(t *testing.T, r *response) {
	t.Helper()
	expect(t, r, 503, "overloaded")
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q, want 1", got)
	}
	if ms := r.JSON(t)["error"].(map[string]any)["retry_after_ms"]; ms != float64(1000) {
		t.Fatalf("retry_after_ms %v, want 1000", ms)
	}
}

func TestSheddingRefusesBrowsingThenOrdersThenPayments(t *testing.T) {
	// Capacity 10: payments and order status may fill all 10, place-order
	// 8 (85 %), browsing 6 (60 %). The wait is short because no slot
	// frees while the payments are held: every refusal here is certain.
	shedder := http.NewShedder(10, 5*time.Millisecond)
	p := newHeldPayments(t, shedder)
	h := p.h
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 20, limit: 1}}})
	orders := map[string]string{}
	for i := range 12 {
		user := fmt.Sprintf("user-%d", i)
		orders[user] = orderID(t, h.placeOrder(s.ID, s.Items[0], user, 1))
	}
	holdUsers := func(from, to int) {
		batch := map[string]string{}
		for i := from; i < to; i++ {
			user := fmt.Sprintf("user-%d", i)
			batch[user] = orders[user]
		}
		p.hold(batch)
	}
	alice := h.token("user-11", false)

	holdUsers(0, 6)
	wantInFlight(t, shedder, 6)
	expectShed(t, h.do("GET", "/flash-sales", "", nil))
	expectShed(t, h.do("GET", "/flash-sales/"+s.ID, "", nil))
	expect(t, h.placeOrder(s.ID, s.Items[0], "late-1", 1), 201, "")
	expect(t, h.do("GET", "/orders/"+orders["user-11"], alice, nil), 200, "")

	holdUsers(6, 8)
	wantInFlight(t, shedder, 8)
	expectShed(t, h.placeOrder(s.ID, s.Items[0], "late-2", 1))
	expect(t, h.do("GET", "/orders/"+orders["user-11"], alice, nil), 200, "")
	expect(t, h.do("POST", "/orders/"+orders["user-10"]+"/cancel", h.token("user-10", false), nil), 200, "")

	holdUsers(8, 10)
	wantInFlight(t, shedder, 10)
	expectShed(t, h.do("GET", "/orders/"+orders["user-11"], alice, nil))
	expectShed(t, h.pay(orders["user-11"], "user-11", "tok_visa"))
	expectShed(t, h.do("GET", "/admin/flash-sales/"+s.ID+"/stats", h.admin(), nil))
	// The operational endpoints answer whatever the load.
	expect(t, h.do("GET", "/healthz", "", nil), 200, "")
	expect(t, h.do("GET", "/readyz", "", nil), 200, "")
	metrics := h.do("GET", "/metrics", "", nil)
	expect(t, metrics, 200, "")
	for route, want := range map[string]float64{"list_sales": 1, "get_sale": 1, "place_order": 1, "get_order": 1, "pay_order": 1, "admin_stats": 1} {
		if got := metricValue(t, metrics.Body, `flashsale_shed_requests_total{route="`+route+`"}`); got != want {
			t.Errorf("shed %s: %v, want %v", route, got, want)
		}
	}
	if got := metricValue(t, metrics.Body, "flashsale_inflight_requests"); got != 10 {
		t.Errorf("in-flight gauge %v, want 10", got)
	}
	if shedder.Waiting() != 0 {
		t.Fatalf("%d refused requests are still waiting", shedder.Waiting())
	}

	p.releaseAll(t)
	wantInFlight(t, shedder, 0)
	expect(t, h.do("GET", "/flash-sales/"+s.ID, "", nil), 200, "")
	// 12 reserved, then 10 paid, one cancelled, one placed under load; the
	// two shed requests reserved and charged nothing.
	h.wantStock(s.ID, s.Items[0], 8, 2, 10)
}

func TestAFreedSlotGoesToTheMostProtectedWaitingRequest(t *testing.T) {
	// An hour of waiting: these requests are admitted when a slot frees,
	// which the test decides.
	shedder := http.NewShedder(10, time.Hour)
	p := newHeldPayments(t, shedder)
	h := p.h
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 20, limit: 1}}})
	orders := map[string]string{}
	for i := range 8 {
		user := fmt.Sprintf("user-%d", i)
		orders[user] = orderID(t, h.placeOrder(s.ID, s.Items[0], user, 1))
	}
	p.hold(orders)
	wantInFlight(t, shedder, 8)

	browse, place := make(chan *response, 1), make(chan *response, 1)
	go func() { browse <- h.do("GET", "/flash-sales/"+s.ID, "", nil) }()
	go func() { place <- h.placeOrder(s.ID, s.Items[0], "late", 1) }()
	testenv.Eventually(t, time.Minute, "both requests wait", func() bool { return shedder.Waiting() == 2 })

	// One payment finishes: 7 in flight, room for place-order (under 8)
	// but not for browsing (6), which keeps waiting.
	p.gated.gate <- struct{}{}
	expect(t, <-p.results, 200, "")
	p.held--
	expect(t, <-place, 201, "")
	if shedder.Waiting() != 1 || len(browse) != 0 {
		t.Fatalf("browsing was admitted with 7 requests in flight (waiting %d)", shedder.Waiting())
	}

	p.releaseAll(t)
	expect(t, <-browse, 200, "")
	wantInFlight(t, shedder, 0)
}

func TestNoShedderMeansNoShedding(t *testing.T) {
	if http.NewShedder(0, time.Second) != nil || http.NewShedder(-1, time.Second) != nil {
		t.Fatal("a capacity of 0 or less must turn shedding off")
	}
}

// metricValue returns the value of the sample named exactly series (name
// and labels as exposed) in a Prometheus text exposition, 0 when absent.
func metricValue(t *testing.T, exposition []byte, series string) float64 {
	t.Helper()
	lines := bufio.NewScanner(bytes.NewReader(exposition))
	for lines.Scan() {
		name, value, ok := strings.Cut(lines.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("sample %q: %v", lines.Text(), err)
			}
			return v
		}
	}
	return 0
}
