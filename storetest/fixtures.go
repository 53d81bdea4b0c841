package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// NewSale returns a sale of three items, not yet stored, for a store's own
// tests and benchmarks.
func NewSale() *flashsale.Sale { return newSale() }

// NewOrder returns a new reservation of one unit of the sale's first item,
// by a user of its own, with an Idempotency-Key of its own, reserved now.
func NewOrder(sale *flashsale.Sale) *flashsale.Order {
	o := newOrder(&sale.Items[0], user(0), time.Now().UTC())
	o.IdempotencyKey = newID()
	return o
}

// BenchmarkCreateOrder measures durable order creates per second into s,
// with many concurrent callers (128 per core) as in a sale's first
// seconds, each create a new user's.
func BenchmarkCreateOrder(b *testing.B, s flashsale.OrderStore) {
	sale := NewSale()
	if err := s.CreateSale(b.Context(), sale); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.CreateOrder(context.Background(), NewOrder(sale)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkLotteryDraw enters entries users into one item of a new sale
// of s, 64 at a time as concurrent requests would, then draws it the way
// the leader does (seal, list, order, record with 1,000 winners), and
// reports both rates: entries a second, and the draw's seconds. Each
// iteration is a lottery of its own.
func BenchmarkLotteryDraw(b *testing.B, s flashsale.OrderStore, entries int) {
	es, ok := s.(flashsale.EntryStore)
	if !ok {
		b.Skip("the store keeps no lottery")
	}
	ctx := context.Background()
	var entering, drawing, longestEventWait time.Duration
	for range b.N {
		sale := NewSale()
		if err := s.CreateSale(ctx, sale); err != nil {
			b.Fatal(err)
		}
		item := &sale.Items[0]
		start := time.Now()
		var (
			wg     sync.WaitGroup
			failed atomic.Value
		)
		sem := make(chan struct{}, 64)
		for i := range entries {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				e := &flashsale.Entry{ID: newID(), SaleID: sale.ID, ItemID: item.ID, UserID: fmt.Sprint("user-", i),
					EnteredAt: time.Now(), Status: flashsale.EntryEntered}
				if _, _, err := es.Enter(ctx, e); err != nil {
					failed.Store(err)
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		entering += time.Since(start)

		start = time.Now()
		seed, err := draw.NewSeed()
		if err != nil {
			b.Fatal(err)
		}
		if err := es.SealEntries(ctx, item.ID, time.Now()); err != nil {
			b.Fatal(err)
		}
		ids, err := es.EntryIDs(ctx, item.ID)
		if err != nil {
			b.Fatal(err)
		}
		d := flashsale.ItemDraw{SaleID: sale.ID, ItemID: item.ID, EntriesDigest: draw.Digest(ids), EntryCount: int64(len(ids)), DrawnAt: time.Now()}
		probing := probeEvents(b, s)
		if _, err := es.RecordDraw(ctx, d, draw.Order(seed, ids), 1000); err != nil {
			b.Fatal(err)
		}
		drawing += time.Since(start)
		longestEventWait = max(longestEventWait, probing())
	}
	b.ReportMetric(float64(entries*b.N)/entering.Seconds(), "entries/s")
	b.ReportMetric(drawing.Seconds()/float64(b.N), "draw-s")
	b.ReportMetric(float64(longestEventWait.Milliseconds()), "event-wait-max-ms")
}

// probeEvents reserves for a new shopper every 20 ms until stopped and
// times each reservation from its write to its event readable in the
// outbox: what a draw running meanwhile costs everyone else, whether it
// holds the writer (SQLite) or the notifications' horizon (PostgreSQL).
// stop returns the longest wait.
func probeEvents(b *testing.B, s flashsale.OrderStore) (stop func() time.Duration) {
	outbox, ok := s.(flashsale.Outbox)
	if !ok {
		return func() time.Duration { return 0 }
	}
	ctx := context.Background()
	sale := NewSale()
	if err := s.CreateSale(ctx, sale); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	var (
		probes  sync.WaitGroup
		longest time.Duration
	)
	probes.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			o := NewOrder(sale)
			o.UserID = fmt.Sprint("probe-", n)
			start := time.Now()
			if err := s.CreateOrder(ctx, o); err != nil {
				b.Error(err)
				return
			}
			for {
				told, err := outbox.NotificationsAfter(ctx, o.UserID, "", 1)
				if err != nil {
					b.Error(err)
					return
				}
				if len(told) > 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			longest = max(longest, time.Since(start))
		}
	})
	return func() time.Duration {
		close(done)
		probes.Wait()
		return longest
	}
}
