package notify

import (
	"context"
	"sync"

	"github.com/flashsale/flashsale"
)

// Live is the channel of the event streams (GET /events): delivering a
// notification publishes "this user has news" on the Broker, and each of
// the user's streams, on whichever instance, reads what it has not sent
// yet from the outbox. The stream, not the message, carries the order of
// events, so a stream resumed with Last-Event-ID has no gap whatever the
// broker drops or reorders; going through the outbox and dispatcher makes
// the wake-up itself at least once and the same in both deployments.
type Live struct {
	broker flashsale.Broker
}

// NewLive returns the channel that wakes streams through broker.
func NewLive(broker flashsale.Broker) *Live { return &Live{broker: broker} }

// Name is "sse".
func (*Live) Name() string { return "sse" }

// Deliver wakes the user's streams.
func (l *Live) Deliver(ctx context.Context, n flashsale.Notification) error {
	return l.broker.Publish(ctx, n.UserID)
}

// Hub is the in-process Broker of embedded mode: it wakes the streams of
// this process. A distributed Broker (Redis pub/sub, NATS) publishes to
// every instance and wakes each instance's Hub from its subscription.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{} // user id -> subscriptions
}

var _ flashsale.Broker = (*Hub)(nil)

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: make(map[string]map[chan struct{}]struct{})} }

// Publish wakes every subscription of the user in this process.
func (h *Hub) Publish(_ context.Context, userID string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for woken := range h.subs[userID] {
		select {
		case woken <- struct{}{}:
		default: // a wake-up is already pending; one is enough
		}
	}
	return nil
}

// Subscribe registers a subscription of the user.
func (h *Hub) Subscribe(userID string) (<-chan struct{}, func()) {
	woken := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[userID] == nil {
		h.subs[userID] = make(map[chan struct{}]struct{})
	}
	h.subs[userID][woken] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return woken, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.subs[userID], woken)
			if len(h.subs[userID]) == 0 {
				delete(h.subs, userID)
			}
		})
	}
}
