package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/rs/zerolog"

	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/nats/natstest"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/redis/redistest"
)

// Network faults between the service and Redis, PostgreSQL and NATS,
// made by toxiproxy (Shopify's) inside the test process: every instance
// reaches each of its servers through a proxy of the test's own, and each
// case spoils one of them for a few seconds while a herd shops. Whatever
// the fault, every answer is a defined one and none hangs, every 201 is
// durable, the stock keeps its invariant and ends equal to PostgreSQL's
// counts, and the service recovers by itself once the fault ends.
//
// A process kill or SIGSTOP (faults_test.go) fails every connection the
// same way at once; a network fails them slowly, partly, or on and off,
// which is where deadlines, breakers and reconnections show their bugs.

// networkFaultLength is how long each fault lasts by default: several
// times the Redis and store deadlines (1 s each here), so that the
// breaker opens and every deadline runs out, yet short enough that the
// whole file runs in about two minutes in CI.
// FLASHSALE_TEST_NETWORK_FAULT (a duration) makes every fault longer.
const networkFaultLength = 3 * time.Second

// recoveryBound only catches a service that never recovers from a fault:
// the recovery measured is logged, not held to a figure of this machine.
const recoveryBound = 30 * time.Second

// networkFault is one way to spoil the network to one dependency.
type networkFault struct {
	name string
	// on is the dependency whose proxy the fault spoils: redis, postgres
	// or nats (the queue of a sale in queued admission).
	on string
	// apply spoils the proxy and returns how to put it right.
	apply func(t *testing.T, p *toxiclient.Proxy) (restore func())
	// reaches says whether the fault must show in the herd's answers
	// (503s) in a deployment acknowledging from ack: a check that the
	// proxy is in the way, not a promise.
	reaches func(ack string) bool
	// length, when set, is the fault's own length, the longer of it and
	// the run's.
	length time.Duration
	// only, when set, is the one deployment (its ack) the case runs in.
	only string
}

// networkDeployment is a distributed deployment the faults run against.
type networkDeployment struct {
	name string
	// redisURL is the Redis the deployment needs, straight.
	redisURL func(testing.TB) string
	// ack is FLASHSALE_ACK.
	ack string
}

func TestNetworkFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a herd through every fault")
	}
	length := networkFaultLength
	if v := os.Getenv("FLASHSALE_TEST_NETWORK_FAULT"); v != "" {
		var err error
		if length, err = time.ParseDuration(v); err != nil || length <= 0 {
			t.Fatalf("FLASHSALE_TEST_NETWORK_FAULT=%q is not a positive duration", v)
		}
	}
	always := func(string) bool { return true }
	faults := []networkFault{
		// The herd's answers with the proxies in the way and no fault: what
		// the others compare with.
		{name: "no fault", on: "redis", apply: func(*testing.T, *toxiclient.Proxy) func() { return func() {} }},
		{name: "redis latency 100ms", on: "redis", apply: withToxic("latency", toxiclient.Attributes{"latency": 100}, "downstream")},
		{name: "redis latency 2s", on: "redis", apply: withToxic("latency", toxiclient.Attributes{"latency": 2000}, "downstream"), reaches: always},
		// 8 KB/s each way is a small fraction of what the herd sends, so
		// Redis's answers queue up behind each other past the deadline.
		{name: "redis bandwidth 8KB/s", on: "redis", apply: withToxic("bandwidth", toxiclient.Attributes{"rate": 8}, "upstream", "downstream")},
		// Every connection is reset (RST) as soon as it carries a byte,
		// new ones included, until the toxic goes.
		{name: "redis connections reset", on: "redis", apply: withToxic("reset_peer", toxiclient.Attributes{"timeout": 0}, "upstream"), reaches: always},
		// Nothing passes either way and nothing is closed, as with a
		// firewall dropping packets; removing the toxic closes the
		// connections it held (toxiproxy drops what it swallowed, so
		// they could not go on).
		{name: "redis black-holed", on: "redis", apply: withToxic("timeout", toxiclient.Attributes{"timeout": 0}, "upstream", "downstream"), reaches: always},
		// Past rueidis's ten-second write timeout, after which it drops
		// the silent connection and dials again (at 15 s the bug showed
		// in one run of two, at 20 s in every one): the same client in
		// either deployment, so it runs in one.
		{name: "redis black-holed 20s", on: "redis", apply: withToxic("timeout", toxiclient.Attributes{"timeout": 0}, "upstream", "downstream"),
			reaches: always, length: 20 * time.Second, only: "postgres"},
		{name: "redis flapping every 1s", on: "redis", apply: flappingProxy(time.Second), reaches: always},
		{name: "postgres latency 100ms", on: "postgres", apply: withToxic("latency", toxiclient.Attributes{"latency": 100}, "downstream")},
		// With the Redis acknowledgement place-order does not wait for
		// PostgreSQL, so only pays and cancels need show it.
		{name: "postgres black-holed", on: "postgres", apply: withToxic("timeout", toxiclient.Attributes{"timeout": 0}, "upstream", "downstream"),
			reaches: func(ack string) bool { return ack == "postgres" }},
		{name: "nats black-holed", on: "nats", apply: withToxic("timeout", toxiclient.Attributes{"timeout": 0}, "upstream", "downstream"), reaches: always},
	}
	deployments := []networkDeployment{
		{name: "distributed", redisURL: redistest.URL, ack: "postgres"},
		{name: "redis-ack", redisURL: redistest.AOFURL, ack: "redis"},
	}
	for _, dep := range deployments {
		t.Run(dep.name, func(t *testing.T) {
			for _, fault := range faults {
				if fault.only != "" && fault.only != dep.ack {
					continue
				}
				t.Run(strings.ReplaceAll(fault.name, " ", "_"), func(t *testing.T) {
					runNetworkFault(t, dep, fault, max(length, fault.length))
				})
			}
		})
	}
}

