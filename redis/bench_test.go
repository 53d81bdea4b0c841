package redis_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

// benchParallelism is goroutines per GOMAXPROCS: many requests in flight at
// once, as in a rush, so that rueidis pipelines them.
const benchParallelism = 64

var (
	benchStart = time.Date(2030, time.March, 1, 9, 0, 0, 0, time.UTC)
	benchNow   = benchStart.Add(time.Minute)
)

// benchItem loads an item of total units, under a prefix of the benchmark's
// own, into a fresh inventory.
func benchItem(b *testing.B, total int64) (rueidis.Client, *redis.Inventory, flashsale.ItemSnapshot) {
	b.Helper()
	client := redistest.Connect(b, redistest.URL(b))
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: redistest.Prefix(b, client)})
	snap := benchSnapshot(total)
	if err := inv.Load(context.Background(), snap); err != nil {
		b.Fatal(err)
	}
	return client, inv, snap
}

// benchSnapshot is an active item of total units, one per user.
func benchSnapshot(total int64) flashsale.ItemSnapshot {
	return flashsale.ItemSnapshot{
		SaleID:       "sale",
		ItemID:       "phone",
		Total:        total,
		PerUserLimit: 1,
		StartTime:    benchStart,
		EndTime:      benchStart.Add(time.Hour),
	}
}

func benchRequest(snap flashsale.ItemSnapshot, userID, orderID string) flashsale.ReserveRequest {
	return flashsale.ReserveRequest{
		SaleID: snap.SaleID, ItemID: snap.ItemID, UserID: userID, Quantity: 1,
		OrderID: orderID, Now: benchNow, TTL: 10 * time.Minute,
	}
}

// rawReserve returns a function that sends the reserve script as a bare
// EVALSHA, with the arguments the adapter would send, and returns the
// script's outcome.
func rawReserve(b *testing.B, client rueidis.Client, inv *redis.Inventory, snap flashsale.ItemSnapshot) func(ctx context.Context, userID, orderID string) (string, error) {
	b.Helper()
	sha, err := client.Do(context.Background(), client.B().ScriptLoad().Script(redis.ReserveLua).Build()).ToString()
	if err != nil {
		b.Fatal(err)
	}
	keys := inv.ReserveKeys(snap.ItemID)
	reservedAt := strconv.FormatInt(benchNow.UnixMicro(), 10)
	expiresAt := strconv.FormatInt(benchNow.Add(10*time.Minute).UnixMicro(), 10)
	return func(ctx context.Context, userID, orderID string) (string, error) {
		eval := client.B().Evalsha().Sha1(sha).Numkeys(int64(len(keys))).Key(keys...).
			Arg(snap.SaleID, userID, "1", orderID, reservedAt, expiresAt).Build()
		reply, err := client.Do(ctx, eval).ToArray()
		if err != nil {
			return "", err
		}
		return reply[0].ToString()
	}
}

// runReservations runs reserve from many goroutines, each call as a new user
// whose id is also the order id, and reports the rate.
func runReservations(b *testing.B, reserve func(ctx context.Context, id string) error) {
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := reserve(ctx, strconv.FormatInt(next.Add(1), 10)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}

// The ceiling: the reserve script itself, every call a reservation made.
func BenchmarkRawReserveScript(b *testing.B) {
	client, inv, snap := benchItem(b, int64(b.N))
	reserve := rawReserve(b, client, inv, snap)
	runReservations(b, func(ctx context.Context, id string) error {
		outcome, err := reserve(ctx, id, id)
		if err == nil && outcome != "new" {
			b.Errorf("reserve script answered %q, want a new reservation", outcome)
		}
		return err
	})
}

// The same reservations through the adapter.
func BenchmarkInventoryReserve(b *testing.B) {
	_, inv, snap := benchItem(b, int64(b.N))
	runReservations(b, func(ctx context.Context, id string) error {
		r, err := inv.Reserve(ctx, benchRequest(snap, id, id))
		if err == nil && r.Existing {
			b.Errorf("Reserve returned existing %+v, want a new reservation", r)
		}
		return err
	})
}

// soldOutItem is an item whose only unit is taken.
func soldOutItem(b *testing.B) (rueidis.Client, *redis.Inventory, flashsale.ItemSnapshot) {
	client, inv, snap := benchItem(b, 1)
	if _, err := inv.Reserve(context.Background(), benchRequest(snap, "winner", "winning-order")); err != nil {
		b.Fatal(err)
	}
	return client, inv, snap
}

// The answer most requests of a rush get, from the script itself.
func BenchmarkRawReserveScriptSoldOut(b *testing.B) {
	client, inv, snap := soldOutItem(b)
	reserve := rawReserve(b, client, inv, snap)
	runReservations(b, func(ctx context.Context, id string) error {
		outcome, err := reserve(ctx, id, id)
		if err == nil && outcome != "sold_out" {
			b.Errorf("reserve script answered %q, want sold_out", outcome)
		}
		return err
	})
}

// The same through the adapter, which builds the sold_out error.
func BenchmarkInventoryReserveSoldOut(b *testing.B) {
	_, inv, snap := soldOutItem(b)
	runReservations(b, func(ctx context.Context, id string) error {
		if _, err := inv.Reserve(ctx, benchRequest(snap, id, id)); !flashsale.IsCode(err, flashsale.ESoldOut) {
			b.Errorf("Reserve on a sold-out item: %v, want sold_out", err)
		}
		return nil
	})
}

// benchOrder is the order checkout journals with req.
func benchOrder(req flashsale.ReserveRequest) *flashsale.Order {
	return &flashsale.Order{ID: req.OrderID, SaleID: req.SaleID, ItemID: req.ItemID, UserID: req.UserID,
		Quantity: req.Quantity, Status: flashsale.OrderReserved, UnitPrice: 49_900, Currency: "USD",
		ReservedAt: req.Now, ExpiresAt: req.Now.Add(req.TTL), UpdatedAt: req.Now}
}
