// Package queuetest is the conformance suite of flashsale.OrderQueue. The
// in-process queue and the NATS queue run it unchanged, so that queued
// admission behaves the same whichever carries it.
package queuetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
)

// Options are the settings a scenario asks of its queue; zero means the
// implementation's default.
type Options struct {
	Capacity    int
	MaxAttempts int
}

// Run runs every scenario, each with a queue of its own from newQueue.
func Run(t *testing.T, newQueue func(t *testing.T, opts Options) flashsale.OrderQueue) {
	scenarios := []struct {
		name string
		run  func(t *testing.T, newQueue func(t *testing.T, opts Options) flashsale.OrderQueue)
	}{
		{"EveryRequestSettledOnceWithItsOutcome", testEveryRequestSettledOnce},
		{"FullQueueRefusesAndKeepsWhatItHolds", testFullQueue},
		{"TransientFailuresAreRetriedThenGivenUp", testTransientFailures},
		{"UnknownRequest", testUnknownRequest},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { s.run(t, newQueue) })
	}
}

// Request is a request of user for one unit, under a fresh id.
func Request(user string) flashsale.OrderRequest {
	return flashsale.OrderRequest{ID: uuid.NewString(), UserID: user, SaleID: "s", ItemID: "i", Quantity: 1, QueuedAt: time.Now().UTC()}
}

// Work runs a worker of q until the test ends.
func Work(t *testing.T, q flashsale.OrderQueue, rate int, settle func(context.Context, flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error)) {
	testenv.Background(t, func(ctx context.Context) {
		if err := q.Work(ctx, rate, settle); err != nil {
			t.Error(err)
		}
	})
}

// OutcomeOf waits for the request's outcome.
func OutcomeOf(t *testing.T, q flashsale.OrderQueue, id string) *flashsale.OrderRequestOutcome {
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

// A request queued several times is settled once, and its outcome
// (a reservation, or a refusal) is what Request returns.
func testEveryRequestSettledOnce(t *testing.T, newQueue func(t *testing.T, opts Options) flashsale.OrderQueue) {
	q := newQueue(t, Options{})
	var settled sync.Map // request id -> *atomic.Int64
	Work(t, q, 100, func(_ context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
		n, _ := settled.LoadOrStore(r.ID, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		if r.UserID == "late" {
			return flashsale.OrderRequestOutcome{SettledAt: time.Now(), Error: flashsale.SoldOut(0)}, nil
		}
		return flashsale.OrderRequestOutcome{OrderID: "order-of-" + r.UserID, Created: true, SettledAt: time.Now()}, nil
	})

	winner, loser := Request("early"), Request("late")
	for _, r := range []flashsale.OrderRequest{winner, loser, winner, winner} { // the winner's request queued three times
		if err := q.Enqueue(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if o := OutcomeOf(t, q, winner.ID); o.OrderID != "order-of-early" || !o.Created || o.Error != nil {
		t.Errorf("winner's outcome = %+v", o)
	}
	if o := OutcomeOf(t, q, loser.ID); o.OrderID != "" || o.Error == nil || o.Error.Code != flashsale.ESoldOut {
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
	after := Request("after")
	if err := q.Enqueue(t.Context(), after); err != nil {
		t.Fatal(err)
	}
	OutcomeOf(t, q, after.ID) // the copy, queued before it, had its turn
	settled.Range(func(id, n any) bool {
		if n.(*atomic.Int64).Load() != 1 {
			t.Errorf("request %s settled %d times", id, n.(*atomic.Int64).Load())
		}
		return true
	})
}

func testFullQueue(t *testing.T, newQueue func(t *testing.T, opts Options) flashsale.OrderQueue) {
	q := newQueue(t, Options{Capacity: 2})
	first, second := Request("a"), Request("b")
	for _, r := range []flashsale.OrderRequest{first, second} {
		if err := q.Enqueue(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	third := Request("c")
	if err := q.Enqueue(t.Context(), third); !errors.Is(err, flashsale.ErrQueueFull) {
		t.Fatalf("Enqueue into a full queue = %v, want ErrQueueFull", err)
	}
	if _, _, err := q.Request(t.Context(), third.ID); !errors.Is(err, flashsale.ErrUnknownRequest) {
		t.Errorf("the refused request is known: %v", err)
	}
	Work(t, q, 100, func(_ context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
		return flashsale.OrderRequestOutcome{OrderID: r.UserID, Created: true, SettledAt: time.Now()}, nil
	})
	for _, r := range []flashsale.OrderRequest{first, second} {
		if o := OutcomeOf(t, q, r.ID); o.OrderID != r.UserID {
			t.Errorf("outcome of %s = %+v", r.UserID, o)
		}
	}
	// Drained, the queue takes requests again.
	if err := q.Enqueue(t.Context(), third); err != nil {
		t.Fatalf("Enqueue after the queue drained: %v", err)
	}
}

func testTransientFailures(t *testing.T, newQueue func(t *testing.T, opts Options) flashsale.OrderQueue) {
	q := newQueue(t, Options{MaxAttempts: 3})
	var attempts sync.Map
	Work(t, q, 100, func(_ context.Context, r flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error) {
		n, _ := attempts.LoadOrStore(r.UserID, new(atomic.Int64))
		if a := n.(*atomic.Int64).Add(1); r.UserID == "flaky" && a == 1 || r.UserID == "broken" {
			return flashsale.OrderRequestOutcome{}, errors.New("the store is down")
		}
		return flashsale.OrderRequestOutcome{OrderID: "o", Created: true, SettledAt: time.Now()}, nil
	})
	flaky, broken := Request("flaky"), Request("broken")
	for _, r := range []flashsale.OrderRequest{flaky, broken} {
		if err := q.Enqueue(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	if o := OutcomeOf(t, q, flaky.ID); o.OrderID != "o" {
		t.Errorf("a request that failed once: %+v, want settled on its retry", o)
	}
	if o := OutcomeOf(t, q, broken.ID); o.Error == nil || o.Error.Code != flashsale.EUnavailable {
		t.Errorf("a request that always fails: %+v, want unavailable after 3 attempts", o)
	}
	if n, _ := attempts.Load("broken"); n.(*atomic.Int64).Load() != 3 {
		t.Errorf("the failing request was tried %d times, want 3", n.(*atomic.Int64).Load())
	}
}

func testUnknownRequest(t *testing.T, newQueue func(t *testing.T, opts Options) flashsale.OrderQueue) {
	q := newQueue(t, Options{})
	for _, id := range []string{uuid.NewString(), "not a valid key!"} {
		if _, _, err := q.Request(t.Context(), id); !errors.Is(err, flashsale.ErrUnknownRequest) {
			t.Errorf("Request(%q) = %v, want ErrUnknownRequest", id, err)
		}
	}
}