// runNetworkFault starts an instance of the deployment behind proxies, a
// herd on a sale of its own, spoils the network for length, and checks
// what the service answered and how it came back.
func runNetworkFault(t *testing.T, dep networkDeployment, fault networkFault, length time.Duration) {
	tp := startToxiproxy(t)
	redisURL, postgresURL := dep.redisURL(t), pgtest.Schema(t)
	d := fleet{
		prefix: redistest.Prefix(t, redistest.Connect(t, redisURL)),
		// Reservations cut off by the fault (a script that ran, its answer
		// lost) are orphans until the grace: a short one lets the stock
		// meet PostgreSQL's counts soon after. The store's deadline is a
		// second, as the Redis one, so that a request making two store
		// calls still answers within hangLimit.
		settings: map[string]string{"FLASHSALE_ACK": dep.ack, "FLASHSALE_ORPHAN_GRACE": "3s", "FLASHSALE_STORE_TIMEOUT": "1s"},
	}
	proxies := map[string]*toxiclient.Proxy{}
	d.redisURL, proxies["redis"] = throughProxy(t, tp, "redis", redisURL)
	d.postgresURL, proxies["postgres"] = throughProxy(t, tp, "postgres", postgresURL)
	queued := fault.on == "nats"
	if queued {
		natsURL := natstest.URL(t)
		d.queueName = natstest.QueueName(t, natsURL)
		d.natsURL, proxies["nats"] = throughProxy(t, tp, "nats", natsURL)
	}
	url, _ := d.startInProcess(t)
	c := client{t, url}
	var saleID, itemID string
	var h herd
	if queued {
		saleID, itemID = createQueuedSale(t, c, 100_000)
		h = startQueuedHerd(t, url, saleID, itemID, 8)
	} else {
		saleID, itemID = createSale(t, c, 100_000, 600)
		h = startShoppingHerd(t, url, saleID, itemID, 8, true)
	}
	testenv.Eventually(t, 30*time.Second, "50 reservations before the fault", func() bool { return h.count() >= 50 })

	before := h.count()
	restore := fault.apply(t, proxies[fault.on])
	readyFailed := false
	for start := time.Now(); time.Since(start) < length; {
		// Watched, not asserted: whether /readyz tells the balancer.
		if readyStatus(t, url) != http.StatusOK {
			readyFailed = true
		}
		time.Sleep(100 * time.Millisecond) // the fault's length, not an ordering
	}
	restore()
	ended := time.Now()
	during := h.count() - before

	again := &returningShopper{t: t, url: url, saleID: saleID, itemID: itemID}
	testenv.Eventually(t, recoveryBound, "/readyz 200 and a new order", func() bool {
		return readyStatus(t, url) == http.StatusOK && again.buys()
	})
	recovered := time.Since(ended)
	after := h.count()
	testenv.Eventually(t, 30*time.Second, "sales to go on after the fault", func() bool { return h.count() >= after+20 })
	acked, statuses := h.stop(t)

	if fault.reaches != nil && fault.reaches(dep.ack) && unavailableAnswers(statuses) == 0 {
		t.Errorf("no 503 during %s: the fault did not reach the herd", fault.name)
	}
	if dep.ack == "redis" {
		waitPersisted(t, postgresURL, acked)
	} else {
		everyOrderDurable(t, postgresURL, acked)
	}
	// stock, which followsTheStore calls, checks the invariant each time.
	testenv.Eventually(t, 30*time.Second, "the stats to equal PostgreSQL's counts", func() bool {
		return followsTheStore(t, url, postgresURL, saleID, itemID)
	})
	converged := time.Since(ended)
	t.Logf("%s, %s: %d acknowledged, %d of them during the fault; /readyz failed during it: %v; recovered (/readyz 200, a new order) %s after the fault; stats equal PostgreSQL's %s after it",
		dep.name, fault.name, len(acked), during, readyFailed, recovered.Round(time.Millisecond), converged.Round(time.Millisecond))
}

// unavailableAnswers counts the 503s among a herd's answers.
func unavailableAnswers(statuses map[string]int) int {
	n := 0
	for outcome, count := range statuses {
		if strings.HasSuffix(outcome, " 503") {
			n += count
		}
	}
	return n
}

// startToxiproxy runs a toxiproxy server in this process, its API on a
// loopback port of its own, and returns toxiproxy's client of it: the
// test drives the proxies as any user of toxiproxy does, with no binary
// to install.
func startToxiproxy(t *testing.T) *toxiclient.Client {
	t.Helper()
	// The toxics log through zerolog's global logger, at trace level,
	// each time one is removed: only warnings are worth a test's output.
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	api := httptest.NewServer(server.Routes())
	// Registered before the instances start, so run after they stop: the
	// proxies outlive every connection through them.
	t.Cleanup(func() {
		api.Close()
		if err := server.Collection.Clear(); err != nil {
			t.Errorf("closing the proxies: %v", err)
		}
	})
	return toxiclient.NewClient(api.URL)
}

// throughProxy creates a proxy named name to the server of the URL raw,
// listening on a loopback port, and returns raw pointing at the proxy.
func throughProxy(t *testing.T, tp *toxiclient.Client, name, raw string) (string, *toxiclient.Proxy) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || strings.Contains(u.Host, ",") {
		t.Fatalf("%s: a proxy goes before one server, given by a URL (%v)", raw, err)
	}
	p, err := tp.CreateProxy(name, "127.0.0.1:0", u.Host)
	if err != nil {
		t.Fatalf("proxy to %s: %v", u.Host, err)
	}
	u.Host = p.Listen
	return u.String(), p
}

