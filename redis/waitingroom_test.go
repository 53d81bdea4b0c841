package redis_test

import (
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/waitingroomtest"
)

// Each scenario's two instances are two clients over one prefix, as two
// processes of a fleet would be.
func TestWaitingRoom(t *testing.T) {
	url := redistest.URL(t)
	first, second := redistest.Connect(t, url), redistest.Connect(t, url)
	prefix := redistest.Prefix(t, first)
	waitingroomtest.Run(t, func(*testing.T) (flashsale.WaitingRoom, flashsale.WaitingRoom) {
		return redis.NewWaitingRoom(first, prefix), redis.NewWaitingRoom(second, prefix)
	})
}

// A prefix with a brace would move every line's hash tag.
func TestNewWaitingRoomRefusesBraces(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewWaitingRoom accepted a prefix with a brace")
		}
	}()
	redis.NewWaitingRoom(nil, "fs{x}")
}
