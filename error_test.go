package flashsale_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/flashsale/flashsale"
)

// A request its client abandoned is counted as such, never as internal; a
// refusal keeps its code whatever the context.
func TestOutcomeCode(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	wrapped := fmt.Errorf("reserve: %w", context.Canceled)
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want string
	}{
		{gone, wrapped, flashsale.CodeClientGone},
		{gone, flashsale.SoldOut(0), flashsale.ESoldOut},
		{gone, errors.New("a bug"), flashsale.EInternal},
		{context.Background(), wrapped, flashsale.EInternal},
	} {
		if got := flashsale.OutcomeCode(c.ctx, c.err); got != c.want {
			t.Errorf("OutcomeCode(%v, %v) = %s, want %s", c.ctx.Err(), c.err, got, c.want)
		}
	}
}