// withToxic is a fault of one toxic of typ with attrs on each stream given
// (upstream: from the service to the server; downstream: back), put right
// by removing them.
func withToxic(typ string, attrs toxiclient.Attributes, streams ...string) func(*testing.T, *toxiclient.Proxy) func() {
	return func(t *testing.T, p *toxiclient.Proxy) func() {
		t.Helper()
		for _, stream := range streams {
			if _, err := p.AddToxic(typ+"_"+stream, typ, stream, 1, attrs); err != nil {
				t.Fatalf("%s toxic on %s: %v", typ, p.Name, err)
			}
		}
		return func() {
			for _, stream := range streams {
				if err := p.RemoveToxic(typ + "_" + stream); err != nil {
					t.Errorf("removing the %s toxic from %s: %v", typ, p.Name, err)
				}
			}
		}
	}
}

// flappingProxy is a fault that disables the proxy (every connection through
// it closed, new ones refused) and enables it again every period, until
// put right.
func flappingProxy(period time.Duration) func(*testing.T, *toxiclient.Proxy) func() {
	return func(t *testing.T, p *toxiclient.Proxy) func() {
		t.Helper()
		done, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			ticker := time.NewTicker(period)
			defer ticker.Stop()
			for up := false; ; up = !up {
				toggle := p.Disable
				if up {
					toggle = p.Enable
				}
				if err := toggle(); err != nil {
					t.Errorf("flapping %s: %v", p.Name, err)
				}
				select {
				case <-done:
					return
				case <-ticker.C:
				}
			}
		}()
		return func() {
			close(done)
			<-stopped
			if !p.Enabled {
				if err := p.Enable(); err != nil {
					t.Errorf("enabling %s: %v", p.Name, err)
				}
			}
		}
	}
}

// herd is shoppers at work, the direct one (startShoppingHerd) or the
// queued one.
type herd interface {
	// count is how many orders were acknowledged so far.
	count() int
	// stop ends the herd, checks every answer it had, and returns the
	// acknowledged orders (order id -> user) and the answers counted.
	stop(t *testing.T) (acked map[string]string, statuses map[string]int)
}

// queuedHerd is shoppers, each new, who press Buy on a sale in queued
// admission and poll their request until it is settled, as the shopper's
// page does, until stopped. A request still waiting when the herd stops
// is followed to its outcome once the service is back: none is lost.
type queuedHerd struct {
	mu       sync.Mutex
	acked    map[string]string // order id -> user, for every 201
	waiting  map[string]string // status URL -> user, accepted, not settled
	statuses map[string]int    // "place 202", "poll 201", ... and "hung"
	slowest  time.Duration
	done     chan struct{}
	shoppers sync.WaitGroup
	http     *http.Client
	url      string
}

func startQueuedHerd(t *testing.T, url, saleID, itemID string, shoppers int) *queuedHerd {
	h := &queuedHerd{acked: map[string]string{}, waiting: map[string]string{}, statuses: map[string]int{},
		done: make(chan struct{}), http: &http.Client{Timeout: hangLimit}, url: url}
	var next atomic.Int64
	for range shoppers {
		h.shoppers.Go(func() {
			for {
				select {
				case <-h.done:
					return
				default:
				}
				user := fmt.Sprintf("queued-shopper-%d", next.Add(1))
				token := mint(t, user, false)
				status, body := h.call("place", "POST", "/flash-sales/"+saleID+"/orders", token, map[string]any{"item_id": itemID, "quantity": 1})
				if status != http.StatusAccepted {
					continue
				}
				statusURL, _ := body["status_url"].(string)
				h.mu.Lock()
				h.waiting[statusURL] = user
				h.mu.Unlock()
				h.follow(statusURL, user, token)
			}
		})
	}
	return h
}

// follow polls a request until it is settled or the herd stops; a 503
// while polling is the queue out of reach, and the shopper polls again.
func (h *queuedHerd) follow(statusURL, user, token string) {
	for {
		status, body := h.call("poll", "GET", statusURL, token, nil)
		if status != http.StatusAccepted && status != http.StatusServiceUnavailable && status != 0 {
			h.settled(statusURL, user, status, body)
			return
		}
		select {
		case <-h.done:
			return
		case <-time.After(50 * time.Millisecond): // the page's polling interval
		}
	}
}

