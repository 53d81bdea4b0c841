package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/postgres"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

// hangLimit is how long a fault test's shopper waits for an answer before
// calling the request hung. It is three times the Redis deadline (1 s) and
// shorter than the faults, so a request that waited for Redis to come back
// instead of failing fast shows up as hung.
const hangLimit = 3 * time.Second

// shoppingHerd is shoppers, each new, who press Buy at one instance and,
// when it pays, then pay (every second one), cancel (every fourth) or walk
// away, until stopped. Every answer is counted by status; an answer slower
// than hangLimit is counted as hung.
type shoppingHerd struct {
	mu       sync.Mutex
	acked    map[string]string // order id -> user, for every 201
	statuses map[string]int    // "place 201", "pay 503", ... and "hung"
	slowest  time.Duration
	done     chan struct{}
	shoppers sync.WaitGroup
	http     *http.Client
}

func startShoppingHerd(t *testing.T, url, saleID, itemID string, shoppers int, paying bool) *shoppingHerd {
	h := &shoppingHerd{acked: map[string]string{}, statuses: map[string]int{}, done: make(chan struct{}),
		http: &http.Client{Timeout: hangLimit}}
	var next atomic.Int64
	for range shoppers {
		h.shoppers.Go(func() {
			for {
				select {
				case <-h.done:
					return
				default:
				}
				n := next.Add(1)
				user := fmt.Sprintf("shopper-%d", n)
				token := mint(t, user, false)
				status, body := h.call("place", url+"/flash-sales/"+saleID+"/orders", token, map[string]any{"item_id": itemID, "quantity": 1})
				if status != http.StatusCreated {
					continue
				}
				orderID := body["order_id"].(string)
				h.mu.Lock()
				h.acked[orderID] = user
				h.mu.Unlock()
				switch {
				case !paying:
				case n%2 == 0:
					h.call("pay", url+"/orders/"+orderID+"/pay", token, map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card"})
				case n%4 == 1:
					h.call("cancel", url+"/orders/"+orderID+"/cancel", token, nil)
				}
			}
		})
	}
	return h
}

// call sends one request and counts its answer.
func (h *shoppingHerd) call(what, url, token string, body any) (int, map[string]any) {
	var payload bytes.Buffer
	if body != nil {
		_ = json.NewEncoder(&payload).Encode(body)
	}
	req, _ := http.NewRequest("POST", url, &payload)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := h.http.Do(req)
	took := time.Since(start)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slowest = max(h.slowest, took)
	if err != nil {
		h.statuses["hung"]++ // or refused: either way no answer
		return 0, nil
	}
	defer resp.Body.Close()
	var answer map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	h.statuses[what+" "+strconv.Itoa(resp.StatusCode)]++
	return resp.StatusCode, answer
}

// answers is how many answers of one kind ("place 503") the herd had.
func (h *shoppingHerd) answers(outcome string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.statuses[outcome]
}

func (h *shoppingHerd) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// stop ends the herd and checks every answer it had: a success or 503,
// never a 500 or no answer at all. It returns the acknowledged orders
// (order id -> user) and the answers counted ("place 201", ...).
func (h *shoppingHerd) stop(t *testing.T) (acked map[string]string, statuses map[string]int) {
	t.Helper()
	close(h.done)
	h.shoppers.Wait()
	allowed := map[string]bool{"place 201": true, "place 503": true, "pay 200": true, "pay 503": true,
		"cancel 200": true, "cancel 503": true}
	for outcome, n := range h.statuses {
		if !allowed[outcome] {
			t.Errorf("%d answers %q", n, outcome)
		}
	}
	t.Logf("answers %v; slowest %s", h.statuses, h.slowest.Round(time.Millisecond))
	return h.acked, h.statuses
}

// storeCounts reads an item's counts from PostgreSQL itself.
func storeCounts(t *testing.T, postgresURL, itemID string) flashsale.Stock {
	t.Helper()
	store, err := postgres.Open(t.Context(), postgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	claims, err := store.Claims(t.Context(), itemID)
	if err != nil {
		t.Fatal(err)
	}
	return claims.Stock()
}

// stockOnceBack is stock once the instance reads Redis again: nil while
// it answers 503.
func stockOnceBack(t *testing.T, c client, saleID string) map[string]any {
	t.Helper()
	if status, _ := c.call("GET", "/admin/flash-sales/"+saleID+"/stats", mint(t, "admin", true), nil); status == http.StatusServiceUnavailable {
		return nil
	}
	return stock(t, c, saleID)
}

// followsTheStore reports whether the instance's stats (read from Redis)
// equal PostgreSQL's counts.
func followsTheStore(t *testing.T, url, postgresURL, saleID, itemID string) bool {
	t.Helper()
	it := stockOnceBack(t, client{t, url}, saleID)
	if it == nil {
		return false
	}
	want := storeCounts(t, postgresURL, itemID)
	return int64(it["available"].(float64)) == want.Available && int64(it["reserved"].(float64)) == want.Reserved &&
		int64(it["sold"].(float64)) == want.Sold
}

// everyOrderDurable checks that PostgreSQL holds every acknowledged order.
func everyOrderDurable(t *testing.T, postgresURL string, acked map[string]string) {
	t.Helper()
	store, err := postgres.Open(t.Context(), postgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for id := range acked {
		if _, err := store.Order(t.Context(), id); err != nil {
			t.Errorf("acknowledged order %s: %v", id, err)
		}
	}
}

// Redis stopped mid-herd (SIGSTOP: its connections stay open and nothing
// answers) for longer than any request may wait: every request is
// answered quickly, 503 while Redis is away, never a 500 and never a hang;
// /readyz fails at once; and once Redis is back the stock follows the
// store, and every acknowledged order is in PostgreSQL.
func TestRedisStalledMidHerdAnswersEveryRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis server")
	}
	addr, redisProcess := redistest.StartServer(t, "--save", "", "--appendonly", "no")
	// Reservations whose scripts ran after their requests gave up are
	// orphans until the grace ends: a short one lets the stock converge.
	d := fleet{redisURL: "redis://" + addr, prefix: "fs", postgresURL: pgtest.Schema(t),
		settings: map[string]string{"FLASHSALE_ORPHAN_GRACE": "3s"}}
	url, _ := d.startInProcess(t)
	saleID, itemID := createSale(t, client{t, url}, 100_000, 600)

	h := startShoppingHerd(t, url, saleID, itemID, 16, true)
	testenv.Eventually(t, 30*time.Second, "100 reservations", func() bool { return h.count() >= 100 })
	stall(t, redisProcess, 6*time.Second, func() {
		testenv.Eventually(t, 5*time.Second, "/readyz to fail", func() bool { return readyStatus(t, url) == http.StatusServiceUnavailable })
	})
	before := h.count()
	testenv.Eventually(t, 30*time.Second, "sales to go on after the stall", func() bool { return h.count() >= before+100 })
	acked, _ := h.stop(t)

	if h.statuses["place 503"] == 0 {
		t.Error("no 503 while Redis was stopped: the stall did not reach the herd")
	}
	testenv.Eventually(t, 15*time.Second, "the stock to follow the store", func() bool { return followsTheStore(t, url, d.postgresURL, saleID, itemID) })
	everyOrderDurable(t, d.postgresURL, acked)
}

// stall stops a server for d, runs during while it is stopped, and lets
// it go on.
func stall(t *testing.T, server *os.Process, d time.Duration, during func()) {
	t.Helper()
	resume := redistest.Pause(t, server)
	stopped := time.Now()
	during()
	time.Sleep(d - time.Since(stopped)) // the fault's length, not an ordering
	resume()
}

// readyStatus is /readyz's status, 0 when it did not answer in hangLimit.
func readyStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: hangLimit}).Get(url + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Redis restarted from its AOF mid-herd, gracefully or with kill -9,
// while shoppers pay and cancel: the payments and cancellations that
// committed while it was away reach it within seconds of its return, so
// the stats equal PostgreSQL's counts; and a shopper whose cancel fell in
// the gap gets a new reservation on the next press.
func TestRedisRestartMidHerdFollowsTheStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis servers")
	}
	for _, restart := range []struct {
		name string
		stop syscall.Signal
	}{{"graceful", syscall.SIGTERM}, {"kill -9", syscall.SIGKILL}} {
		t.Run(restart.name, func(t *testing.T) {
			redisDir, redisPort := t.TempDir(), redistest.SparePorts(t, 1)[0]
			addr, redisProcess := redistest.StartAOFServer(t, redisDir, redisPort)
			// A kill -9 cuts off the answers of scripts that ran: their
			// reservations have no order and are held until the orphan
			// grace ends, which is short here so the counts can meet.
			d := fleet{redisURL: "redis://" + addr, prefix: "fs", postgresURL: pgtest.Schema(t),
				settings: map[string]string{"FLASHSALE_ORPHAN_GRACE": "3s"}}
			url, _ := d.startInProcess(t)
			c := client{t, url}
			saleID, itemID := createSale(t, c, 100_000, 600)
			status, first := placeOrder(t, url, "blinker", saleID, itemID)
			if status != http.StatusCreated {
				t.Fatalf("blinker's first order: %d %v", status, first)
			}

			h := startShoppingHerd(t, url, saleID, itemID, 8, true)
			testenv.Eventually(t, 30*time.Second, "100 reservations", func() bool { return h.count() >= 100 })
			if err := redisProcess.Signal(restart.stop); err != nil {
				t.Fatal(err)
			}
			_, _ = redisProcess.Wait()
			// The cancel commits in PostgreSQL; Redis cannot be told.
			if status, o := c.call("POST", "/orders/"+first["order_id"].(string)+"/cancel", mint(t, "blinker", false), nil); status != http.StatusOK || o["status"] != "cancelled" {
				t.Fatalf("cancel while Redis is down: %d %v", status, o)
			}
			time.Sleep(time.Second) // Redis stays away a while, the herd going on
			redistest.StartAOFServer(t, redisDir, redisPort)
			back := time.Now()

			var again map[string]any
			testenv.Eventually(t, 10*time.Second, "blinker's press to be answered", func() bool {
				status, again = placeOrder(t, url, "blinker", saleID, itemID) // told to retry while the instance reconnects
				return status != http.StatusServiceUnavailable
			})
			if status != http.StatusCreated || again["order_id"] == first["order_id"] {
				t.Errorf("blinker's press after the cancel: %d %v; want a new reservation", status, again)
			}
			acked, _ := h.stop(t)
			testenv.Eventually(t, 10*time.Second-time.Since(back), "the stats to equal PostgreSQL's counts", func() bool {
				return followsTheStore(t, url, d.postgresURL, saleID, itemID)
			})
			t.Logf("stats equal PostgreSQL's counts %s after Redis was back", time.Since(back).Round(time.Millisecond))
			everyOrderDurable(t, d.postgresURL, acked)
		})
	}
}

