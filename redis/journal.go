package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale"
)

// persisters is the consumer group of every item's outbox stream: each
// instance's persister is one consumer, so an entry goes to one of them, and
// the entries a dead one had claimed are reclaimed by the others.
const persisters = "persisters"

// JournalOptions configure a Journal.
type JournalOptions struct {
	// Store receives the journaled orders.
	Store flashsale.OrderStore
	// Consumer names this process in the persisters group; it must differ
	// between processes. Empty: host, pid and a random suffix.
	Consumer string
	// Replicas is how many replicas must also have the entry in their AOF
	// before the acknowledgement (WAITAOF's numreplicas); 0 trusts the
	// primary's own fsync.
	Replicas int
	// AckTimeout bounds the wait for the fsync (default 1 s); a reservation
	// whose fsync is not confirmed in time is answered as in doubt.
	AckTimeout time.Duration
	// ReclaimAfter is how long an entry may sit claimed by a persister that
	// does not finish it (it died) before another takes it over (default 5 s).
	ReclaimAfter time.Duration
	// Batch is the most entries a persister takes from one stream at a time
	// (default 256).
	Batch int
	// ForgetConsumersAfter is how long a consumer that holds no entry may
	// stay idle in a group before Run removes it (default an hour): every
	// instance that ever ran left its name there.
	ForgetConsumersAfter time.Duration
	// Logger hears of entries that could not be persisted; nil: slog.Default().
	Logger *slog.Logger
}

// Journal acknowledges reservations from Redis itself
// (flashsale.OrderJournal): the reserve script appends each new order to
// its item's outbox stream, and the reply comes once WAITAOF confirms the
// AOF holding it is fsynced. Run drains the streams into the store.
//
// Acknowledging needs a server with WAITAOF (Redis 7.2 or later, or
// Valkey) and the AOF on: CheckAcknowledgements says whether it has them.
type Journal struct {
	inv          *Inventory
	store        flashsale.OrderStore
	consumer     string
	replicas     int64
	ackTimeout   time.Duration
	reclaimAfter time.Duration
	batch        int64
	forgetAfter  time.Duration
	log          *slog.Logger
	// backlog is the orders journaled and not yet in the store, as Run
	// last counted them.
	backlog atomic.Int64
	flushes rounds
	acks    sync.Map // item id -> *rounds of WAITAOF
	// groups holds the items whose stream has the persisters group; only
	// Run uses it.
	groups map[string]bool
}

var _ flashsale.OrderJournal = (*Journal)(nil)

// NewJournal returns the journal of inv's items. Before it acknowledges
// reservations (ReserveJournaled), CheckAcknowledgements must pass; to drain
// journals into the store (Persist, Run) any Redis with streams will do.
func NewJournal(inv *Inventory, opts JournalOptions) (*Journal, error) {
	if opts.Store == nil {
		return nil, errors.New("redis: a journal needs a store")
	}
	j := &Journal{
		inv: inv, store: opts.Store, consumer: opts.Consumer, replicas: int64(opts.Replicas),
		ackTimeout: opts.AckTimeout, reclaimAfter: opts.ReclaimAfter, batch: int64(opts.Batch),
		forgetAfter: opts.ForgetConsumersAfter, log: opts.Logger, groups: map[string]bool{},
	}
	if j.consumer == "" {
		host, _ := os.Hostname()
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		j.consumer = host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(suffix)
	}
	if j.ackTimeout <= 0 {
		j.ackTimeout = time.Second
	}
	if j.reclaimAfter <= 0 {
		j.reclaimAfter = 5 * time.Second
	}
	if j.batch <= 0 {
		j.batch = 256
	}
	if j.forgetAfter <= 0 {
		j.forgetAfter = time.Hour
	}
	if j.log == nil {
		j.log = slog.Default()
	}
	return j, nil
}

// CheckAcknowledgements checks that every node can acknowledge with
// WAITAOF (Redis 7.2 or later, or Valkey, with the AOF on), and warns when
// a node fsyncs its AOF only every second.
func (j *Journal) CheckAcknowledgements(ctx context.Context) error {
	for addr, node := range j.inv.client.Nodes() {
		probe := node.B().Waitaof().Numlocal(1).Numreplicas(0).Timeout(j.ackTimeout.Milliseconds()).Build()
		if err := node.Do(ctx, probe).Error(); err != nil {
			return fmt.Errorf("redis: %s cannot acknowledge from its AOF (WAITAOF needs Redis 7.2 or Valkey, with appendonly yes): %w", addr, err)
		}
		// A server that fsyncs once a second answers WAITAOF at the next
		// fsync: every reservation would wait up to a second. Managed
		// servers may refuse CONFIG; then nothing is said.
		fsync, err := node.Do(ctx, node.B().ConfigGet().Parameter("appendfsync").Build()).AsStrMap()
		if err == nil && fsync["appendfsync"] != "always" {
			j.log.Warn("Redis fsyncs its AOF only every second: each reservation waits for that fsync; set appendfsync always",
				"server", addr, "appendfsync", fsync["appendfsync"])
		}
	}
	return nil
}

