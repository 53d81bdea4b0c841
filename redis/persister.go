package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
)

// Persist writes into the store every order journaled before the call.
// It never writes an entry another persister is writing: two transactions
// inserting the same orders in different orders wait on each other, a
// deadlock PostgreSQL breaks one statement at a time. So it takes, as a
// consumer of its own, the entries no persister has taken yet, waits for
// those a live persister holds, and takes over those held longer than
// ReclaimAfter. A call joins the next round that starts after it, never
// one already running, which may have read the streams before the caller's
// order was acknowledged.
func (j *Journal) Persist(ctx context.Context) error {
	return j.flushes.do(ctx, j.flush)
}

func (j *Journal) flush(ctx context.Context) error {
	itemIDs, err := j.inv.itemIDs(ctx)
	if err != nil || len(itemIDs) == 0 {
		return err
	}
	// Most streams are empty most of the time: one pipeline finds the
	// ones that are not, and where each ends.
	client := j.inv.client
	lasts := make(rueidis.Commands, len(itemIDs))
	for i, itemID := range itemIDs {
		lasts[i] = client.B().Xrevrange().Key(j.inv.outboxKey(itemID)).End("+").Start("-").Count(1).Build()
	}
	for i, result := range client.DoMulti(ctx, lasts...) {
		last, err := result.AsXRange()
		if err != nil {
			return failure("read journal of item "+itemIDs[i], err)
		}
		if len(last) == 0 {
			continue // nothing journaled that is not in the store
		}
		if err := j.flushItem(ctx, itemIDs[i], last[0].ID); err != nil {
			return err
		}
	}
	return nil
}

// flushItem persists the item's entries up to through, the last one when
// the round began.
func (j *Journal) flushItem(ctx context.Context, itemID, through string) error {
	client, key := j.inv.client, j.inv.outboxKey(itemID)
	if err := j.createGroup(ctx, itemID); err != nil {
		return err
	}
	consumer := j.consumer + "/flush"
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		results := client.DoMulti(ctx,
			client.B().Xreadgroup().Group(persisters, consumer).Count(j.batch).Streams().Key(key).Id(">").Build(),
			client.B().Xautoclaim().Key(key).Group(persisters).Consumer(consumer).
				MinIdleTime(strconv.FormatInt(j.reclaimAfter.Milliseconds(), 10)).Start("0-0").Count(j.batch).Build(),
			client.B().Xpending().Key(key).Group(persisters).Start("-").End(through).Count(1).Build())
		var taken [2][]rueidis.XRangeEntry // new, then taken over
		for i, result := range results[:2] {
			entries, err := streamEntries(result)
			if err != nil {
				return failure("read journal of item "+itemID, err)
			}
			if err := j.persist(ctx, itemID, entries); err != nil {
				return err
			}
			taken[i] = entries
		}
		fresh, stale := taken[0], taken[1]
		if len(stale) > 0 || (len(fresh) > 0 && streamIDBefore(fresh[len(fresh)-1].ID, through)) {
			// There may be more of them up to through; entries appended
			// since the call began are not this round's to chase.
			continue
		}
		held, err := results[2].ToArray()
		if err != nil {
			return failure("read journal of item "+itemID, err)
		}
		if len(held) == 0 {
			return nil
		}
		sleep(ctx, wait) // a live persister is writing them
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// streamIDBefore reports whether stream entry id a comes before b; both
// are "milliseconds-sequence" as Redis makes them.
func streamIDBefore(a, b string) bool {
	aMillis, aSeq, _ := strings.Cut(a, "-")
	bMillis, bSeq, _ := strings.Cut(b, "-")
	am, _ := strconv.ParseUint(aMillis, 10, 64)
	bm, _ := strconv.ParseUint(bMillis, 10, 64)
	if am != bm {
		return am < bm
	}
	as, _ := strconv.ParseUint(aSeq, 10, 64)
	bs, _ := strconv.ParseUint(bSeq, 10, 64)
	return as < bs
}

// Run is the persister: until ctx ends it moves new entries of every
// item's outbox stream into the store, as this process's consumer of the
// persisters group, and takes over entries another consumer claimed but did
// not finish within ReclaimAfter.
func (j *Journal) Run(ctx context.Context) {
	// A quiet journal is read every 10 ms at first, then less often, down
	// to every 100 ms: a reader that needs an order sooner persists it
	// itself (Persist).
	const quickest, slowest = 10 * time.Millisecond, 100 * time.Millisecond
	wait := quickest
	lastReclaim, lastTidy := time.Now(), time.Time{}
	failing := false
	for ctx.Err() == nil {
		reclaim := time.Since(lastReclaim) >= j.reclaimAfter/2
		if reclaim {
			lastReclaim = time.Now()
		}
		if time.Since(lastTidy) >= tidyEvery {
			lastTidy = time.Now()
			if err := j.tidy(ctx); err != nil && ctx.Err() == nil {
				j.log.Warn("counting the journal's backlog", "err", err)
			}
		}
		moved, err := j.drain(ctx, reclaim)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			if !failing {
				j.log.Error("persisting journaled orders; retrying", "err", err)
			}
			failing = true
			sleep(ctx, time.Second)
			continue
		case failing:
			j.log.Info("persisting journaled orders again")
			failing = false
		}
		if moved > 0 {
			wait = quickest
			continue
		}
		sleep(ctx, wait)
		wait = min(2*wait, slowest)
	}
}