// Redis's scripts flushed (SCRIPT FLUSH: every EVALSHA then answers
// NOSCRIPT) or its data wiped (FLUSHALL: the hot state gone, as after an
// operator's mistake or a failover to an empty replica) mid-herd: every
// request is answered (201 or 503, never a 500 or a hang), sales go on by
// themselves, the stats come to equal PostgreSQL's counts with the
// invariant kept, and every acknowledged order is in PostgreSQL.
func TestRedisFlushedMidHerd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Redis servers")
	}
	for _, flush := range []struct {
		name    string
		command []string
	}{{"SCRIPT FLUSH", []string{"SCRIPT", "FLUSH"}}, {"FLUSHALL", []string{"FLUSHALL"}}} {
		t.Run(flush.name, func(t *testing.T) {
			addr, _ := redistest.StartServer(t, "--save", "", "--appendonly", "no")
			d := fleet{redisURL: "redis://" + addr, prefix: "fs", postgresURL: pgtest.Schema(t),
				settings: map[string]string{"FLASHSALE_ORPHAN_GRACE": "3s"}}
			url, _ := d.startInProcess(t)
			saleID, itemID := createSale(t, client{t, url}, 100_000, 600)

			h := startShoppingHerd(t, url, saleID, itemID, 8, true)
			testenv.Eventually(t, 30*time.Second, "100 reservations", func() bool { return h.count() >= 100 })
			redisClient := redistest.Connect(t, "redis://"+addr)
			if err := redisClient.Do(t.Context(), redisClient.B().Arbitrary(flush.command...).Build()).Error(); err != nil {
				t.Fatal(err)
			}
			flushed, before := time.Now(), h.count()
			testenv.Eventually(t, 30*time.Second, "sales to go on after the flush", func() bool { return h.count() >= before+100 })
			t.Logf("100 more reservations %s after the flush", time.Since(flushed).Round(time.Millisecond))
			acked, _ := h.stop(t)
			testenv.Eventually(t, 15*time.Second, "the stats to equal PostgreSQL's counts", func() bool {
				return followsTheStore(t, url, d.postgresURL, saleID, itemID)
			})
			everyOrderDurable(t, d.postgresURL, acked)
		})
	}
}

