package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

func TestIntactUntilTheDataIsLost(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	prefix := redistest.Prefix(t, client)
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: prefix})
	ctx := t.Context()

	if intact, err := inv.Intact(ctx); err != nil || intact {
		t.Fatalf("a fresh inventory: Intact = %v, %v; want false: it was never built", intact, err)
	}
	if err := inv.MarkIntact(ctx); err != nil {
		t.Fatal(err)
	}
	if intact, err := inv.Intact(ctx); err != nil || !intact {
		t.Fatalf("after MarkIntact: Intact = %v, %v; want true", intact, err)
	}
	// What a restart without persistence does to the prefix's keys.
	if err := redistest.DeleteKeys(ctx, client, prefix); err != nil {
		t.Fatal(err)
	}
	if intact, err := inv.Intact(ctx); err != nil || intact {
		t.Fatalf("after the data was lost: Intact = %v, %v; want false", intact, err)
	}
}

func TestRebuildLockHasOneHolder(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	prefix := redistest.Prefix(t, client)
	first := redis.NewInventory(client, redis.Options{KeyPrefix: prefix})
	second := redis.NewInventory(client, redis.Options{KeyPrefix: prefix})
	ctx := t.Context()

	unlock, ok, err := first.LockRebuild(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("first LockRebuild = %v, %v; want the lock", ok, err)
	}
	if _, ok, err := second.LockRebuild(ctx, time.Minute); err != nil || ok {
		t.Fatalf("second LockRebuild while held = %v, %v; want refused", ok, err)
	}
	unlock()
	unlockSecond, ok, err := second.LockRebuild(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("LockRebuild after unlock = %v, %v; want the lock", ok, err)
	}
	// An unlock that comes late must not free the lock its successor took.
	unlock()
	if _, ok, err := first.LockRebuild(ctx, time.Minute); err != nil || ok {
		t.Fatalf("LockRebuild after a stale unlock = %v, %v; want refused", ok, err)
	}
	unlockSecond()
}

func TestLeaseOneHolderAndTakeover(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	prefix := redistest.Prefix(t, client)
	a := redis.NewLease(client, prefix, "leader", "instance-a")
	b := redis.NewLease(client, prefix, "leader", "instance-b")
	ctx := t.Context()
	hold := func(l *redis.Lease, ttl time.Duration) bool {
		t.Helper()
		ok, err := l.Hold(ctx, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// The ttl runs on Redis's clock, which no test can move: the pauses
	// below are the lease's lifetime, each well inside the ttl so that a
	// busy machine's stall does not let the lease lapse.
	const ttl, extendEvery = time.Second, 250 * time.Millisecond
	if !hold(a, ttl) {
		t.Fatal("a could not take a free lease")
	}
	if hold(b, time.Minute) {
		t.Fatal("b took the lease a holds")
	}
	// a extends its lease well past the first ttl: b still cannot take it.
	for range 6 {
		time.Sleep(extendEvery)
		if !hold(a, ttl) {
			t.Fatal("a could not extend its own lease")
		}
		if hold(b, time.Minute) {
			t.Fatal("b took the lease a keeps extending")
		}
	}
	// a stops extending (it died): b takes over once the ttl ends.
	testenv.Eventually(t, 10*time.Second, "b to take the lease a let run out", func() bool { return hold(b, time.Minute) })
	if hold(a, time.Minute) {
		t.Fatal("a took back the lease b holds")
	}
	// A release by the holder frees it at once; by anyone else, not.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if hold(a, time.Minute) {
		t.Fatal("a's release freed b's lease")
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if !hold(a, time.Minute) {
		t.Fatal("a could not take the lease b released")
	}
}

// A Redis that cannot be reached is a 503 the client retries, not a 500.
func TestUnreachableRedisIsUnavailable(t *testing.T) {
	addr, server := redistest.StartServer(t, "--save", "", "--appendonly", "no")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: "fs"})
	if err := inv.Load(ctx, snapshot("item-1", 5)); err != nil {
		t.Fatal(err)
	}

	_ = server.Kill()
	_, _ = server.Wait()
	_, err = inv.Reserve(ctx, request("item-1", "user-1", "order-1"))
	if !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Errorf("Reserve with Redis down = %v; want code %s", err, flashsale.EUnavailable)
	}
	if _, err := inv.Stock(ctx, "item-1"); !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Errorf("Stock with Redis down = %v; want code %s", err, flashsale.EUnavailable)
	}
	if _, err := inv.Intact(ctx); !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Errorf("Intact with Redis down = %v; want code %s", err, flashsale.EUnavailable)
	}
}
