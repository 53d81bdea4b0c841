package redis

import (
	"context"
	_ "embed"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

var (
	//go:embed soldout.lua
	soldOutLua string

	// Not the read-only variant, which a client may send to a replica: a
	// replica can still show a sold-out item whose restock the primary has
	// already published, and the flag learned from it would outlive the
	// message.
	soldOutScript = rueidis.NewLuaScript(soldOutLua)
)

// The sold-out fast path: each process keeps, per item, a flag that the
// item has nothing available, together with the users who held units of
// it at that instant (a double click must still get its reservation back,
// a user at the limit already_purchased). SoldOutFor answers from them
// alone, without a network hop.
//
// A flag is learned when a reservation is refused with nothing left: one
// script then reads, atomically with "nothing is available", who holds
// units. While nothing is available no one can become a holder, so the
// set can only shrink and a user outside it is refused as sold out by
// Redis too. The flag holds until stock comes back: the scripts that give
// a sold-out item units again (release.lua, load.lua) publish its id on
// the channel "P:restocked", and every instance's Run drops its flag of
// the item as the message arrives, typically within a millisecond. In a
// Redis Cluster a PUBLISH, from a script too, reaches the subscribers of
// every node.
//
// Pub/sub loses what is published while a subscriber reconnects, so
// flags are learned only while Run's subscription is confirmed, and all
// are dropped when it ends and again when it is confirmed anew. Should a
// message still go unheard, the flag's max age bounds the damage: a flag
// is believed for at most maxAge after its reading was sent, and that
// reading saw nothing available, so no instance answers sold_out more
// than maxAge (Options.SoldOutMaxAge, one second by default) after stock
// came back, whatever happens to pub/sub.
type soldOutFlags struct {
	maxAge time.Duration
	now    func() time.Time
	// items maps an item id to its *soldOutItem, from the first time the
	// item was refused as sold out in this process.
	items sync.Map

	// mu orders the setting of flags with what Run hears, so that a flag
	// read before a restock is never set after its message was handled.
	mu sync.Mutex
	// live is whether Run's subscription is confirmed: only then will a
	// restock be heard.
	live bool
	// generation changes whenever the subscription starts or ends, the
	// moments messages may have been lost.
	generation uint64
}

type soldOutItem struct {
	// flag is nil while the item is not known to be sold out.
	flag atomic.Pointer[soldOutFlag]
	// fetching lets one request of this process at a time read the item's
	// holders; the others already have their sold_out answer.
	fetching atomic.Bool
	// epoch counts the restocks heard of the item; guarded by mu.
	epoch uint64
}

type soldOutFlag struct {
	holders map[string]struct{}
	until   time.Time
}

// SoldOutFor reports, without I/O, that a reservation of the item by the
// user would be refused as sold out: the item had nothing available when
// last read, no restock has been heard since, the reading is younger than
// the max age, and the user held no unit of the item then.
//
// A flag past half its age is read again in the background by the press
// that finds it so, one reading at a time, so that an item stays flagged
// while presses keep coming. Otherwise only a refused reservation would
// read it again, and in a sale with a waiting room the presses of
// shoppers not admitted never reach the inventory: a second after the
// last reading they were refused admission_required, where the embedded
// deployment says sold_out.
func (inv *Inventory) SoldOutFor(itemID, userID string) bool {
	stored, ok := inv.soldOut.items.Load(itemID)
	if !ok {
		return false
	}
	it := stored.(*soldOutItem)
	flag := it.flag.Load()
	if flag == nil {
		return false
	}
	now := inv.soldOut.now()
	if !now.Before(flag.until.Add(-inv.soldOut.maxAge/2)) && it.fetching.CompareAndSwap(false, true) {
		go func() {
			defer it.fetching.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), inv.soldOut.maxAge)
			defer cancel()
			inv.readSoldOut(ctx, itemID, it)
		}()
	}
	if !now.Before(flag.until) {
		return false
	}
	_, holds := flag.holders[userID]
	return !holds
}

