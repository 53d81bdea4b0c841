package redis_test

import (
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/waitingroomtest"
)

func BenchmarkWaitingRoom(b *testing.B) {
	waitingroomtest.Benchmark(b, func(b *testing.B) flashsale.WaitingRoom {
		client := redistest.Connect(b, redistest.URL(b))
		return redis.NewWaitingRoom(client, redistest.Prefix(b, client))
	})
}
