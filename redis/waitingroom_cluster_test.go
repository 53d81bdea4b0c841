package redis_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/waitingroomtest"
)

// TestWaitingRoomCluster runs the conformance suite on a three-primary
// Redis Cluster of its own: each line's keys share a slot, and the lines
// spread over the shards.
func TestWaitingRoomCluster(t *testing.T) {
	url := redistest.StartCluster(t, 3)
	first, second := redistest.Connect(t, url), redistest.Connect(t, url)
	prefix := "fstest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Run("Conformance", func(t *testing.T) {
		waitingroomtest.Run(t, func(*testing.T) (flashsale.WaitingRoom, flashsale.WaitingRoom) {
			return redis.NewWaitingRoom(first, prefix), redis.NewWaitingRoom(second, prefix)
		})
	})
	if t.Failed() {
		return
	}

	shardsWithLines, lines := 0, 0
	for addr, node := range first.Nodes() {
		keys, err := redistest.ScanKeys(t.Context(), node, "{"+prefix+":queue:*}:line")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s holds %d lines", addr, len(keys))
		if len(keys) > 0 {
			shardsWithLines++
		}
		lines += len(keys)
	}
	if shardsWithLines < 2 {
		t.Fatalf("the suite's %d lines landed on %d shard(s), want them spread over several", lines, shardsWithLines)
	}
}
