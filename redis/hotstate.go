package redis

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"
)

var (
	//go:embed hold.lua
	holdLua string
	//go:embed unlock.lua
	unlockLua string

	holdScript   = rueidis.NewLuaScript(holdLua)
	unlockScript = rueidis.NewLuaScript(unlockLua)
)

// Keys outside any item, each in a slot of its own:
//
//	P:built    string: when the inventory was last built from the order store
//	P:rebuild  string: the holder of the fleet-wide rebuild lock
//	P:leader   string: the holder of the timeout handler's lease
func (inv *Inventory) builtKey() string   { return inv.prefix + ":built" }
func (inv *Inventory) rebuildKey() string { return inv.prefix + ":rebuild" }

// Intact reports whether Redis still holds the state built from the order
// store. The mark is written after a build; a Redis that restarted without
// its data has lost the mark with the items, so the fleet notices and
// rebuilds instead of answering from an empty inventory.
//
// In a Redis Cluster the mark lives on one shard: losing another shard's
// data alone is noticed item by item instead (a reservation for an item
// the inventory lacks answers 503 and is logged; see checkout.PlaceOrder),
// and repaired by a reconcile or by deleting the mark.
func (inv *Inventory) Intact(ctx context.Context) (bool, error) {
	n, err := inv.client.Do(ctx, inv.client.B().Exists().Key(inv.builtKey()).Build()).AsInt64()
	if err != nil {
		return false, failure("check the inventory", err)
	}
	return n == 1, nil
}

// MarkIntact records that the inventory has just been built.
func (inv *Inventory) MarkIntact(ctx context.Context) error {
	mark := inv.client.B().Set().Key(inv.builtKey()).Value(time.Now().UTC().Format(time.RFC3339Nano)).Build()
	if err := inv.client.Do(ctx, mark).Error(); err != nil {
		return failure("mark the inventory built", err)
	}
	return nil
}

// MarkLost deletes the mark: every instance finds the inventory lost at
// its next check, pauses, and one of them rebuilds it.
func (inv *Inventory) MarkLost(ctx context.Context) error {
	if err := inv.client.Do(ctx, inv.client.B().Del().Key(inv.builtKey()).Build()).Error(); err != nil {
		return failure("mark the inventory lost", err)
	}
	return nil
}

// LockRebuild takes the fleet-wide rebuild lock for ttl.
func (inv *Inventory) LockRebuild(ctx context.Context, ttl time.Duration) (unlock func(), ok bool, err error) {
	lock := &Lease{client: inv.client, key: inv.rebuildKey(), holder: uuid.NewString()}
	if ok, err = lock.Hold(ctx, ttl); err != nil || !ok {
		return nil, false, err
	}
	return func() {
		// The lock also ends with its ttl if this release is lost.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = lock.Release(ctx)
	}, true, nil
}

// Lease is a lock with a time limit that one holder at a time has, kept
// by extending it before it runs out: the timeout handler's leader
// election. A holder that dies loses it when its ttl ends, and another
// takes over.
//
// A lease decides who does the work, not whether the work is safe: a
// holder that stalls past its ttl may briefly act beside its successor,
// so what it guards must tolerate that (every order change is a
// conditional write in the store).
type Lease struct {
	client rueidis.Client
	key    string
	holder string
}

// NewLease returns the lease name under prefix, held as holder (unique
// per process, such as a host name with a random suffix).
func NewLease(client rueidis.Client, prefix, name, holder string) *Lease {
	return &Lease{client: client, key: prefix + ":" + name, holder: holder}
}

// Hold takes the lease for ttl, or extends it when this holder has it. It
// reports whether this holder has it now.
func (l *Lease) Hold(ctx context.Context, ttl time.Duration) (bool, error) {
	ms := max(ttl.Milliseconds(), 1)
	n, err := holdScript.Exec(ctx, l.client, []string{l.key}, []string{l.holder, strconv.FormatInt(ms, 10)}).AsInt64()
	if err != nil {
		return false, failure("hold "+l.key, err)
	}
	return n == 1, nil
}

// Release gives the lease up at once, if this holder still has it, so a
// successor need not wait for its ttl.
func (l *Lease) Release(ctx context.Context) error {
	if err := unlockScript.Exec(ctx, l.client, []string{l.key}, []string{l.holder}).Error(); err != nil {
		return failure("release "+l.key, err)
	}
	return nil
}
