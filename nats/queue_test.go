package nats_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	natsgo "github.com/nats-io/nats.go"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/nats"
	"github.com/flashsale/flashsale/nats/natstest"
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

func request(user string) flashsale.OrderRequest {
	return flashsale.OrderRequest{ID: uuid.NewString(), UserID: user, SaleID: "s", ItemID: "i", Quantity: 1, QueuedAt: time.Now().UTC()}
}

// work runs workers until the test ends.
func work(t *testing.T, q *nats.OrderQueue, rate int, settle func(context.Context, flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error)) {
	testenv.Background(t, func(ctx context.Context) {
		if err := q.Work(ctx, rate, settle); err != nil {
			t.Error(err)
		}
	})
}

// outcomeOf waits for the request's outcome.
func outcomeOf(t *testing.T, q *nats.OrderQueue, id string) *flashsale.OrderRequestOutcome {
	t.Helper()
	var o *flashsale.OrderRequestOutcome
	testenv.Eventually(t, 10*time.Second, "request "+id+" to be settled", func() bool {
		var err error
		if _, o, err = q.Request(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		return o != nil
	})
	return o
}

func TestEveryRequestSettledOnceWithItsOutcome(t *testing.T) {
	eachServer(t, func(t *testing.T, newQueue queueMaker) {
		q := newQueue(t, nats.QueueOptions{})
		var settled sync.Map // request id -> times
		work(t, q, 1000, func(_ context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
			n, _ := settled.LoadOrStore(r.ID, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			if r.UserID == "late" {
				return flashsale.OrderRequestOutcome{SettledAt: time.Now(), Error: flashsale.Errorf(flashsale.ESoldOut, "the item is sold out")}, nil
			}
			return flashsale.OrderRequestOutcome{OrderID: "order-of-" + r.UserID, Created: true, SettledAt: time.Now()}, nil
		})

		winner, loser := request("early"), request("late")
		for _, r := range []flashsale.OrderRequest{winner, loser, winner, winner} { // the winner's request queued three times
			if err := q.Enqueue(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		if o := outcomeOf(t, q, winner.ID); o.OrderID != "order-of-early" || !o.Created || o.Error != nil {
			t.Errorf("winner's outcome = %+v", o)
		}
		if o := outcomeOf(t, q, loser.ID); o.OrderID != "" || o.Error == nil || o.Error.Code != flashsale.ESoldOut {
			t.Errorf("loser's outcome = %+v, want sold_out", o)
		}
		got, _, err := q.Request(t.Context(), winner.ID)
		if err != nil || got.UserID != "early" || got.ItemID != "i" {
			t.Errorf("Request = %+v, %v; want the request as queued", got, err)
		}
		// A copy queued after the outcome finds it and is not settled again.
		if err := q.Enqueue(t.Context(), winner); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		settled.Range(func(id, n any) bool {
			if n.(*atomic.Int64).Load() != 1 {
				t.Errorf("request %s settled %d times", id, n.(*atomic.Int64).Load())
			}
			return true
		})
	})
}

func TestFullQueueRefusesAndKeepsWhatItHolds(t *testing.T) {
	eachServer(t, func(t *testing.T, newQueue queueMaker) {
		q := newQueue(t, nats.QueueOptions{Capacity: 2})
		first, second := request("a"), request("b")
		for _, r := range []flashsale.OrderRequest{first, second} {
			if err := q.Enqueue(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		third := request("c")
		if err := q.Enqueue(t.Context(), third); !errors.Is(err, flashsale.ErrQueueFull) {
			t.Fatalf("Enqueue into a full queue = %v, want ErrQueueFull", err)
		}
		if _, _, err := q.Request(t.Context(), third.ID); !errors.Is(err, flashsale.ErrUnknownRequest) {
			t.Errorf("the refused request is known: %v", err)
		}
		work(t, q, 100, func(_ context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
			return flashsale.OrderRequestOutcome{OrderID: r.UserID, Created: true, SettledAt: time.Now()}, nil
		})
		for _, r := range []flashsale.OrderRequest{first, second} {
			if o := outcomeOf(t, q, r.ID); o.OrderID != r.UserID {
				t.Errorf("outcome of %s = %+v", r.UserID, o)
			}
		}
		// Drained, the queue takes requests again.
		if err := q.Enqueue(t.Context(), third); err != nil {
			t.Fatalf("Enqueue after the queue drained: %v", err)
		}
	})
}

func TestTransientFailuresAreRetriedThenGivenUp(t *testing.T) {
	eachServer(t, func(t *testing.T, newQueue queueMaker) {
		q := newQueue(t, nats.QueueOptions{MaxAttempts: 3})
		var attempts sync.Map
		work(t, q, 100, func(_ context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
			n, _ := attempts.LoadOrStore(r.UserID, new(atomic.Int64))
			if a := n.(*atomic.Int64).Add(1); r.UserID == "flaky" && a == 1 || r.UserID == "broken" {
				return flashsale.OrderRequestOutcome{}, errors.New("the store is down")
			}
			return flashsale.OrderRequestOutcome{OrderID: "o", Created: true, SettledAt: time.Now()}, nil
		})
		flaky, broken := request("flaky"), request("broken")
		for _, r := range []flashsale.OrderRequest{flaky, broken} {
			if err := q.Enqueue(t.Context(), r); err != nil {
				t.Fatal(err)
			}
		}
		if o := outcomeOf(t, q, flaky.ID); o.OrderID != "o" {
			t.Errorf("a request that failed once: %+v, want settled on its retry", o)
		}
		if o := outcomeOf(t, q, broken.ID); o.Error == nil || o.Error.Code != flashsale.EUnavailable {
			t.Errorf("a request that always fails: %+v, want unavailable after 3 attempts", o)
		}
		if n, _ := attempts.Load("broken"); n.(*atomic.Int64).Load() != 3 {
			t.Errorf("the failing request was tried %d times, want 3", n.(*atomic.Int64).Load())
		}
	})
}

func TestUnknownRequest(t *testing.T) {
	eachServer(t, func(t *testing.T, newQueue queueMaker) {
		q := newQueue(t, nats.QueueOptions{})
		for _, id := range []string{uuid.NewString(), "not a valid key!"} {
			if _, _, err := q.Request(t.Context(), id); !errors.Is(err, flashsale.ErrUnknownRequest) {
				t.Errorf("Request(%q) = %v, want ErrUnknownRequest", id, err)
			}
		}
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
		work(t, q, 100, settle) // two workers, as two instances
		work(t, q, 100, settle)
		r := request("slow")
		if err := q.Enqueue(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		if o := outcomeOf(t, q, r.ID); o.OrderID != "o" {
			t.Fatalf("outcome %+v", o)
		}
		time.Sleep(500 * time.Millisecond)
		if n := calls.Load(); n != 1 {
			t.Errorf("settled %d times, want once", n)
		}
	})
}
