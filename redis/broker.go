package redis

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
)

// Broker is the flashsale.Broker of a fleet: Publish sends the user's id
// on one Redis pub/sub channel, and every instance's Run hands what it
// hears to its local broker (a notify.Hub), which wakes the streams open
// in that process. In a Redis Cluster a publish reaches the subscribers
// of every node.
//
// Pub/sub drops messages while a subscriber reconnects; a stream loses
// nothing by it, since it rereads the outbox at every heartbeat.
type Broker struct {
	client  rueidis.Client
	channel string
	local   flashsale.Broker
	log     *slog.Logger
	// subscribed is set while Run's subscription is confirmed.
	subscribed atomic.Bool
}

var _ flashsale.Broker = (*Broker)(nil)

// NewBroker returns a broker on the channel "P:events" that wakes local.
func NewBroker(client rueidis.Client, prefix string, local flashsale.Broker, log *slog.Logger) *Broker {
	return &Broker{client: client, channel: prefix + ":events", local: local, log: log}
}

// Publish wakes the user's streams on every instance.
func (b *Broker) Publish(ctx context.Context, userID string) error {
	if err := b.client.Do(ctx, b.client.B().Publish().Channel(b.channel).Message(userID).Build()).Error(); err != nil {
		return failure("publish to "+b.channel, err)
	}
	return nil
}

// Subscribe subscribes to this process's streams of the user.
func (b *Broker) Subscribe(userID string) (<-chan struct{}, func()) {
	return b.local.Subscribe(userID)
}

// Subscribed reports whether Run's subscription is confirmed: from then on
// what other instances publish reaches this one's streams at once.
func (b *Broker) Subscribed() bool { return b.subscribed.Load() }

// Run listens on the channel until ctx ends, resubscribing after a lost
// connection.
func (b *Broker) Run(ctx context.Context) {
	hooked := rueidis.WithOnSubscriptionHook(ctx, func(sub rueidis.PubSubSubscription) {
		if sub.Kind == "subscribe" {
			b.subscribed.Store(true)
		}
	})
	for ctx.Err() == nil {
		// Built anew each time: rueidis recycles a command once Receive
		// returns.
		subscribe := b.client.B().Subscribe().Channel(b.channel).Build()
		err := b.client.Receive(hooked, subscribe, func(msg rueidis.PubSubMessage) {
			_ = b.local.Publish(ctx, msg.Message)
		})
		b.subscribed.Store(false)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("event broker subscription ended; resubscribing", "channel", b.channel, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
