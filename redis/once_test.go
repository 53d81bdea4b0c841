package redis_test

import (
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/challenge/challengetest"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

func TestOnceLedger(t *testing.T) {
	challengetest.Run(t, func(t *testing.T) (flashsale.OnceLedger, flashsale.OnceLedger) {
		url := redistest.URL(t)
		a, b := redistest.Connect(t, url), redistest.Connect(t, url)
		prefix := redistest.Prefix(t, a)
		return redis.NewOnceLedger(a, prefix), redis.NewOnceLedger(b, prefix)
	})
}
