package nats_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/nats"
	"github.com/flashsale/flashsale/nats/natstest"
	"github.com/flashsale/flashsale/queuetest"
)

// queueMaker opens a queue for a test on one kind of server.
type queueMaker func(t *testing.T, opts nats.QueueOptions) *nats.OrderQueue

// eachServer runs test against an embedded server and, where
// FLASHSALE_TEST_NATS_URL names one, an external NATS server: both
// deployments' queues behave the same.
func eachServer(t *testing.T, test func(t *testing.T, newQueue queueMaker)) {
	t.Run("embedded", func(t *testing.T) {
		test(t, func(t *testing.T, opts nats.QueueOptions) *nats.OrderQueue {
			server, err := nats.StartEmbedded(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(server.Close)
			return openQueue(t, server.Conn(), opts)
		})
	})
	t.Run("server", func(t *testing.T) {
		url := natstest.URL(t)
		test(t, func(t *testing.T, opts nats.QueueOptions) *nats.OrderQueue {
			conn, err := nats.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(conn.Close)
			opts.Name = natstest.QueueName(t, url)
			return openQueue(t, conn, opts)
		})
	})
}

func openQueue(t *testing.T, conn *natsgo.Conn, opts nats.QueueOptions) *nats.OrderQueue {
	t.Helper()
	q, err := nats.NewOrderQueue(t.Context(), conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// The queue passes the conformance suite on an embedded server and on an
// external one.
func TestOrderQueue(t *testing.T) {
	eachServer(t, func(t *testing.T, newQueue queueMaker) {
		queuetest.Run(t, func(t *testing.T, opts queuetest.Options) flashsale.OrderQueue {
			return newQueue(t, nats.QueueOptions{Capacity: int64(opts.Capacity), MaxAttempts: opts.MaxAttempts})
		})
	})
}

// A request whose settling outlasts the ack wait stays with its worker:
// it is settled once, not handed to a second worker meanwhile.
func TestSlowSettleIsNotHandedToAnotherWorker(t *testing.T) {
	eachServer(t, func(t *testing.T, newQueue queueMaker) {
		q := newQueue(t, nats.QueueOptions{AckWait: 300 * time.Millisecond})
		var calls atomic.Int64
		settle := func(_ context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
			calls.Add(1)
			time.Sleep(time.Second) // three ack waits
			return flashsale.OrderRequestOutcome{OrderID: "o", Created: true, SettledAt: time.Now()}, nil
		}
		queuetest.Work(t, q, 100, settle) // two workers, as two instances
		queuetest.Work(t, q, 100, settle)
		r := queuetest.Request("slow")
		if err := q.Enqueue(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if o := queuetest.OutcomeOf(t, q, r.ID); o.OrderID != "o" {
			t.Fatalf("outcome %+v", o)
		}
		// A second worker handed the request before the outcome would have
		// counted a call by now; after it, it finds the outcome and only
		// acknowledges.
		if n := calls.Load(); n != 1 {
			t.Errorf("settled %d times, want once", n)
		}
	})
}
