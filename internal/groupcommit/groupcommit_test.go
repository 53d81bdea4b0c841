package groupcommit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/groupcommit"
	"github.com/flashsale/flashsale/internal/testenv"
)

// A committer takes what queued up while it was busy, up to the batch
// size, and each caller gets its own write's outcome.
func TestBatchesAndOutcomes(t *testing.T) {
	q := groupcommit.New[int](3)
	var callers sync.WaitGroup
	outcomes := make([]error, 5)
	for i := range 5 {
		callers.Go(func() { outcomes[i] = q.Do(context.Background(), i) })
	}
	var sizes []int
	for seen := 0; seen < 5; {
		batch, _ := q.Next()
		sizes = append(sizes, len(batch))
		for _, w := range batch {
			if w.Op%2 == 1 {
				w.Finish(errors.New("odd"))
			} else {
				w.Finish(nil)
			}
		}
		seen += len(batch)
	}
	callers.Wait()
	for _, n := range sizes {
		if n > 3 {
			t.Errorf("a batch of %d, over the size of 3", n)
		}
	}
	for i, err := range outcomes {
		if (err != nil) != (i%2 == 1) {
			t.Errorf("write %d: %v", i, err)
		}
	}
}

// A caller that gives up before its write is taken gets its context's
// error and the write never reaches a batch; once taken, it waits for
// the outcome whatever its context says.
func TestAbandonedWritesAreNotTaken(t *testing.T) {
	q := groupcommit.New[string](10)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- q.Do(ctx, "abandoned") }()
	testenv.Eventually(t, time.Minute, "the write to be queued", func() bool { return q.Waiting() == 1 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned write: %v", err)
	}
	kept := make(chan error, 1)
	keptCtx, cancelKept := context.WithCancel(context.Background())
	go func() { kept <- q.Do(keptCtx, "kept") }()
	batch, _ := q.Next()
	if len(batch) != 1 || batch[0].Op != "kept" {
		t.Fatalf("batch %v, want only the kept write", batch)
	}
	// Too late to abandon: the write is taken, and its caller, who will
	// not wait for a stalled batch, learns only that the outcome is unknown.
	cancelKept()
	if err := <-kept; !errors.Is(err, flashsale.ErrWriteInDoubt) {
		t.Fatalf("taken write whose caller gave up: %v, want in doubt", err)
	}
	batch[0].Finish(nil) // a committer is never held by a caller that left
}

// Close refuses new writes, and committers drain what was queued before.
func TestCloseDrains(t *testing.T) {
	q := groupcommit.New[int](10)
	done := make(chan error, 1)
	go func() { done <- q.Do(context.Background(), 1) }()
	testenv.Eventually(t, time.Minute, "the write to be queued", func() bool { return q.Waiting() == 1 })
	q.Close()
	if err := q.Do(context.Background(), 2); !errors.Is(err, groupcommit.ErrClosed) {
		t.Fatalf("write after Close: %v", err)
	}
	batch, closed := q.Next()
	if !closed || len(batch) != 1 {
		t.Fatalf("after Close: batch of %d, closed %v; want the queued write", len(batch), closed)
	}
	batch[0].Finish(nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if batch, closed := q.Next(); !closed || len(batch) != 0 {
		t.Fatalf("drained: batch of %d, closed %v", len(batch), closed)
	}
}
