package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

// A stopped Redis keeps its connections open and answers nothing: without
// a deadline of its own each call would wait for rueidis's connection
// timeout (ten seconds), so the errors below can only come from the guard.
func TestStalledRedisIsUnavailableAtOnceAndProbedUntilBack(t *testing.T) {
	addr, server := redistest.StartServer(t, "--save", "", "--appendonly", "no")
	client, err := redis.Connect("redis://"+addr, redis.ClientOptions{CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: "guard"})
	ctx := t.Context()
	snap := flashsale.ItemSnapshot{SaleID: "s", ItemID: "i", Total: 10, PerUserLimit: 1,
		StartTime: time.Now().Add(-time.Hour), EndTime: time.Now().Add(time.Hour)}
	if err := inv.Load(ctx, snap); err != nil {
		t.Fatal(err)
	}

	resume := redistest.Pause(t, server)

	reserve := flashsale.ReserveRequest{SaleID: "s", ItemID: "i", UserID: "u", Quantity: 1, OrderID: "o", Now: time.Now(), TTL: time.Minute}
	_, err = inv.Reserve(ctx, reserve)
	if !errors.Is(err, redis.ErrStalled) || !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Fatalf("Reserve on a stopped Redis = %v; want unavailable, stalled", err)
	}
	for range 2 {
		if _, err := inv.Stock(ctx, "i"); !errors.Is(err, redis.ErrStalled) {
			t.Fatalf("Stock on a stopped Redis = %v; want stalled", err)
		}
	}
	if !redis.Failing(client) {
		t.Fatal("three stalls in a row and the client still calls Redis")
	}
	_, err = inv.Stock(ctx, "i")
	if !errors.Is(err, redis.ErrCircuitOpen) || !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Fatalf("Stock while failing = %v; want unavailable, not sent", err)
	}

	resume()
	testenv.Eventually(t, time.Minute, "Redis to answer again", func() bool { _, err := inv.Stock(ctx, "i"); return err == nil })
	if redis.Failing(client) {
		t.Fatal("Redis answers again and the client still fails fast")
	}
	// The stalled reservation ran when Redis woke: the in-doubt rule is
	// the caller's, the stock tells the truth.
	st, err := inv.Stock(ctx, "i")
	if err != nil || st.Available+st.Reserved+st.Sold != st.Total {
		t.Fatalf("Stock after the stall = %+v, %v; want consistent", st, err)
	}
}