// The embedded store's disk fills mid-herd (the data directory on a 3 MiB
// tmpfs): place-order answers 503 "retry", never a 500 or a hang; every
// 201 before is kept; once the space returns (the tmpfs grown) sales go
// on by themselves; the invariant holds and SQLite finds no corruption.
func TestDiskFullAnswers503AndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a disk")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("a small disk is a tmpfs, which takes root to mount: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, 0) }) // after the server's own cleanup, which came later
	url, stop := startInProcess(t, dir)
	c := client{t, url}
	saleID, itemID := createSale(t, c, 1_000_000, 600)

	h := startShoppingHerd(t, url, saleID, itemID, 8, true)
	testenv.Eventually(t, 2*time.Minute, "the disk to fill, and 50 presses refused", func() bool { return h.answers("place 503") >= 50 })
	full := h.count()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=64m"); err != nil {
		t.Fatal(err)
	}
	grown := time.Now()
	testenv.Eventually(t, 30*time.Second, "sales to go on once the space returns", func() bool { return h.count() >= full+100 })
	t.Logf("%d reservations before the disk filled; 100 more %s after it grew", full, time.Since(grown).Round(time.Millisecond))
	acked, _ := h.stop(t)

	stock(t, c, saleID) // the invariant
	for orderID, user := range acked {
		if status, o := c.call("GET", "/orders/"+orderID, mint(t, user, false), nil); status != http.StatusOK {
			t.Errorf("acknowledged order %s: %d %v", orderID, status, o)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "flashsale.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity check after the disk filled: %q, %v", integrity, err)
	}
}