// entry is an order as the outbox stream holds it: the fields of a new
// reservation, times in microseconds as the scripts keep them.
type entry struct {
	ID             string `json:"id"`
	SaleID         string `json:"sale"`
	ItemID         string `json:"item"`
	UserID         string `json:"user"`
	Quantity       int64  `json:"qty"`
	UnitPrice      int64  `json:"price"`
	Currency       string `json:"cur"`
	ReservedAt     int64  `json:"at"`
	ExpiresAt      int64  `json:"exp"`
	IdempotencyKey string `json:"key,omitempty"`
}

func (e entry) order() *flashsale.Order {
	reservedAt := fromMicros(e.ReservedAt)
	return &flashsale.Order{
		ID: e.ID, SaleID: e.SaleID, ItemID: e.ItemID, UserID: e.UserID, Quantity: e.Quantity,
		Status: flashsale.OrderReserved, UnitPrice: flashsale.Money(e.UnitPrice), Currency: e.Currency,
		ReservedAt: reservedAt, ExpiresAt: fromMicros(e.ExpiresAt), UpdatedAt: reservedAt,
		IdempotencyKey: e.IdempotencyKey,
	}
}

// ReserveJournaled runs the reserve script with the order to journal, then
// waits for the AOF holding it to be fsynced (see acked).
func (j *Journal) ReserveJournaled(ctx context.Context, req flashsale.ReserveRequest, order *flashsale.Order) (flashsale.Reservation, error) {
	if order.ID != req.OrderID || order.ItemID != req.ItemID || order.UserID != req.UserID || order.Quantity != req.Quantity {
		return flashsale.Reservation{}, fmt.Errorf("redis: journaled order %s does not match its reservation", order.ID)
	}
	inv := j.inv
	reservedAt, expiresAt := req.Now.UnixMicro(), req.Now.Add(req.TTL).UnixMicro()
	journaled, err := json.Marshal(entry{
		ID: order.ID, SaleID: req.SaleID, ItemID: req.ItemID, UserID: req.UserID, Quantity: req.Quantity,
		UnitPrice: int64(order.UnitPrice), Currency: order.Currency,
		ReservedAt: reservedAt, ExpiresAt: expiresAt, IdempotencyKey: order.IdempotencyKey,
	})
	if err != nil {
		return flashsale.Reservation{}, err
	}
	args := append(reserveArgs(req, reservedAt, expiresAt), string(journaled))
	reply, err := reserveScript.Exec(ctx, inv.client, inv.reserveKeys(req.ItemID), args).ToArray()
	if err != nil {
		return flashsale.Reservation{}, failure("reserve order "+req.OrderID+" of item "+req.ItemID, err)
	}
	res, err := inv.reserved(ctx, req, reply, reservedAt, expiresAt)
	if err != nil || res.Existing {
		// Only a new reservation wrote anything; a live one found again is
		// the store's or the journal's already.
		return res, err
	}
	if err := j.acked(ctx, req.ItemID); err != nil {
		return res, fmt.Errorf("redis: order %s reserved, but its fsync was not confirmed: %v: %w", order.ID, err, flashsale.ErrWriteInDoubt)
	}
	return res, nil
}

// acked returns once every write to the item's shard made before the call
// is in the AOF, fsynced, of the primary and of Replicas replicas. WAITAOF
// waits for the writes of the connection it is sent on, so each round
// writes a mark in the item's slot and waits on the same connection: the
// mark comes after every reservation whose reply arrived before the round,
// and the AOF is written in order. Callers share rounds, one fsync for
// all: the group commit of Redis's acknowledgement.
func (j *Journal) acked(ctx context.Context, itemID string) error {
	r, _ := j.acks.LoadOrStore(itemID, &rounds{})
	return r.(*rounds).do(ctx, func(ctx context.Context) error {
		client, mark := j.inv.client, j.inv.ackKey(itemID)
		// WAITAOF's timeout is the server's: a slow or silent network is
		// bounded by none. The round gets the call deadline on top of it.
		ctx, cancel := context.WithTimeout(ctx, j.ackTimeout+callTimeout(client))
		defer cancel()
		results := client.DoMulti(ctx,
			client.B().Incr().Key(mark).Build(),
			client.B().Waitaof().Numlocal(1).Numreplicas(j.replicas).Timeout(j.ackTimeout.Milliseconds()).Build().SetSlot(mark))
		if err := results[0].Error(); err != nil {
			return err
		}
		acks, err := results[1].AsIntSlice()
		switch {
		case err != nil:
			return err
		case len(acks) != 2 || acks[0] < 1 || acks[1] < j.replicas:
			return fmt.Errorf("WAITAOF confirmed %v of 1 local and %d replicas within %s", acks, j.replicas, j.ackTimeout)
		}
		return nil
	})
}
