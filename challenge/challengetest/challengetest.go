// Package challengetest is the conformance suite of flashsale.OnceLedger.
package challengetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
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
}