// A reservation whose script ran after its request gave up (Redis stalled
// past the deadline) has no order: its shopper is told when to retry, can
// buy again once the orphan grace is over, and the units of a shopper who
// never comes back return within the grace and a scan.
func TestReservationOfAStalledRequestIsReleasedAfterTheGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis server")
	}
	addr, redisProcess := redistest.StartServer(t, "--save", "", "--appendonly", "no")
	// The grace is long enough that the stalled reservations are seen
	// before it ends; the deadline leaves the two requests time to send
	// their scripts before the client, failing, stops calling Redis.
	const grace = 8 * time.Second
	d := fleet{redisURL: "redis://" + addr, prefix: "fs", postgresURL: pgtest.Schema(t),
		settings: map[string]string{"FLASHSALE_ORPHAN_GRACE": grace.String(), "FLASHSALE_REDIS_TIMEOUT": "2s"}}
	url, _ := d.startInProcess(t)
	c := client{t, url}
	saleID, itemID := createSale(t, c, 10, 600)
	// One order first, so Redis knows the script: a stalled EVALSHA of a
	// script it does not know runs nothing when Redis wakes.
	if status, body := placeOrder(t, url, "early", saleID, itemID); status != http.StatusCreated {
		t.Fatalf("early order: %d %v", status, body)
	}

	stall(t, redisProcess, 3*time.Second, func() {
		var shoppers sync.WaitGroup
		for _, user := range []string{"returning", "gone"} {
			shoppers.Go(func() {
				if status, body := placeOrder(t, url, user, saleID, itemID); status != http.StatusServiceUnavailable {
					t.Errorf("%s's order while Redis is stopped: %d %v; want 503", user, status, body)
				}
			})
		}
		shoppers.Wait()
	})
	// Redis ran both scripts when it woke: two more units held, no order.
	var seen []map[string]any
	defer func() {
		if t.Failed() {
			t.Logf("stats seen: %v", seen)
		}
	}()
	testenv.Eventually(t, 10*time.Second, "the stalled reservations to show", func() bool {
		it := stockOnceBack(t, c, saleID)
		if len(seen) == 0 || fmt.Sprint(seen[len(seen)-1]) != fmt.Sprint(it) {
			seen = append(seen, it)
		}
		return it["reserved"] == 3.0
	})
	status, body := placeOrder(t, url, "returning", saleID, itemID)
	retry, _ := strconv.Atoi(fmt.Sprint(body["error"].(map[string]any)["retry_after_ms"]))
	if status != http.StatusServiceUnavailable || retry < 1000 || time.Duration(retry)*time.Millisecond > grace {
		t.Fatalf("press within the grace: %d %v; want 503 with a retry within the grace", status, body)
	}
	testenv.Eventually(t, 2*grace, "the shopper to buy again", func() bool {
		status, _ := placeOrder(t, url, "returning", saleID, itemID)
		return status == http.StatusCreated
	})
	testenv.Eventually(t, 2*grace, "the orphan's unit to return", func() bool {
		it := stock(t, c, saleID)
		return it["reserved"] == 2.0 && it["available"] == 8.0
	})
	if !followsTheStore(t, url, d.postgresURL, saleID, itemID) {
		t.Error("stats differ from PostgreSQL's counts")
	}
}

