package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
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
	d := fleet{
		redisURL: "redis://" + addr, prefix: "fs", postgresURL: pgtest.Schema(t),
		settings: map[string]string{"FLASHSALE_ACK": "redis"},
	}
	urls, kills := d.startFleet(t, 2)
	const stockSize, users = 30, 120
	saleID, itemID := createSale(t, client{t, urls[0]}, stockSize, 600)
	tokens, won := sellOut(t, urls, saleID, itemID, stockSize, users)
	for _, kill := range kills {
		kill()
	}
	if err := redisProcess.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = redisProcess.Wait()

	redistest.StartAOFServer(t, redisDir, redisPort)
	url, _ := d.startInProcess(t)
	c := client{t, url}
	for id, shopper := range won {
		// Until the dead instances' journal entries are reclaimed, a
		// lookup that must wait for them says "retry", as a client does.
		var status int
		var o map[string]any
		testenv.Eventually(t, 30*time.Second, "order "+id+" to be answered", func() bool {
			status, o = c.call("GET", "/orders/"+id, tokens[shopper], nil)
			return status != http.StatusServiceUnavailable
		})
		if status != http.StatusOK || o["status"] != "reserved" {
			t.Errorf("acknowledged order %s after the crash: %d %v", id, status, o)
		}
	}
	if it := stock(t, c, saleID); it["reserved"] != float64(stockSize) || it["available"] != 0.0 {
		t.Errorf("stock after the crash: %v, want all %d reserved", it, stockSize)
	}
	waitPersisted(t, d.postgresURL, won)
	testenv.Eventually(t, 10*time.Second, "the journal's backlog metric to come down to 0", func() bool {
		return metric(t, url, "flashsale_journal_backlog") == "0"
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
	d := fleet{redisURL: "redis://" + addr, prefix: "fs", postgresURL: server.URL(),
		settings: map[string]string{"FLASHSALE_ACK": "redis"}}
	url, _ := d.startInProcess(t)
	saleID, itemID := createSale(t, client{t, url}, 100_000, 600)

	h := startShoppingHerd(t, url, saleID, itemID, 8, false)
	testenv.Eventually(t, 30*time.Second, "200 reservations", func() bool { return h.count() >= 200 })
	server.Crash()
	down := h.count()
	testenv.Eventually(t, 30*time.Second, "200 reservations while PostgreSQL is down", func() bool { return h.count() >= down+200 })
	server.Start()
	acked, statuses := h.stop(t)
	if n := statuses["place 503"]; n > 0 {
		t.Errorf("%d answers 503; with the Redis ack every shopper gets a 201 here", n)
	}
	waitPersisted(t, server.URL(), acked)
	if it := stock(t, client{t, url}, saleID); int(it["reserved"].(float64)) != len(acked) {
		t.Errorf("%d units reserved for %d acknowledged orders", int(it["reserved"].(float64)), len(acked))
	}
	t.Logf("%d reservations acknowledged, %d of them while PostgreSQL was down", len(acked), len(acked)-down)
}

// waitPersisted waits until the PostgreSQL at url holds every order whose
// id is a key of orders: the persisters move each there from the journal.
func waitPersisted[V any](t *testing.T, url string, orders map[string]V) {
	t.Helper()
	store, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	testenv.Eventually(t, 30*time.Second, "PostgreSQL to hold every acknowledged order", func() bool {
		for id := range orders {
			if _, err := store.Order(t.Context(), id); err != nil {
				return false
			}
		}
		return true
	})
}
