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
// journaling its order, then the journal's WAITAOF round (shared by every
// reservation of the item answered before it), on a server of the
// benchmark's own that fsyncs its AOF before answering (appendfsync
// always, as FLASHSALE_ACK=redis needs: with everysec WAITAOF waits for
// the next second's fsync). No persister runs: this is the acknowledgement
// alone. It is the alternative to acknowledging after PostgreSQL's group
// commit (checkout's BenchmarkPlaceOrder compares the two whole paths);
// docs/BENCHMARKS.md has the figures.
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
	journal := redistest.Journal(b, inv, redis.JournalOptions{Store: store})
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
