package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/postgres"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/redis/redistest"
)

// With FLASHSALE_ACK=redis a 201 is answered once Redis's AOF holds the
// order, before PostgreSQL has it. A fleet of two sells exactly the stock;
// then both instances and Redis die at once, with kill -9, the moment the
// last answer is out. After Redis restarts from its AOF, one new instance
// has every acknowledged order, and PostgreSQL gets each of them from the
// journal.
func TestRedisAckSurvivesTheCrashOfEveryProcess(t *testing.T) {
	redisDir, redisPort := t.TempDir(), redistest.SparePorts(t, 1)[0]
	addr, redisProcess := redistest.StartAOFServer(t, redisDir, redisPort)
	d := deployment{
		redisURL: "redis://" + addr, prefix: "fs", postgresURL: pgtest.Schema(t),
		settings: map[string]string{"FLASHSALE_ACK": "redis"},
	}
	var urls []string
	var kills []func()
	for range 2 {
		url, kill := d.startChild(t)
		urls, kills = append(urls, url), append(kills, kill)
	}
	const stockSize, users = 30, 120
	saleID, itemID := createSale(t, client{t, urls[0]}, stockSize, 600)
	tokens := make([]string, users)
	for i := range tokens {
		tokens[i] = mint(t, fmt.Sprintf("shopper-%d", i), false)
	}
	won := make([]string, users)
	var herd sync.WaitGroup
	for i := range users {
		herd.Go(func() {
			c := client{t, urls[i%len(urls)]}
			for {
				status, body := c.call("POST", "/flash-sales/"+saleID+"/orders", tokens[i], map[string]any{"item_id": itemID, "quantity": 1})
				switch {
				case status == http.StatusServiceUnavailable:
					time.Sleep(20 * time.Millisecond)
					continue
				case status == http.StatusCreated:
					won[i], _ = body["order_id"].(string)
				case status != http.StatusConflict:
					t.Errorf("shopper %d: %d %v", i, status, body)
				}
				return
			}
		})
	}
	herd.Wait()
	for _, kill := range kills {
		kill()
	}
	if err := redisProcess.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = redisProcess.Wait()

	acknowledged := 0
	for _, id := range won {
		if id != "" {
			acknowledged++
		}
	}
	if acknowledged != stockSize {
		t.Fatalf("%d reservations for a stock of %d", acknowledged, stockSize)
	}

	redistest.StartAOFServer(t, redisDir, redisPort)
	url, _ := d.startInProcess(t)
	c := client{t, url}
	for i, id := range won {
		if id == "" {
			continue
		}
		status, o := c.call("GET", "/orders/"+id, tokens[i], nil)
		if status != http.StatusOK || o["status"] != "reserved" {
			t.Errorf("acknowledged order %s after the crash: %d %v", id, status, o)
		}
	}
	if it := stock(t, c, saleID); it["reserved"] != float64(stockSize) || it["available"] != 0.0 {
		t.Errorf("stock after the crash: %v, want all %d reserved", it, stockSize)
	}
	store, err := postgres.Open(t.Context(), d.postgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitFor(t, 10*time.Second, "PostgreSQL to hold every acknowledged order", func() bool {
		for _, id := range won {
			if id == "" {
				continue
			}
			if _, err := store.Order(t.Context(), id); err != nil {
				return false
			}
		}
		return true
	})
}

// With FLASHSALE_ACK=redis a PostgreSQL crash does not stop the sale:
// reservations go on being acknowledged from Redis's AOF while it is down,
// and every one of them reaches PostgreSQL once it is back.
func TestRedisAckSellsThroughAPostgresCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	server := pgtest.StartServer(t)
	addr, _ := redistest.StartAOFServer(t, t.TempDir(), 0)
	d := deployment{redisURL: "redis://" + addr, prefix: "fs", postgresURL: server.URL(),
		settings: map[string]string{"FLASHSALE_ACK": "redis"}}
	url, _ := d.startInProcess(t)
	saleID, itemID := createSale(t, client{t, url}, 100_000, 600)

	var (
		mu       sync.Mutex
		acked    = map[string]string{} // order id -> user
		statuses = map[int]int{}
		next     atomic.Int64
		stop     = make(chan struct{})
		herd     sync.WaitGroup
	)
	for range 8 {
		herd.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				user := fmt.Sprintf("shopper-%d", next.Add(1))
				status, body := placeOrder(t, url, user, saleID, itemID)
				mu.Lock()
				statuses[status]++
				if status == http.StatusCreated {
					acked[body["order_id"].(string)] = user
				}
				mu.Unlock()
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor(t, 30*time.Second, "200 reservations", func() bool { return count() >= 200 })
	server.Crash()
	down := count()
	waitFor(t, 30*time.Second, "200 reservations while PostgreSQL is down", func() bool { return count() >= down+200 })
	server.Start()
	close(stop)
	herd.Wait()

	for status, n := range statuses {
		if status != http.StatusCreated {
			t.Errorf("%d answers with status %d; with the Redis ack every shopper gets a 201 here", n, status)
		}
	}
	store, err := postgres.Open(t.Context(), server.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitFor(t, 30*time.Second, "PostgreSQL to hold every acknowledged order", func() bool {
		for orderID := range acked {
			if _, err := store.Order(t.Context(), orderID); err != nil {
				return false
			}
		}
		return true
	})
	if it := stock(t, client{t, url}, saleID); int(it["reserved"].(float64)) != len(acked) {
		t.Errorf("%d units reserved for %d acknowledged orders", int(it["reserved"].(float64)), len(acked))
	}
	t.Logf("%d reservations acknowledged, %d of them while PostgreSQL was down", len(acked), len(acked)-down)
}
