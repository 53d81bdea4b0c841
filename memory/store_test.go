package memory_test

import (
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/storetest"
)

// The in-process store answers as the durable ones do.
func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) flashsale.OrderStore { return memory.NewStore() },
		Reopen: func(t *testing.T, closed flashsale.OrderStore) flashsale.OrderStore {
			return closed.(*memory.Store).Reopen()
		},
	})
}