// An instance killed between its reservation in Redis and the commit in
// PostgreSQL leaves an orphan: another instance releases it after the
// grace, and its shopper can buy again.
func TestOrphanOfAKilledInstanceIsReleasedAfterTheGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	server := pgtest.StartServer(t)
	t.Cleanup(server.Thaw)
	const grace = 3 * time.Second
	d := newFleet(t)
	d.postgresURL = server.URL()
	d.settings = map[string]string{"FLASHSALE_ORPHAN_GRACE": grace.String()}
	dying, kill := d.startChild(t)
	saleID, itemID := createSale(t, client{t, dying}, 10, 600)

	server.Freeze() // the commit will wait, the reservation made
	token := mint(t, "orphaned", false)
	go func() {
		req, _ := http.NewRequest("POST", dying+"/flash-sales/"+saleID+"/orders", bytes.NewReader([]byte(`{"item_id":"`+itemID+`","quantity":1}`)))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close() // killed before it could answer, as a rule
		}
	}()
	inventory := redis.NewInventory(redistest.Connect(t, d.redisURL), redis.Options{KeyPrefix: d.prefix})
	testenv.Eventually(t, 10*time.Second, "the reservation to be in Redis", func() bool {
		st, err := inventory.Stock(t.Context(), itemID)
		return err == nil && st.Reserved == 1
	})
	kill()
	server.Thaw()

	url, _ := d.startInProcess(t)
	c := client{t, url}
	if status, body := placeOrder(t, url, "orphaned", saleID, itemID); status != http.StatusServiceUnavailable && status != http.StatusCreated {
		t.Fatalf("the orphan's shopper: %d %v; want 503 within the grace, or a new reservation after it", status, body)
	}
	testenv.Eventually(t, 15*time.Second, "the shopper to buy again", func() bool {
		status, _ := placeOrder(t, url, "orphaned", saleID, itemID)
		return status == http.StatusCreated
	})
	testenv.Eventually(t, 10*time.Second, "the stats to equal PostgreSQL's counts", func() bool {
		return followsTheStore(t, url, d.postgresURL, saleID, itemID)
	})
	if it := stock(t, c, saleID); it["reserved"] != 1.0 {
		t.Errorf("stock %v; want only the new reservation held", it)
	}
}

