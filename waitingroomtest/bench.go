package waitingroomtest

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// benchParallelism is goroutines per GOMAXPROCS: many shoppers in flight
// at once, as in a rush, so that a networked room pipelines them.
const benchParallelism = 64

// Benchmark measures the calls a rush makes most, on rooms from newRoom:
// joins of new shoppers, and polls of a line of 10,000 (GET …/queue).
func Benchmark(b *testing.B, newRoom func(b *testing.B) flashsale.WaitingRoom) {
	open := func(b *testing.B) (flashsale.WaitingRoom, string) {
		room := newRoom(b)
		line := flashsale.WaitingLine{SaleID: "sale-" + uuid.NewString(), StartTime: start, EndTime: end, Config: config(), Seed: seed}
		if err := room.Open(b.Context(), line); err != nil {
			b.Fatal(err)
		}
		return room, line.SaleID
	}
	b.Run("Join", func(b *testing.B) {
		room, sale := open(b)
		var next atomic.Int64
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				user := "user-" + strconv.FormatInt(next.Add(1), 10)
				if _, _, err := room.Join(b.Context(), sale, user, seconds(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("Ticket", func(b *testing.B) {
		const line = 10_000
		room, sale := open(b)
		shoppers := users("user", line)
		for _, user := range shoppers {
			if _, _, err := room.Join(b.Context(), sale, user, seconds(1)); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		b.ResetTimer()
		b.SetParallelism(benchParallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				user := shoppers[next.Add(1)%line]
				if _, err := room.Ticket(b.Context(), sale, user, seconds(2)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
