package redis_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

// A publish on one instance wakes the user's streams on another, and only
// that user's.
func TestBrokerReachesEveryInstance(t *testing.T) {
	url := redistest.URL(t)
	prefix := "fstest-broker-" + time.Now().Format("150405.000000000")
	log := slog.New(slog.DiscardHandler)
	here := redis.NewBroker(redistest.Connect(t, url), prefix, notify.NewHub(), log)
	there := redis.NewBroker(redistest.Connect(t, url), prefix, notify.NewHub(), log)
	ctx, stop := context.WithCancel(t.Context())
	var running sync.WaitGroup
	running.Go(func() { here.Run(ctx) })
	running.Go(func() { there.Run(ctx) })
	defer func() { stop(); running.Wait() }()

	alice, unsubscribe := there.Subscribe("alice")
	defer unsubscribe()
	bob, unsubscribeBob := there.Subscribe("bob")
	defer unsubscribeBob()

	// The subscription is asynchronous: publish until it is heard.
	deadline := time.After(10 * time.Second)
	for heard := false; !heard; {
		if err := here.Publish(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-alice:
			heard = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("alice's stream on the other instance was never woken")
		}
	}
	select {
	case <-bob:
		t.Fatal("bob's stream was woken by alice's event")
	default:
	}
}