// settled records a request's outcome.
func (h *queuedHerd) settled(statusURL, user string, status int, body map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiting, statusURL)
	if id, ok := body["order_id"].(string); ok && (status == http.StatusCreated || status == http.StatusOK) {
		h.acked[id] = user
	}
}

// call sends one request and counts its answer.
func (h *queuedHerd) call(what, method, path, token string, body any) (int, map[string]any) {
	var payload bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&payload).Encode(body)
	}
	req, _ := http.NewRequest(method, h.url+path, &payload)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := h.http.Do(req)
	took := time.Since(start)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slowest = max(h.slowest, took)
	if err != nil {
		h.statuses["hung"]++
		return 0, nil
	}
	defer resp.Body.Close()
	var answer map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	h.statuses[what+" "+strconv.Itoa(resp.StatusCode)]++
	return resp.StatusCode, answer
}

func (h *queuedHerd) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// stop ends the herd, follows every request still waiting to its outcome
// (the service is back by now, so the first answer other than 202 is
// the outcome), and checks every answer: a 202, a settled outcome, or a
// 503, never a 500 or none.
func (h *queuedHerd) stop(t *testing.T) (map[string]string, map[string]int) {
	t.Helper()
	close(h.done)
	h.shoppers.Wait()
	h.mu.Lock()
	waiting := make(map[string]string, len(h.waiting))
	for statusURL, user := range h.waiting {
		waiting[statusURL] = user
	}
	h.mu.Unlock()
	for statusURL, user := range waiting {
		token := mint(t, user, false)
		testenv.Eventually(t, 30*time.Second, "request "+statusURL+" to be settled", func() bool {
			status, body := h.call("poll", "GET", statusURL, token, nil)
			if status == http.StatusAccepted || status == 0 {
				return false
			}
			h.settled(statusURL, user, status, body)
			return true
		})
	}
	allowed := map[string]bool{"place 202": true, "place 503": true, "poll 202": true, "poll 201": true, "poll 200": true,
		"poll 409": true, "poll 503": true}
	for outcome, n := range h.statuses {
		if !allowed[outcome] {
			t.Errorf("%d answers %q", n, outcome)
		}
	}
	t.Logf("answers %v; %d requests still waiting at the end, each followed to its outcome; slowest %s",
		h.statuses, len(waiting), h.slowest.Round(time.Millisecond))
	return h.acked, h.statuses
}

// returningShopper is a shopper who, asked again and again, tries to buy: a 201
// at once, or for a queued sale the 201 its request settles with. It
// answers whether the last try bought, so that Eventually measures how
// long after a fault the service sells again.
type returningShopper struct {
	t                     *testing.T
	url, saleID, itemID   string
	tries                 int
	user, token, statusID string
}

func (s *returningShopper) buys() bool {
	ask := &queuedHerd{statuses: map[string]int{}, http: &http.Client{Timeout: hangLimit}, url: s.url}
	if s.statusID == "" {
		s.tries++
		s.user = fmt.Sprintf("returning-%d", s.tries)
		s.token = mint(s.t, s.user, false)
		status, body := ask.call("place", "POST", "/flash-sales/"+s.saleID+"/orders", s.token, map[string]any{"item_id": s.itemID, "quantity": 1})
		if status == http.StatusAccepted {
			s.statusID, _ = body["status_url"].(string)
		}
		return status == http.StatusCreated
	}
	switch status, _ := ask.call("poll", "GET", s.statusID, s.token, nil); status {
	case http.StatusAccepted, http.StatusServiceUnavailable, 0:
		return false
	case http.StatusCreated:
		return true
	}
	s.statusID = "" // refused: another shopper tries
	return false
}
