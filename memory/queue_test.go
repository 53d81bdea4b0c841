package memory_test

import (
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/queuetest"
)

func TestOrderQueue(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, opts queuetest.Options) flashsale.OrderQueue {
		return memory.NewOrderQueue(memory.QueueOptions{Capacity: opts.Capacity, MaxAttempts: opts.MaxAttempts})
	})
}
