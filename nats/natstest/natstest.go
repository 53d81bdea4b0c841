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

// URL returns the server the tests use, from FLASHSALE_TEST_NATS_URL. It
// skips the test where the variable is unset (a laptop without NATS),
// unless FLASHSALE_TEST_REQUIRE_SERVICES=1 (CI), where that fails it.
func URL(tb testing.TB) string {
	tb.Helper()
	return testenv.Server(tb, "FLASHSALE_TEST_NATS_URL", "NATS")
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
