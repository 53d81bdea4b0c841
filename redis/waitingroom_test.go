package redis_test

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/waitingroomtest"
)

// Each scenario's two instances are two clients over one prefix, as two
// processes of a fleet would be.
func TestWaitingRoom(t *testing.T) {
	url := redistest.URL(t)
	first, second := redistest.Connect(t, url), redistest.Connect(t, url)
	prefix := redistest.Prefix(t, first)
	waitingroomtest.Run(t, func(*testing.T) (flashsale.WaitingRoom, flashsale.WaitingRoom) {
		return redis.NewWaitingRoom(first, prefix), redis.NewWaitingRoom(second, prefix)
	})
}

// A prefix with a brace would move every line's hash tag.
func TestNewWaitingRoomRefusesBraces(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewWaitingRoom accepted a prefix with a brace")
		}
	}()
	redis.NewWaitingRoom(nil, "fs{x}")
}

// waitingLine is a line from saleStart.
func waitingLine(saleID string) flashsale.WaitingLine {
	return flashsale.WaitingLine{SaleID: saleID, StartTime: saleStart, EndTime: saleStart.Add(time.Hour), Seed: draw.Seed{7},
		Config: flashsale.WaitingRoomConfig{AdmitPerMinute: 600, Session: 10 * time.Minute, PreQueue: 15 * time.Minute,
			Order: flashsale.QueueFIFO, Abandon: time.Minute, Overbook: 2}}
}

// The line lives in Redis: an instance that restarts (a new client, a new
// room) finds every place where it was.
func TestWaitingRoomSurvivesARestartOfTheInstance(t *testing.T) {
	ctx, url := t.Context(), redistest.URL(t)
	before, err := redis.Connect(url, redis.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := redistest.Prefix(t, redistest.Connect(t, url))
	room := redis.NewWaitingRoom(before, prefix)
	if err := room.Open(ctx, waitingLine("sale")); err != nil {
		t.Fatal(err)
	}
	early, _, err := room.Join(ctx, "sale", "early", saleStart.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	before.Close()

	after := redis.NewWaitingRoom(redistest.Connect(t, url), prefix)
	got, err := after.Ticket(ctx, "sale", "early", saleStart.Add(-time.Second))
	if err != nil || got != early {
		t.Fatalf("Ticket after the restart = %+v, %v; want %+v", got, err, early)
	}
}

// What a Redis that loses its data does to the lines: every one is gone,
// each sale answers no_waiting_room until it is opened again, and then
// its line is empty: everyone joins anew, at the back.
func TestWaitingRoomAfterRedisLosesItsData(t *testing.T) {
	ctx, url := t.Context(), redistest.URL(t)
	client := redistest.Connect(t, url)
	prefix := redistest.Prefix(t, client)
	room := redis.NewWaitingRoom(client, prefix)
	if err := room.Open(ctx, waitingLine("sale")); err != nil {
		t.Fatal(err)
	}
	now := saleStart.Add(time.Second)
	if _, _, err := room.Join(ctx, "sale", "alice", now); err != nil {
		t.Fatal(err)
	}
	if err := redistest.DeleteKeys(ctx, client, prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := room.Ticket(ctx, "sale", "alice", now); flashsale.ErrorCode(err) != flashsale.ENoWaitingRoom {
		t.Fatalf("Ticket after the loss: %v, want no_waiting_room", err)
	}
	if err := room.Open(ctx, waitingLine("sale")); err != nil {
		t.Fatal(err)
	}
	if _, err := room.Ticket(ctx, "sale", "alice", now); flashsale.ErrorCode(err) != flashsale.ETicketNotFound {
		t.Fatalf("Ticket after reopening: %v, want ticket_not_found", err)
	}
	if s, err := room.Stats(ctx, "sale", now); err != nil || s != (flashsale.WaitingRoomStats{AdmitPerMinute: 600}) {
		t.Fatalf("Stats after reopening = %+v, %v; want an empty line", s, err)
	}
}
