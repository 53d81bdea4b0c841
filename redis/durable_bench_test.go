package redis_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/sqlite"
)

// Reservations acknowledged from Redis itself: each is the reserve script
// journaling its order and WAITAOF 1 0 on the same connection, on a server
// of the benchmark's own that writes its AOF and fsyncs every second, where
// a client waiting in WAITAOF has the server fsync at once, one fsync for
// all the writes of an event-loop turn. No persister runs: this is the
// acknowledgement alone. It is the alternative to acknowledging after
// PostgreSQL's group commit (checkout's BenchmarkPlaceOrder compares the
// two whole paths); docs/BENCHMARKS.md has the figures.
func BenchmarkJournalReserve(b *testing.B) {
	addr, _ := redistest.StartAOFServer(b, b.TempDir(), 0)
	client := redistest.Connect(b, "redis://"+addr)
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: "fs"})
	// The journal's store is not written: nothing persists here.
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "flashsale.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	journal, err := redis.NewJournal(context.Background(), inv, redis.JournalOptions{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	snap := benchSnapshot(int64(b.N))
	if err := inv.Load(context.Background(), snap); err != nil {
		b.Fatal(err)
	}
	runReservations(b, func(ctx context.Context, id string) error {
		req := benchRequest(snap, id, id)
		_, err := journal.ReserveJournaled(ctx, req, benchOrder(req))
		return err
	})
}
