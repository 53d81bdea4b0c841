package memory_test

import (
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/waitingroomtest"
)

// The embedded room is one value however many callers share it.
func TestWaitingRoom(t *testing.T) {
	waitingroomtest.Run(t, func(*testing.T) (flashsale.WaitingRoom, flashsale.WaitingRoom) {
		room := memory.NewWaitingRoom()
		return room, room
	})
}

func BenchmarkWaitingRoom(b *testing.B) {
	waitingroomtest.Benchmark(b, func(*testing.B) flashsale.WaitingRoom { return memory.NewWaitingRoom() })
}
