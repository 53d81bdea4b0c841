package notify_test

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/notify"
)

// A publish wakes every subscription of its user and no other; wake-ups
// that pile up merge; a cancelled subscription hears nothing.
func TestHub(t *testing.T) {
	hub := notify.NewHub()
	alice1, cancel1 := hub.Subscribe("alice")
	alice2, cancel2 := hub.Subscribe("alice")
	bob, cancelBob := hub.Subscribe("bob")
	defer cancelBob()

	live := notify.NewLive(hub)
	for range 3 {
		if err := live.Deliver(t.Context(), flashsale.Notification{UserID: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, woken := range []<-chan struct{}{alice1, alice2} {
		select {
		case <-woken:
		case <-time.After(time.Second):
			t.Fatal("a subscription of alice was not woken")
		}
		select {
		case <-woken:
			t.Fatal("three publishes woke a subscription three times; want them merged")
		default:
		}
	}
	select {
	case <-bob:
		t.Fatal("bob was woken by alice's event")
	default:
	}

	cancel1()
	cancel1() // twice is harmless
	hub.Publish(t.Context(), "alice")
	select {
	case <-alice1:
		t.Fatal("a cancelled subscription was woken")
	case <-alice2:
	case <-time.After(time.Second):
		t.Fatal("the remaining subscription was not woken")
	}
	cancel2()
}
