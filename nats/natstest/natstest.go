// Package natstest gives tests a NATS server from the environment and
// queue names of their own.
package natstest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/nats"
)

// URL returns the server the tests use, from FLASHSALE_TEST_NATS_URL, or
// else NATS's standard port where a server with JetStream answers. It
// skips the test where neither has one (a laptop without NATS), unless
// FLASHSALE_TEST_REQUIRE_SERVICES=1 (CI), where that fails it.
func URL(tb testing.TB) string {
	tb.Helper()
	return testenv.Server(tb, "FLASHSALE_TEST_NATS_URL", "NATS", testenv.Standard{
		URL: "nats://127.0.0.1:4222",
		Answer: func(ctx context.Context, url string) error {
			conn, err := natsgo.Connect(url, natsgo.Timeout(time.Second), natsgo.MaxReconnects(0))
			if err != nil {
				return err
			}
			defer conn.Close()
			js, err := jetstream.New(conn)
			if err != nil {
				return err
			}
			_, err = js.AccountInfo(ctx)
			return err
		}})
}

// QueueName returns an order queue name no other test run uses, and
// deletes the queue's stream and outcome bucket on the server at url when
// the test ends.
func QueueName(tb testing.TB, url string) string {
	tb.Helper()
	name := "fstest_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	tb.Cleanup(func() {
		conn, err := nats.Connect(url)
		if err != nil {
			tb.Error(err)
			return
		}
		defer conn.Close()
		if err := deleteQueue(conn, name); err != nil {
			tb.Errorf("deleting the test's queue: %v", err)
		}
	})
	return name
}

func deleteQueue(conn *natsgo.Conn, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(conn)
	if err != nil {
		return err
	}
	for _, stream := range []string{name + "_order_requests", "KV_" + name + "_order_requests"} {
		if err := js.DeleteStream(ctx, stream); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return err
		}
	}
	return nil
}
