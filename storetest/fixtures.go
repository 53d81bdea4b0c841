package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
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
