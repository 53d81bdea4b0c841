package checkout_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/auth"
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
		benchPlaceOrder(b, checkout.Config{Inventory: memory.NewInventory(), Store: store})
	})
	// Every shopper admitted by a waiting room beforehand, pressing with
	// the admission token: the token's check and the line told of each
	// reservation are what the room adds to a reservation.
	b.Run("embedded-waiting-room", func(b *testing.B) {
		store, err := sqlite.Open(context.Background(), b.TempDir()+"/db")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { store.Close() })
		benchPlaceOrder(b, checkout.Config{Inventory: memory.NewInventory(), Store: store,
			WaitingRoom: memory.NewWaitingRoom(), Admissions: auth.NewAdmissionSigner([]byte("bench"))})
	})
	b.Run("distributed", func(b *testing.B) {
		inventory, store := distributed(b, redistest.URL(b))
		benchPlaceOrder(b, checkout.Config{Inventory: inventory, Store: store})
	})
	// Acknowledged from Redis's AOF (WAITAOF) instead of PostgreSQL's
	// commit, with the persister moving the orders into PostgreSQL at the
	// same time, as FLASHSALE_ACK=redis runs.
	b.Run("distributed-redis-ack", func(b *testing.B) {
		inventory, store := distributed(b, redistest.AOFURL(b))
		journal := redistest.Journal(b, inventory, redis.JournalOptions{Store: store})
		testenv.Background(b, journal.Run)
		benchPlaceOrder(b, checkout.Config{Inventory: inventory, Store: checkout.JournaledStore(store, journal, nil), Journal: journal})
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

// benchPlaceOrder runs the rush on a service of cfg (the payments are the
// simulator's): b.N shoppers, one unit each, b.N units. With a waiting
// room in cfg, the sale has one and every shopper is admitted first.
func benchPlaceOrder(b *testing.B, cfg checkout.Config) {
	ctx := context.Background()
	cfg.Payments = paysim.New(paysim.Options{})
	svc, err := checkout.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	sale := &flashsale.Sale{Name: "bench", StartTime: now.Add(-time.Minute), EndTime: now.Add(time.Hour),
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD",
			TotalQuantity: int64(b.N), PerUserLimit: 1}}}
	if cfg.WaitingRoom != nil {
		room := flashsale.DefaultWaitingRoom()
		room.AdmitPerMinute = flashsale.MaxAdmitPerMinute // a minute since the start admits millions
		sale.WaitingRoom = &room
	}
	if sale, err = svc.CreateSale(ctx, sale); err != nil {
		b.Fatal(err)
	}
	admissions := make([]string, b.N+1)
	if sale.WaitingRoom != nil {
		admissions = admitAll(b, svc, sale.ID, b.N)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			user := strconv.FormatInt(n, 10)
			req := checkout.PlaceOrder{UserID: user, SaleID: sale.ID, ItemID: sale.Items[0].ID, Quantity: 1, Admission: admissions[n]}
			if _, created, err := svc.PlaceOrder(ctx, req); err != nil || !created {
				b.Errorf("place order: created %v, %v", created, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// admitAll puts shoppers 1 to n in the sale's line, admits them in one
// tick, and returns each one's admission token, indexed by shopper.
func admitAll(b *testing.B, svc *checkout.Service, saleID string, n int) []string {
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		if _, _, err := svc.JoinQueue(ctx, checkout.QueueJoin{SaleID: saleID, UserID: strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := svc.TickWaitingRooms(ctx); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, n+1)
	for i := 1; i <= n; i++ {
		t, err := svc.QueueTicket(ctx, saleID, strconv.Itoa(i))
		if err != nil || t.Status != flashsale.TicketAdmitted {
			b.Fatalf("shopper %d before the rush: %+v, %v", i, t.Ticket, err)
		}
		tokens[i] = t.AdmissionToken
	}
	return tokens
}

// BenchmarkJoinQueue measures a shopper's arrival at a waiting room in
// process, embedded: the join, then the first read of the ticket, from
// many goroutines at once, each a new shopper after the start.
func BenchmarkJoinQueue(b *testing.B) {
	room := flashsale.DefaultWaitingRoom()
	room.AdmitPerMinute = 600
	svc, sale, clock := lineSale(b, room)
	clock.Advance(time.Minute) // the start
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			user := strconv.FormatInt(next.Add(1), 10)
			if _, created, err := svc.JoinQueue(ctx, checkout.QueueJoin{SaleID: sale.ID, UserID: user}); err != nil || !created {
				b.Errorf("join: created %v, %v", created, err)
				return
			}
			if _, err := svc.QueueTicket(ctx, sale.ID, user); err != nil {
				b.Errorf("ticket: %v", err)
				return
			}
		}
	})
}