// tidyEvery is how often Run counts the backlog and looks for persisters
// to forget.
const tidyEvery = 2 * time.Second

// Backlog is how many acknowledged orders are journaled and not yet in the
// store, as Run last counted them (every two seconds): the persisters'
// lag, which should stay near zero.
func (j *Journal) Backlog() int64 { return j.backlog.Load() }

// tidy counts the backlog and removes the consumers that hold no entry and
// have been idle for ForgetConsumersAfter, this process's own excepted.
func (j *Journal) tidy(ctx context.Context) error {
	itemIDs, err := j.inv.itemIDs(ctx)
	if err != nil {
		return err
	}
	client := j.inv.client
	reads := make(rueidis.Commands, 0, 2*len(itemIDs))
	for _, itemID := range itemIDs {
		key := j.inv.outboxKey(itemID)
		reads = append(reads, client.B().Xlen().Key(key).Build(), client.B().XinfoConsumers().Key(key).Group(persisters).Build())
	}
	results := client.DoMulti(ctx, reads...)
	var backlog int64
	var forget rueidis.Commands
	for i, itemID := range itemIDs {
		n, err := results[2*i].AsInt64()
		if err != nil {
			return failure("count the journal of item "+itemID, err)
		}
		backlog += n
		consumers, err := results[2*i+1].ToArray()
		if err != nil {
			continue // no group yet: nothing to forget
		}
		for _, consumer := range consumers {
			info, err := consumer.AsMap()
			if err != nil {
				continue
			}
			nameField, pendingField, idleField := info["name"], info["pending"], info["idle"]
			name, _ := nameField.ToString()
			pending, _ := pendingField.AsInt64()
			idle, _ := idleField.AsInt64()
			if pending == 0 && time.Duration(idle)*time.Millisecond >= j.forgetAfter &&
				name != j.consumer && name != j.consumer+"/flush" {
				forget = append(forget, client.B().XgroupDelconsumer().Key(j.inv.outboxKey(itemID)).Group(persisters).Consumername(name).Build())
			}
		}
	}
	j.backlog.Store(backlog)
	for _, result := range client.DoMulti(ctx, forget...) {
		if err := result.Error(); err != nil {
			return failure("forget an idle persister", err)
		}
	}
	return nil
}

// drain makes one pass over every item's stream and returns how many
// entries it persisted.
func (j *Journal) drain(ctx context.Context, reclaim bool) (int, error) {
	itemIDs, err := j.inv.itemIDs(ctx)
	if err != nil || len(itemIDs) == 0 {
		return 0, err
	}
	if err := j.ensureGroups(ctx, itemIDs); err != nil {
		return 0, err
	}
	client := j.inv.client
	reads := make(rueidis.Commands, 0, 2*len(itemIDs))
	for _, itemID := range itemIDs {
		key := j.inv.outboxKey(itemID)
		reads = append(reads, client.B().Xreadgroup().Group(persisters, j.consumer).Count(j.batch).Streams().Key(key).Id(">").Build())
		if reclaim {
			reads = append(reads, client.B().Xautoclaim().Key(key).Group(persisters).Consumer(j.consumer).
				MinIdleTime(strconv.FormatInt(j.reclaimAfter.Milliseconds(), 10)).Start("0-0").Count(j.batch).Build())
		}
	}
	results := client.DoMulti(ctx, reads...)
	moved := 0
	per := len(reads) / len(itemIDs)
	for i, itemID := range itemIDs {
		for _, result := range results[i*per : (i+1)*per] {
			entries, err := streamEntries(result)
			if rerr, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(rerr.Error(), "NOGROUP") {
				// The stream went with Redis's data; the group is made
				// again next pass.
				delete(j.groups, itemID)
				continue
			}
			if err != nil {
				return moved, failure("read journal of item "+itemID, err)
			}
			if err := j.persist(ctx, itemID, entries); err != nil {
				return moved, err
			}
			moved += len(entries)
		}
	}
	return moved, nil
}

