package redis_test

import (
	"context"
	"testing"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

// Reservations acknowledged only once on disk in Redis itself: a server of
// the benchmark's own with appendfsync always writes and fsyncs the AOF
// before it answers, batching the commands of one event-loop turn into one
// fsync, which is what WAITAOF 1 0 waits for on a primary that fsyncs
// every second (WAITAOF needs Redis 7.2; Debian 12 has 7.0). It is the
// alternative to acknowledging after PostgreSQL's group commit
// (checkout's BenchmarkPlaceOrder/distributed); docs/BENCHMARKS.md compares
// them.
func BenchmarkInventoryReserveAOFAlways(b *testing.B) {
	addr, _ := redistest.StartServer(b, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableRetry: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.Close)
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: "fs"})
	snap := benchSnapshot(int64(b.N))
	if err := inv.Load(context.Background(), snap); err != nil {
		b.Fatal(err)
	}
	runReservations(b, func(ctx context.Context, id string) error {
		_, err := inv.Reserve(ctx, benchRequest(snap, id, id))
		return err
	})
}