// learnSoldOut reads whether the item has nothing available and who holds
// units of it, and sets the item's flag from the answer, unless a restock
// was heard, or the subscription changed, while the reading was on its
// way. It fails quietly: the next refusal tries again.
func (inv *Inventory) learnSoldOut(ctx context.Context, itemID string) {
	s := &inv.soldOut
	stored, ok := s.items.Load(itemID)
	if !ok {
		// Registered before the epoch is read, so that a restock heard
		// from now on bumps it.
		stored, _ = s.items.LoadOrStore(itemID, &soldOutItem{})
	}
	it := stored.(*soldOutItem)
	if !it.fetching.CompareAndSwap(false, true) {
		return
	}
	defer it.fetching.Store(false)
	inv.readSoldOut(ctx, itemID, it)
}

// readSoldOut is learnSoldOut's reading, by the one request that set the
// item's fetching.
func (inv *Inventory) readSoldOut(ctx context.Context, itemID string, it *soldOutItem) {
	s := &inv.soldOut
	s.mu.Lock()
	live, generation, epoch := s.live, s.generation, it.epoch
	s.mu.Unlock()
	if !live {
		return
	}
	sent := s.now()
	holders, err := soldOutScript.Exec(ctx, inv.client, inv.itemKeys(itemID), nil).AsStrSlice()
	var flag *soldOutFlag
	switch {
	case rueidis.IsRedisNil(err):
		// Units came back (or the item is gone) before the reading: the
		// item is not sold out.
	case err != nil:
		return
	default:
		flag = &soldOutFlag{holders: make(map[string]struct{}, len(holders)), until: sent.Add(s.maxAge)}
		for _, userID := range holders {
			flag.holders[userID] = struct{}{}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live && s.generation == generation && it.epoch == epoch {
		it.flag.Store(flag)
	}
}

// restocked drops the item's flag, and makes any reading of it still on
// its way void: that reading may predate the restock.
func (s *soldOutFlags) restocked(itemID string) {
	stored, ok := s.items.Load(itemID)
	if !ok {
		return // never learned, nor being learned
	}
	it := stored.(*soldOutItem)
	s.mu.Lock()
	it.epoch++
	it.flag.Store(nil)
	s.mu.Unlock()
}

// reset drops every flag and voids the readings on their way: the
// subscription has just started or ended, and restocks published while
// it was down went unheard.
func (s *soldOutFlags) reset(live bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = live
	s.generation++
	s.items.Range(func(_, stored any) bool {
		stored.(*soldOutItem).flag.Store(nil)
		return true
	})
}

// Between two subscriptions Run waits from resubscribeMin, doubling after
// each failure up to resubscribeMax: while it is not subscribed this
// process has no sold-out fast path, so a blip should cost little, and a
// Redis that is down should not be hammered.
const (
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 2 * time.Second
)

// Run keeps the sold-out flags honest: it listens on the restock channel
// until ctx ends, resubscribing after a lost connection. The inventory
// learns no flag while Run is not subscribed, so without Run SoldOutFor
// is always false and every request goes to Redis. Run one per Inventory.
func (inv *Inventory) Run(ctx context.Context) {
	var confirmed atomic.Bool
	hooked := rueidis.WithOnSubscriptionHook(ctx, func(sub rueidis.PubSubSubscription) {
		// Called on the connection's reader before it hands on any message
		// that follows the confirmation, so no restock from here on is
		// missed.
		if sub.Kind == "subscribe" {
			confirmed.Store(true)
			inv.soldOut.reset(true)
		}
	})
	pause := resubscribeMin
	for {
		confirmed.Store(false)
		// Built anew each time: Receive recycles the command it was given.
		subscribe := inv.client.B().Subscribe().Channel(inv.restocked).Build()
		err := inv.client.Receive(hooked, subscribe, func(msg rueidis.PubSubMessage) {
			inv.soldOut.restocked(msg.Message)
		})
		inv.soldOut.reset(false)
		if ctx.Err() != nil {
			return
		}
		if confirmed.Load() {
			pause = resubscribeMin
		}
		inv.log.Warn("restock subscription ended; resubscribing", "channel", inv.restocked, "after", pause, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, resubscribeMax)
	}
}

// Subscribed reports whether Run's restock subscription is confirmed, so
// that sold-out flags are being learned.
func (inv *Inventory) Subscribed() bool {
	inv.soldOut.mu.Lock()
	defer inv.soldOut.mu.Unlock()
	return inv.soldOut.live
}
