// Package challengetest is the conformance suite of flashsale.OnceLedger:
// spending ids once (UseOnce) and claiming them for an owner (Claim).
package challengetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
)

// Run holds a ledger to the port's contract. newLedgers returns two
// ledgers over the same state, as two instances of a fleet see it.
func Run(t *testing.T, newLedgers func(t *testing.T) (flashsale.OnceLedger, flashsale.OnceLedger)) {
	const keep = time.Minute
	t.Run("FirstUseOnly", func(t *testing.T) {
		a, b := newLedgers(t)
		for i, ledger := range []flashsale.OnceLedger{a, b, a} {
			first, err := ledger.UseOnce(t.Context(), "solution-1", keep)
			if err != nil {
				t.Fatal(err)
			}
			if first != (i == 0) {
				t.Fatalf("use %d of one id: first = %v", i+1, first)
			}
		}
		if first, err := b.UseOnce(t.Context(), "solution-2", keep); err != nil || !first {
			t.Fatalf("another id: first = %v, %v", first, err)
		}
	})
	t.Run("ConcurrentUsesAcrossInstances", func(t *testing.T) {
		a, b := newLedgers(t)
		for id := range 20 {
			var firsts atomic.Int64
			var wg sync.WaitGroup
			for i := range 50 {
				ledger := a
				if i%2 == 1 {
					ledger = b
				}
				wg.Go(func() {
					first, err := ledger.UseOnce(t.Context(), fmt.Sprintf("solution-%d", id), keep)
					if err != nil {
						t.Error(err)
					}
					if first {
						firsts.Add(1)
					}
				})
			}
			wg.Wait()
			if n := firsts.Load(); n != 1 {
				t.Fatalf("id %d was used first %d times by 50 concurrent calls", id, n)
			}
		}
	})
	t.Run("ClaimHeldByItsFirstOwner", func(t *testing.T) {
		a, b := newLedgers(t)
		for i, c := range []struct {
			ledger    flashsale.OnceLedger
			id, owner string
			holder    string
		}{
			{a, "card-1", "alice", "alice"}, // free: alice's now
			{b, "card-1", "bob", "alice"},   // another owner: told alice holds it
			{a, "card-1", "alice", "alice"}, // the holder again
			{b, "card-1", "alice", "alice"}, // on another instance
			{b, "card-2", "bob", "bob"},     // another id is free
			{a, "card-2", "alice", "bob"},
		} {
			holder, err := c.ledger.Claim(t.Context(), c.id, c.owner, keep)
			if err != nil {
				t.Fatal(err)
			}
			if holder != c.holder {
				t.Fatalf("claim %d, %s by %s: holder %q, want %q", i+1, c.id, c.owner, holder, c.holder)
			}
		}
		if holder, err := a.Claim(t.Context(), "card-3", "", keep); err == nil {
			t.Fatalf("a claim without an owner: holder %q, want an error", holder)
		}
	})
	t.Run("ClaimLapsesAfterItsKeep", func(t *testing.T) {
		a, b := newLedgers(t)
		const short = 300 * time.Millisecond
		if holder, err := a.Claim(t.Context(), "card-1", "alice", short); err != nil || holder != "alice" {
			t.Fatalf("first claim: %q, %v", holder, err)
		}
		// Claiming again what one holds does not extend it.
		if holder, err := b.Claim(t.Context(), "card-1", "alice", time.Hour); err != nil || holder != "alice" {
			t.Fatalf("the holder again: %q, %v", holder, err)
		}
		// The ledger's clock is its own (Redis expires the key): wait for
		// the claim to lapse rather than sleep past it. Had alice's second
		// claim extended it to an hour, this would time out.
		testenv.Eventually(t, 10*time.Second, "alice's claim to lapse and bob's to take", func() bool {
			holder, err := b.Claim(t.Context(), "card-1", "bob", keep)
			if err != nil {
				t.Fatal(err)
			}
			return holder == "bob"
		})
		if holder, err := a.Claim(t.Context(), "card-1", "alice", keep); err != nil || holder != "bob" {
			t.Fatalf("alice after bob: holder %q, %v; want bob", holder, err)
		}
	})
	t.Run("ConcurrentClaimsAcrossInstances", func(t *testing.T) {
		a, b := newLedgers(t)
		const owners = 50
		for id := range 20 {
			holders := make([]string, owners)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range owners {
				ledger := a
				if i%2 == 1 {
					ledger = b
				}
				wg.Go(func() {
					<-start
					holder, err := ledger.Claim(t.Context(), fmt.Sprintf("card-%d", id), fmt.Sprintf("owner-%d", i), keep)
					if err != nil {
						t.Error(err)
					}
					holders[i] = holder
				})
			}
			close(start)
			wg.Wait()
			winners := 0
			for i, holder := range holders {
				if holder != holders[0] {
					t.Fatalf("id %d: owner 0 was told %q holds it, owner %d %q", id, holders[0], i, holder)
				}
				if holder == fmt.Sprintf("owner-%d", i) {
					winners++
				}
			}
			if winners != 1 {
				t.Fatalf("id %d: %d of %d concurrent owners hold it (holder %q), want exactly 1", id, winners, owners, holders[0])
			}
		}
	})
}
