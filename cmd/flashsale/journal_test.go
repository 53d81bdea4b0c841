package main

import (
	"fmt"
	"net/http"
	"sync"
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