// PostgreSQL stopped mid-herd (SIGSTOP: connections open, nothing
// answers): every request is answered within the store's deadline, 503
// while it is away, never a 500 or a hang; every 201 is in PostgreSQL; and
// once it is back, commits cut off in doubt are settled and the stock
// follows the store.
func TestPostgresStalledMidHerdAnswersEveryRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	server := pgtest.StartServer(t)
	t.Cleanup(server.Thaw)
	d := newFleet(t)
	d.postgresURL = server.URL()
	d.settings = map[string]string{"FLASHSALE_STORE_TIMEOUT": "1s", "FLASHSALE_ORPHAN_GRACE": "3s"}
	url, _ := d.startInProcess(t)
	saleID, itemID := createSale(t, client{t, url}, 100_000, 600)

	h := startShoppingHerd(t, url, saleID, itemID, 16, true)
	testenv.Eventually(t, 30*time.Second, "100 reservations", func() bool { return h.count() >= 100 })
	server.Freeze()
	frozen := time.Now()
	testenv.Eventually(t, 5*time.Second, "/readyz to fail", func() bool { return readyStatus(t, url) == http.StatusServiceUnavailable })
	time.Sleep(5*time.Second - time.Since(frozen)) // the fault's length, not an ordering
	server.Thaw()
	before := h.count()
	testenv.Eventually(t, 30*time.Second, "sales to go on after the stall", func() bool { return h.count() >= before+100 })
	acked, _ := h.stop(t)

	if h.statuses["place 503"] == 0 {
		t.Error("no 503 while PostgreSQL was stopped: the stall did not reach the herd")
	}
	everyOrderDurable(t, d.postgresURL, acked)
	testenv.Eventually(t, 15*time.Second, "the stock to follow the store", func() bool { return followsTheStore(t, url, d.postgresURL, saleID, itemID) })
}

// While Redis does not answer, the fleet's shared per-user limit holds in
// each instance instead of admitting everybody.
func TestOrderLimitHoldsWhileRedisIsAway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis server")
	}
	addr, redisProcess := redistest.StartServer(t, "--save", "", "--appendonly", "no")
	d := fleet{redisURL: "redis://" + addr, prefix: "fs", postgresURL: pgtest.Schema(t)}
	url, _ := d.startInProcess(t, "--rate-limit-order-user", "1/m")
	saleID, itemID := createSale(t, client{t, url}, 10, 600)

	stall(t, redisProcess, 0, func() {
		if status, body := placeOrder(t, url, "alice", saleID, itemID); status != http.StatusServiceUnavailable {
			t.Fatalf("first attempt while Redis is stopped: %d %v; want 503 (admitted, the reservation failed)", status, body)
		}
		if status, body := placeOrder(t, url, "alice", saleID, itemID); status != http.StatusTooManyRequests {
			t.Fatalf("second attempt while Redis is stopped: %d %v; want 429 from the instance's own limiter", status, body)
		}
	})
	if n := metric(t, url, "flashsale_rate_limit_local_decisions_total"); n == "0" {
		t.Error("no decision counted as local")
	}
}
