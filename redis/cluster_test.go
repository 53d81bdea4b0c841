package redis_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/flashsale/flashsale/inventorytest"
	"github.com/flashsale/flashsale/redis/redistest"
)

// TestCluster runs the conformance suite on a three-primary Redis Cluster of
// its own and checks that the suite's items were spread over the shards.
func TestCluster(t *testing.T) {
	client := redistest.Connect(t, redistest.StartCluster(t, 3))
	if got := len(client.Nodes()); got != 3 {
		t.Fatalf("the client sees %d nodes, want 3", got)
	}
	prefix := "fstest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Run("Conformance", func(t *testing.T) {
		inventorytest.Run(t, inventories(client, prefix))
	})
	if t.Failed() {
		return
	}

	// Each item has exactly one "...}:item" key; count them per shard.
	shardsWithItems, items := 0, 0
	for addr, node := range client.Nodes() {
		keys, err := redistest.ScanKeys(t.Context(), node, "{"+prefix+"-*}:item")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s holds %d items", addr, len(keys))
		if len(keys) > 0 {
			shardsWithItems++
		}
		items += len(keys)
	}
	if shardsWithItems < 2 {
		t.Fatalf("the suite's %d items landed on %d shard(s), want them spread over several", items, shardsWithItems)
	}
}
