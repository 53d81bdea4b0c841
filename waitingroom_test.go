package flashsale_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

func validConfig() flashsale.WaitingRoomConfig {
	return flashsale.WaitingRoomConfig{
		AdmitPerMinute: 6000, MaxActive: 20000, Session: 600 * time.Second, PreQueue: 900 * time.Second,
		Order: flashsale.QueueFIFO, Abandon: 60 * time.Second, Overbook: 2,
	}
}

// Every bound is inclusive: the values on it are taken, the ones just
// past it refused, naming the field.
func TestWaitingRoomConfigBounds(t *testing.T) {
	cases := []struct {
		field   string
		in, out func(c *flashsale.WaitingRoomConfig)
	}{
		{"waiting_room.admit_per_minute",
			func(c *flashsale.WaitingRoomConfig) { c.AdmitPerMinute = 1 },
			func(c *flashsale.WaitingRoomConfig) { c.AdmitPerMinute = 0 }},
		{"waiting_room.admit_per_minute",
			func(c *flashsale.WaitingRoomConfig) { c.AdmitPerMinute = flashsale.MaxAdmitPerMinute },
			func(c *flashsale.WaitingRoomConfig) { c.AdmitPerMinute = flashsale.MaxAdmitPerMinute + 1 }},
		{"waiting_room.max_active",
			func(c *flashsale.WaitingRoomConfig) { c.MaxActive = 0 },
			func(c *flashsale.WaitingRoomConfig) { c.MaxActive = -1 }},
		{"waiting_room.max_active",
			func(c *flashsale.WaitingRoomConfig) { c.MaxActive = flashsale.MaxMaxActive },
			func(c *flashsale.WaitingRoomConfig) { c.MaxActive = flashsale.MaxMaxActive + 1 }},
		{"waiting_room.session_seconds",
			func(c *flashsale.WaitingRoomConfig) { c.Session = flashsale.MinSession },
			func(c *flashsale.WaitingRoomConfig) { c.Session = flashsale.MinSession - 1 }},
		{"waiting_room.session_seconds",
			func(c *flashsale.WaitingRoomConfig) { c.Session = flashsale.MaxSession },
			func(c *flashsale.WaitingRoomConfig) { c.Session = flashsale.MaxSession + 1 }},
		{"waiting_room.pre_queue_seconds",
			func(c *flashsale.WaitingRoomConfig) { c.PreQueue = 0 },
			func(c *flashsale.WaitingRoomConfig) { c.PreQueue = -1 }},
		{"waiting_room.pre_queue_seconds",
			func(c *flashsale.WaitingRoomConfig) { c.PreQueue = flashsale.MaxPreQueue },
			func(c *flashsale.WaitingRoomConfig) { c.PreQueue = flashsale.MaxPreQueue + 1 }},
		{"waiting_room.order",
			func(c *flashsale.WaitingRoomConfig) { c.Order = flashsale.QueueRandom },
			func(c *flashsale.WaitingRoomConfig) { c.Order = "" }},
		{"waiting_room.abandon_seconds",
			func(c *flashsale.WaitingRoomConfig) { c.Abandon = flashsale.MinAbandon },
			func(c *flashsale.WaitingRoomConfig) { c.Abandon = flashsale.MinAbandon - 1 }},
		{"waiting_room.abandon_seconds",
			func(c *flashsale.WaitingRoomConfig) { c.Abandon = flashsale.MaxAbandon },
			func(c *flashsale.WaitingRoomConfig) { c.Abandon = flashsale.MaxAbandon + 1 }},
		{"waiting_room.overbook",
			func(c *flashsale.WaitingRoomConfig) { c.Overbook = flashsale.MinOverbook },
			func(c *flashsale.WaitingRoomConfig) { c.Overbook = math.Nextafter(flashsale.MinOverbook, 0) }},
		{"waiting_room.overbook",
			func(c *flashsale.WaitingRoomConfig) { c.Overbook = flashsale.MaxOverbook },
			func(c *flashsale.WaitingRoomConfig) { c.Overbook = math.Inf(1) }},
	}
	for _, tc := range cases {
		in, out := validConfig(), validConfig()
		tc.in(&in)
		tc.out(&out)
		if err := in.Validate(); err != nil {
			t.Errorf("%+v refused: %v", in, err)
		}
		var e *flashsale.Error
		if err := out.Validate(); !errors.As(err, &e) || e.Code != flashsale.EInvalidRequest || e.Field != tc.field {
			t.Errorf("%+v: %v, want invalid_request naming %s", out, err, tc.field)
		}
	}
}

func TestWaitingRoomChangeApply(t *testing.T) {
	rate, cap, negative := int64(60), int64(0), int64(-5)
	got, err := flashsale.WaitingRoomChange{AdmitPerMinute: &rate, MaxActive: &cap}.Apply(validConfig())
	want := validConfig()
	want.AdmitPerMinute, want.MaxActive = 60, 0
	if err != nil || got != want {
		t.Fatalf("Apply = %+v, %v; want %+v", got, err, want)
	}
	if _, err := (flashsale.WaitingRoomChange{MaxActive: &negative}).Apply(validConfig()); flashsale.ErrorCode(err) != flashsale.EInvalidRequest {
		t.Fatalf("Apply of a negative cap: %v", err)
	}
}
