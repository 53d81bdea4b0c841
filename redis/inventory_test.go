package redis_test

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/inventorytest"
	"github.com/flashsale/flashsale/redis"
)

// redisURL returns the server the tests use, skipping the test when none is
// configured.
func redisURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("FLASHSALE_TEST_REDIS_URL")
	if url == "" {
		tb.Skip("FLASHSALE_TEST_REDIS_URL is not set; start Redis and set it to run the Redis inventory tests")
	}
	return url
}

// connect opens a client that lives as long as the test.
func connect(tb testing.TB, url string) rueidis.Client {
	tb.Helper()
	client, err := redis.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(client.Close)
	return client
}

// testPrefix returns a key prefix no other test run uses, and deletes every
// key under it when the test ends.
func testPrefix(tb testing.TB, client rueidis.Client) string {
	prefix := "fstest-" + uuid.NewString()
	tb.Cleanup(func() {
		if err := deleteKeys(client, prefix); err != nil {
			tb.Errorf("deleting the test's keys: %v", err)
		}
	})
	return prefix
}

// deleteKeys deletes the keys containing prefix on every node. The test's
// context is already cancelled when cleanups run, so it has one of its own.
func deleteKeys(client rueidis.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range client.Nodes() {
		keys, err := scanKeys(ctx, node, "*"+prefix+"*")
		if err != nil {
			return err
		}
		// One command per key: in a cluster the keys are in many slots.
		unlinks := make(rueidis.Commands, len(keys))
		for i, key := range keys {
			unlinks[i] = node.B().Unlink().Key(key).Build()
		}
		for _, result := range node.DoMulti(ctx, unlinks...) {
			if err := result.Error(); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanKeys returns the keys of one node that match pattern.
func scanKeys(ctx context.Context, node rueidis.Client, pattern string) ([]string, error) {
	var keys []string
	var cursor uint64
	for {
		entry, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
		if err != nil {
			return nil, err
		}
		keys = append(keys, entry.Elements...)
		if cursor = entry.Cursor; cursor == 0 {
			return keys, nil
		}
	}
}

// inventories returns the suite's factory: each inventory under a prefix of
// its own below prefix, so that Expiring sees only its scenario's items.
func inventories(client rueidis.Client, prefix string) func(*testing.T) flashsale.Inventory {
	var next atomic.Int64
	return func(*testing.T) flashsale.Inventory {
		return redis.NewInventory(client, redis.Options{KeyPrefix: prefix + "-" + strconv.FormatInt(next.Add(1), 10)})
	}
}

func TestInventory(t *testing.T) {
	client := connect(t, redisURL(t))
	inventorytest.Run(t, inventories(client, testPrefix(t, client)))
}

// A prefix with a brace would move every item's hash tag.
func TestNewInventoryRefusesBraces(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewInventory accepted a prefix with a brace")
		}
	}()
	redis.NewInventory(nil, redis.Options{KeyPrefix: "fs{x}"})
}
