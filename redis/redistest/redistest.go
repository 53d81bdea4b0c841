// Package redistest gives tests a Redis server from the environment and
// key prefixes of their own.
package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/redis"
)

// URL returns the server the tests use, from FLASHSALE_TEST_REDIS_URL, or
// else Redis's standard port where a server answers. It skips the test
// where neither has one (a laptop without Redis), unless
// FLASHSALE_TEST_REQUIRE_SERVICES=1 (CI), where that fails it.
func URL(tb testing.TB) string {
	tb.Helper()
	return testenv.Server(tb, "FLASHSALE_TEST_REDIS_URL", "Redis", testenv.Standard{
		URL: "redis://127.0.0.1:6379/0", Answer: redisAnswers(false)})
}

// AOFURL returns a shared server that can acknowledge with WAITAOF, its AOF
// on, from FLASHSALE_TEST_AOF_URL, or else the one scripts/services.sh
// starts on port 6390, for tests of the journal that need no server of
// their own; it skips or fails as URL does.
func AOFURL(tb testing.TB) string {
	tb.Helper()
	return testenv.Server(tb, "FLASHSALE_TEST_AOF_URL", "a Redis with WAITAOF and AOF", testenv.Standard{
		URL: "redis://127.0.0.1:6390/0", Answer: redisAnswers(true)})
}

// redisAnswers checks that a Redis answers at url, and, with aof, that its
// AOF is on and it knows WAITAOF (Redis 7.2, Valkey).
func redisAnswers(aof bool) func(ctx context.Context, url string) error {
	return func(ctx context.Context, url string) error {
		client, err := redis.Connect(url, redis.ClientOptions{CallTimeout: time.Second})
		if err != nil {
			return err
		}
		defer client.Close()
		if !aof {
			return client.Do(ctx, client.B().Ping().Build()).Error()
		}
		return client.Do(ctx, client.B().Waitaof().Numlocal(1).Numreplicas(0).Timeout(1000).Build()).Error()
	}
}

// Connect opens a client that lives as long as the test. Its calls get
// callTimeout, not the production deadline: under -race, with every
// package's tests at once, a call can take over a second without Redis
// being at fault, and these tests are not about the deadline (guard_test
// sets its own).
func Connect(tb testing.TB, url string) rueidis.Client {
	tb.Helper()
	client, err := redis.Connect(url, redis.ClientOptions{CallTimeout: callTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(client.Close)
	return client
}

// callTimeout is the test clients' deadline for each call.
const callTimeout = 10 * time.Second

// Prefix returns a key prefix no other test run uses, and deletes every
// key under it when the test ends.
func Prefix(tb testing.TB, client rueidis.Client) string {
	prefix := "fstest-" + uuid.NewString()
	tb.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DeleteKeys(ctx, client, prefix); err != nil {
			tb.Errorf("deleting the test's keys: %v", err)
		}
	})
	return prefix
}

// DeleteKeys deletes the keys containing prefix on every node: what a
// restart without persistence does to them.
func DeleteKeys(ctx context.Context, client rueidis.Client, prefix string) error {
	for _, node := range client.Nodes() {
		keys, err := ScanKeys(ctx, node, "*"+prefix+"*")
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

// ScanKeys returns the keys of one node that match pattern.
func ScanKeys(ctx context.Context, node rueidis.Client, pattern string) ([]string, error) {
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

// Journal returns a journal of inv's items that can acknowledge
// reservations (its server checked for WAITAOF and the AOF).
func Journal(tb testing.TB, inv *redis.Inventory, opts redis.JournalOptions) *redis.Journal {
	tb.Helper()
	j, err := redis.NewJournal(inv, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := j.CheckAcknowledgements(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return j
}

// Run runs the inventory's restock subscription (its sold-out flags, as
// serve runs them) until the test ends, and returns once Redis has
// confirmed it: flags are learned from then on.
func Run(tb testing.TB, inv *redis.Inventory) {
	tb.Helper()
	testenv.Background(tb, inv.Run)
	testenv.Eventually(tb, 10*time.Second, "the restock subscription to be confirmed", inv.Subscribed)
}
