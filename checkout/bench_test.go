package checkout_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/postgres"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/sqlite"
)

// BenchmarkPlaceOrder measures durable-ack reservations: each operation is
// a place-order that returns only once its order is committed, as a 201
// does, from many goroutines at once (a rush), in each deployment.
func BenchmarkPlaceOrder(b *testing.B) {
	b.Run("embedded", func(b *testing.B) {
		store, err := sqlite.Open(context.Background(), b.TempDir()+"/db")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { store.Close() })
		benchPlaceOrder(b, memory.NewInventory(), store, nil)
	})
	b.Run("distributed", func(b *testing.B) {
		inventory, store := distributed(b, redistest.URL(b))
		benchPlaceOrder(b, inventory, store, nil)
	})
	// Acknowledged from Redis's AOF (WAITAOF) instead of PostgreSQL's
	// commit, with the persister moving the orders into PostgreSQL at the
	// same time, as FLASHSALE_ACK=redis runs.
	b.Run("distributed-redis-ack", func(b *testing.B) {
		inventory, store := distributed(b, redistest.AOFURL(b))
		journal := redistest.Journal(b, inventory, redis.JournalOptions{Store: store})
		testenv.Background(b, journal.Run)
		benchPlaceOrder(b, inventory, store, journal)
		// How far behind the persister was when the rush ended.
		start := time.Now()
		if err := journal.Persist(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds()*1000, "backlog-ms")
	})
}

// distributed opens an inventory under a key prefix of its own on the Redis
// at redisURL and a store in a PostgreSQL schema of its own.
func distributed(b *testing.B, redisURL string) (*redis.Inventory, *postgres.Store) {
	client := redistest.Connect(b, redisURL)
	inventory := redis.NewInventory(client, redis.Options{KeyPrefix: redistest.Prefix(b, client)})
	store, err := postgres.Open(context.Background(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	return inventory, store
}

func benchPlaceOrder(b *testing.B, inventory flashsale.Inventory, store flashsale.OrderStore, journal flashsale.OrderJournal) {
	ctx := context.Background()
	cfg := checkout.Config{Inventory: inventory, Store: store, Payments: paysim.New(paysim.Options{})}
	if journal != nil {
		cfg.Store, cfg.Journal = checkout.JournaledStore(store, journal, nil), journal
	}
	svc, err := checkout.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "bench", StartTime: now.Add(-time.Minute), EndTime: now.Add(time.Hour),
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD",
			TotalQuantity: int64(b.N), PerUserLimit: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			user := strconv.FormatInt(next.Add(1), 10)
			if _, created, err := svc.PlaceOrder(ctx, checkout.PlaceOrder{UserID: user, SaleID: sale.ID, ItemID: sale.Items[0].ID, Quantity: 1}); err != nil || !created {
				b.Errorf("place order: created %v, %v", created, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}