// streamEntries decodes the reply of XREADGROUP (one stream) or XAUTOCLAIM.
func streamEntries(result rueidis.RedisResult) ([]rueidis.XRangeEntry, error) {
	message, err := result.ToMessage()
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, nil // XREADGROUP: nothing new
		}
		return nil, err
	}
	if parts, err := message.ToArray(); err == nil && len(parts) >= 2 {
		if _, err := parts[0].ToString(); err == nil {
			// XAUTOCLAIM: next cursor, entries, deleted ids.
			return parts[1].AsXRange()
		}
	}
	streams, err := message.AsXRead()
	if err != nil {
		return nil, err
	}
	for _, entries := range streams {
		return entries, nil
	}
	return nil, nil
}

func (j *Journal) ensureGroups(ctx context.Context, itemIDs []string) error {
	for _, itemID := range itemIDs {
		if j.groups[itemID] {
			continue
		}
		if err := j.createGroup(ctx, itemID); err != nil {
			return err
		}
		j.groups[itemID] = true
	}
	return nil
}

// createGroup makes the item's stream and its persisters group, if they
// are not there already.
func (j *Journal) createGroup(ctx context.Context, itemID string) error {
	client := j.inv.client
	create := client.B().XgroupCreate().Key(j.inv.outboxKey(itemID)).Group(persisters).Id("0").Mkstream().Build()
	err := client.Do(ctx, create).Error()
	if rerr, ok := rueidis.IsRedisErr(err); err != nil && !(ok && rerr.IsBusyGroup()) {
		return failure("create the persisters group of item "+itemID, err)
	}
	return nil
}

// persist commits the orders of entries to the store, all at once so the
// store's group commit takes them together, then acknowledges and deletes
// the entries that are committed. Entries it could not commit stay, to be
// taken again.
func (j *Journal) persist(ctx context.Context, itemID string, entries []rueidis.XRangeEntry) error {
	if len(entries) == 0 {
		return nil
	}
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() { errs[i] = j.persistOne(ctx, e) })
	}
	wg.Wait()
	done := make([]string, 0, len(entries))
	var first error
	for i, e := range entries {
		if errs[i] == nil {
			done = append(done, e.ID)
		} else if first == nil {
			first = errs[i]
		}
	}
	if len(done) > 0 {
		client, key := j.inv.client, j.inv.outboxKey(itemID)
		for _, result := range client.DoMulti(ctx,
			client.B().Xack().Key(key).Group(persisters).Id(done...).Build(),
			client.B().Xdel().Key(key).Id(done...).Build()) {
			if err := result.Error(); err != nil {
				// Committed already; the entries are taken again and
				// written again, which changes nothing.
				return failure("acknowledge journal entries of item "+itemID, err)
			}
		}
	}
	if first != nil {
		return fmt.Errorf("%d of %d journaled orders of item %s not persisted; the first: %w",
			len(entries)-len(done), len(entries), itemID, first)
	}
	return nil
}

func (j *Journal) persistOne(ctx context.Context, e rueidis.XRangeEntry) error {
	var journaled entry
	if err := json.Unmarshal([]byte(e.FieldValues["order"]), &journaled); err != nil || journaled.ID == "" {
		return fmt.Errorf("redis: journal entry %s is malformed: %q", e.ID, e.FieldValues["order"])
	}
	order := journaled.order()
	err := j.store.CreateOrder(ctx, order)
	if flashsale.IsCode(err, flashsale.EIdempotencyKeyReused) {
		// Two requests with one key raced while the first was only in
		// the journal; both were acknowledged, so both are kept, the
		// second without the key.
		j.log.Warn("journaled order's Idempotency-Key is another order's; storing it without the key", "order_id", order.ID)
		order.IdempotencyKey = ""
		err = j.store.CreateOrder(ctx, order)
	}
	return err
}

// itemIDs are the loaded items, each of which may have a journal.
func (inv *Inventory) itemIDs(ctx context.Context) ([]string, error) {
	ids, err := inv.client.Do(ctx, inv.client.B().Smembers().Key(inv.itemsKey()).Build()).AsStrSlice()
	if err != nil {
		return nil, failure("list items", err)
	}
	return ids, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
