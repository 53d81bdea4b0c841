package memory_test

import (
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/challenge/challengetest"
	"github.com/flashsale/flashsale/memory"
)

func TestOnceLedger(t *testing.T) {
	challengetest.Run(t, func(t *testing.T) (flashsale.OnceLedger, flashsale.OnceLedger) {
		l := memory.NewOnceLedger()
		return l, l
	})
}
