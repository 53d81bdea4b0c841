package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
	"github.com/flashsale/flashsale/sqlite"
	"github.com/flashsale/flashsale/storetest"
)

// journalFixture is a sale of one item of 100 units (per-user limit 2)
// loaded into an inventory on a server of the test's own with WAITAOF, and
// stored in a SQLite store, which the journal persists into.
type journalFixture struct {
	t       *testing.T
	dir     string
	port    int
	process *os.Process
	client  rueidis.Client
	inv     *redis.Inventory
	store   *sqlite.Store
	sale    *flashsale.Sale
	item    flashsale.Item
}

func newJournalFixture(t *testing.T) *journalFixture {
	t.Helper()
	f := &journalFixture{t: t, dir: t.TempDir(), port: redistest.SparePorts(t, 1)[0]}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "flashsale.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.store = store
	f.sale = storetest.NewSale()
	if err := store.CreateSale(t.Context(), f.sale); err != nil {
		t.Fatal(err)
	}
	f.item = f.sale.Items[0]
	f.start()
	snap, err := store.Claims(t.Context(), f.item.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.inv.Load(t.Context(), snap); err != nil {
		t.Fatal(err)
	}
	return f
}

// start starts (or restarts, on the same files) the server and connects.
func (f *journalFixture) start() {
	f.t.Helper()
	addr, process := redistest.StartAOFServer(f.t, f.dir, f.port)
	f.process = process
	client := redistest.Connect(f.t, "redis://"+addr)
	// A restarted server answers LOADING while it replays its AOF.
	testenv.Eventually(f.t, 10*time.Second, "the server to load its AOF", func() bool {
		return client.Do(f.t.Context(), client.B().Ping().Build()).Error() == nil
	})
	f.client = client
	f.inv = redis.NewInventory(client, redis.Options{KeyPrefix: "fs"})
}

func (f *journalFixture) journal(opts redis.JournalOptions) *redis.Journal {
	f.t.Helper()
	opts.Store = f.store
	return redistest.Journal(f.t, f.inv, opts)
}

// order is what checkout journals for a new reservation by user.
func (f *journalFixture) order(user string, at time.Time) (flashsale.ReserveRequest, *flashsale.Order) {
	at = at.UTC().Truncate(time.Microsecond) // as Redis keeps times
	id := fmt.Sprintf("order-%s-%d", user, at.UnixNano())
	req := flashsale.ReserveRequest{SaleID: f.sale.ID, ItemID: f.item.ID, UserID: user, Quantity: 1,
		OrderID: id, Now: at, TTL: f.sale.ReservationTTL}
	return req, &flashsale.Order{ID: id, SaleID: f.sale.ID, ItemID: f.item.ID, UserID: user, Quantity: 1,
		Status: flashsale.OrderReserved, UnitPrice: f.item.SalePrice, Currency: f.item.Currency,
		ReservedAt: at, ExpiresAt: at.Add(f.sale.ReservationTTL), UpdatedAt: at, IdempotencyKey: "key-" + user}
}

// reserve journals one reservation for each of users users named after
// group, all at once, and returns the acknowledged orders.
func (f *journalFixture) reserve(j *redis.Journal, group string, users int) []*flashsale.Order {
	f.t.Helper()
	at := f.sale.StartTime.Add(time.Minute)
	orders := make([]*flashsale.Order, users)
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			req, order := f.order(fmt.Sprintf("%s-%d", group, i), at)
			res, err := j.ReserveJournaled(context.Background(), req, order)
			if err != nil || res.Existing {
				f.t.Errorf("reserve for %s: %+v, %v", req.UserID, res, err)
				return
			}
			orders[i] = order
		})
	}
	wg.Wait()
	return orders
}

// claim has consumer take every entry of the item's outbox no persister has
// taken, as a persister does before it writes them, and returns the key.
func (f *journalFixture) claim(consumer string) string {
	f.t.Helper()
	key := "{fs:" + f.item.ID + "}:outbox"
	for _, command := range [][]string{
		{"XGROUP", "CREATE", key, "persisters", "0"},
		{"XREADGROUP", "GROUP", "persisters", consumer, "COUNT", "100", "STREAMS", key, ">"},
	} {
		if err := exec(f.client, command...); err != nil {
			f.t.Fatal(err)
		}
	}
	return key
}

func (f *journalFixture) outboxLength() int64 {
	f.t.Helper()
	n, err := f.client.Do(f.t.Context(), f.client.B().Xlen().Key("{fs:"+f.item.ID+"}:outbox").Build()).AsInt64()
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// assertStored checks that the store has every acknowledged order as it
// was acknowledged, and that the store's and the inventory's counts agree.
func (f *journalFixture) assertStored(orders []*flashsale.Order) {
	f.t.Helper()
	for _, want := range orders {
		if want == nil {
			continue
		}
		got, err := f.store.Order(f.t.Context(), want.ID)
		if err != nil {
			f.t.Fatalf("acknowledged order %s: %v", want.ID, err)
		}
		if got.UserID != want.UserID || got.Quantity != want.Quantity || got.Status != flashsale.OrderReserved ||
			got.UnitPrice != want.UnitPrice || !got.ReservedAt.Equal(want.ReservedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.IdempotencyKey != want.IdempotencyKey {
			f.t.Fatalf("stored order %+v, acknowledged %+v", got, want)
		}
	}
	claims, err := f.store.Claims(f.t.Context(), f.item.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	stock, err := f.inv.Stock(f.t.Context(), f.item.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if !stock.Consistent() || stock.Reserved != int64(len(claims.Reservations)) {
		f.t.Fatalf("inventory %+v, store holds %d reservations", stock, len(claims.Reservations))
	}
}

// An acknowledged reservation is in the stream before the store has it;
// Persist moves every one into the store and empties the stream.
func TestJournalPersist(t *testing.T) {
	f := newJournalFixture(t)
	j := f.journal(redis.JournalOptions{})
	orders := f.reserve(j, "user", 40)
	if n := f.outboxLength(); n != 40 {
		t.Fatalf("the outbox holds %d entries after 40 reservations", n)
	}
	if _, err := f.store.Order(t.Context(), orders[0].ID); !flashsale.IsCode(err, flashsale.EOrderNotFound) {
		t.Fatalf("the store had order %s before anything persisted it: %v", orders[0].ID, err)
	}
	if err := j.Persist(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.assertStored(orders)
	if n := f.outboxLength(); n != 0 {
		t.Fatalf("the outbox holds %d entries after Persist", n)
	}
}

// A retry of a reservation, or a second one by its user, journals nothing.
func TestJournalJournalsOnlyNewReservations(t *testing.T) {
	f := newJournalFixture(t)
	j := f.journal(redis.JournalOptions{})
	at := f.sale.StartTime.Add(time.Minute)
	req, order := f.order("alice", at)
	for range 2 {
		if _, err := j.ReserveJournaled(t.Context(), req, order); err != nil {
			t.Fatal(err)
		}
	}
	again, second := f.order("alice", at.Add(time.Second))
	res, err := j.ReserveJournaled(t.Context(), again, second)
	if err != nil || !res.Existing || res.OrderID != order.ID {
		t.Fatalf("a second reservation by alice: %+v, %v; want her first", res, err)
	}
	if n := f.outboxLength(); n != 1 {
		t.Fatalf("the outbox holds %d entries, want 1", n)
	}
}

// Every acknowledged reservation survives a kill -9 of Redis: it was in the
// fsynced AOF before its acknowledgement, and the persister finds it after
// the restart.
func TestJournalSurvivesRedisCrash(t *testing.T) {
	f := newJournalFixture(t)
	orders := f.reserve(f.journal(redis.JournalOptions{}), "user", 60)
	// The process dies the moment the last acknowledgement is out.
	if err := f.process.Kill(); err != nil {
		t.Fatal(err)
	}
	_, _ = f.process.Wait()
	f.start()
	if err := f.journal(redis.JournalOptions{}).Persist(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.assertStored(orders)
}

// Entries a persister claimed and never finished (it died) are taken over
// by a live one after ReclaimAfter; new entries go to Run as they come.
func TestJournalRunReclaimsADeadPersistersEntries(t *testing.T) {
	f := newJournalFixture(t)
	dead := f.journal(redis.JournalOptions{Consumer: "dead"})
	claimed := f.reserve(dead, "early", 10)
	f.claim("dead")
	live := f.journal(redis.JournalOptions{Consumer: "live", ReclaimAfter: 300 * time.Millisecond})
	testenv.Background(t, live.Run)
	fresh := f.reserve(live, "late", 10)
	testenv.Eventually(t, 10*time.Second, "the outbox streams to drain", func() bool { return f.outboxLength() == 0 })
	if n := f.outboxLength(); n != 0 {
		t.Fatalf("%d entries were never persisted", n)
	}
	f.assertStored(append(claimed, fresh...))
}

// A persister killed between its insert and its acknowledgement leaves
// entries pending whose orders the store holds already: the live
// persister takes them over and writes them again, which changes nothing
// (one order, one order.reserved each), and acknowledges them.
func TestJournalRunRewritesWhatADeadPersisterStoredButNeverAcknowledged(t *testing.T) {
	f := newJournalFixture(t)
	dead := f.journal(redis.JournalOptions{Consumer: "dead"})
	stored := f.reserve(dead, "stored", 10)
	f.claim("dead")
	for _, o := range stored {
		if err := f.store.CreateOrder(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.outboxLength(); n != int64(len(stored)) {
		t.Fatalf("%d entries in the outbox, want the dead persister's %d unacknowledged ones", n, len(stored))
	}
	store := &countingStore{Store: f.store, creates: map[string]int{}}
	live := redistest.Journal(t, f.inv, redis.JournalOptions{Store: store, Consumer: "live", ReclaimAfter: 300 * time.Millisecond})
	testenv.Background(t, live.Run)
	fresh := f.reserve(live, "fresh", 10)
	testenv.Eventually(t, 10*time.Second, "the outbox streams to drain", func() bool { return f.outboxLength() == 0 })
	f.assertStored(append(stored, fresh...))
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, o := range stored {
		if store.creates[o.ID] == 0 {
			t.Errorf("order %s: its entry was acknowledged without being written again", o.ID)
		}
		notes, err := f.store.NotificationsAfter(t.Context(), o.UserID, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		reserved := 0
		for _, n := range notes {
			if n.OrderID == o.ID && n.Event == flashsale.EventOrderReserved {
				reserved++
			}
		}
		if reserved != 1 {
			t.Errorf("order %s has %d order.reserved notifications, want 1", o.ID, reserved)
		}
	}
}

// Two acknowledged orders that share an Idempotency-Key (they raced while
// the first was only journaled) are both kept: the second without the key.
func TestJournalKeepsOrdersWhoseKeyIsTaken(t *testing.T) {
	f := newJournalFixture(t)
	j := f.journal(redis.JournalOptions{})
	at := f.sale.StartTime.Add(time.Minute)
	req, first := f.order("alice", at)
	if _, err := j.ReserveJournaled(t.Context(), req, first); err != nil {
		t.Fatal(err)
	}
	other := f.sale.Items[1]
	snap, err := f.store.Claims(t.Context(), other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.inv.Load(t.Context(), snap); err != nil {
		t.Fatal(err)
	}
	req2, second := f.order("alice", at)
	req2.ItemID, second.ItemID, second.ID, req2.OrderID = other.ID, other.ID, "second", "second"
	if _, err := j.ReserveJournaled(t.Context(), req2, second); err != nil {
		t.Fatal(err)
	}
	if err := j.Persist(t.Context()); err != nil {
		t.Fatal(err)
	}
	byKey, err := f.store.OrderByIdempotencyKey(t.Context(), "alice", first.IdempotencyKey)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.store.Order(t.Context(), "second")
	if err != nil {
		t.Fatal(err)
	}
	if byKey.ID == stored.ID || (byKey.ID == first.ID) == (stored.IdempotencyKey == first.IdempotencyKey) {
		t.Fatalf("key holder %s, second order's key %q", byKey.ID, stored.IdempotencyKey)
	}
}

// An acknowledgement that cannot be confirmed (no replica to confirm it)
// is in doubt: the reservation stands and its order is persisted all the
// same, so a retry finds it.
func TestJournalUnconfirmedFsyncIsInDoubt(t *testing.T) {
	f := newJournalFixture(t)
	j := f.journal(redis.JournalOptions{Replicas: 1, AckTimeout: 50 * time.Millisecond})
	req, order := f.order("alice", f.sale.StartTime.Add(time.Minute))
	if _, err := j.ReserveJournaled(t.Context(), req, order); !errors.Is(err, flashsale.ErrWriteInDoubt) {
		t.Fatalf("reserve with no replica to confirm: %v, want in doubt", err)
	}
	if err := j.Persist(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.assertStored([]*flashsale.Order{order})
}

// A journal needs a store, and a server that cannot acknowledge from its
// AOF (no WAITAOF, or no AOF) is refused with the reason, before any sale
// relies on it.
func TestJournalRefusesAServerWithoutAOF(t *testing.T) {
	addr, _ := redistest.StartAOFServer(t, t.TempDir(), 0)
	client := redistest.Connect(t, "redis://"+addr)
	if err := exec(client, "CONFIG", "SET", "appendonly", "no"); err != nil {
		t.Fatal(err)
	}
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: "fs"})
	if _, err := redis.NewJournal(inv, redis.JournalOptions{}); err == nil {
		t.Fatal("NewJournal accepted no store")
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "flashsale.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	j, err := redis.NewJournal(inv, redis.JournalOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.CheckAcknowledgements(t.Context()); err == nil || !strings.Contains(err.Error(), "WAITAOF") {
		t.Fatalf("CheckAcknowledgements on a server without AOF: %v", err)
	}
}

func exec(client rueidis.Client, command ...string) error {
	return client.Do(context.Background(), client.B().Arbitrary(command...).Build()).Error()
}

// countingStore counts the orders written through it.
type countingStore struct {
	*sqlite.Store
	mu      sync.Mutex
	creates map[string]int
}

func (s *countingStore) CreateOrder(ctx context.Context, o *flashsale.Order) error {
	s.mu.Lock()
	s.creates[o.ID]++
	s.mu.Unlock()
	return s.Store.CreateOrder(ctx, o)
}

// Persist never writes an entry a live persister holds (two transactions
// writing the same orders deadlock): it waits until the holder is done.
func TestPersistWaitsForALivePersister(t *testing.T) {
	f := newJournalFixture(t)
	store := &countingStore{Store: f.store, creates: map[string]int{}}
	j := redistest.Journal(t, f.inv, redis.JournalOptions{Store: store, ReclaimAfter: time.Minute})
	held := f.reserve(j, "held", 5)
	key := f.claim("holder")
	fresh := f.reserve(j, "fresh", 5)

	persisted := make(chan error, 1)
	go func() { persisted <- j.Persist(context.Background()) }()
	select {
	case err := <-persisted:
		t.Fatalf("Persist returned (%v) while a live persister held 5 entries", err)
	case <-time.After(300 * time.Millisecond):
	}
	// The holder finishes: it writes its orders, then acknowledges and
	// deletes their entries.
	entries, err := f.client.Do(t.Context(), f.client.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range held {
		if err := f.store.CreateOrder(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		if err := exec(f.client, "XACK", key, "persisters", e.ID); err != nil {
			t.Fatal(err)
		}
		if err := exec(f.client, "XDEL", key, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-persisted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Persist still waits after the holder finished")
	}
	f.assertStored(append(held, fresh...))
	for _, o := range held {
		if n := store.creates[o.ID]; n != 0 {
			t.Errorf("Persist wrote order %s, which the live persister held, %d times", o.ID, n)
		}
	}
}

// A server that fsyncs its AOF once a second makes every acknowledgement
// wait for that fsync: the journal says so when it starts.
func TestNewJournalWarnsOfAnAOFFsyncedEverySecond(t *testing.T) {
	f := newJournalFixture(t)
	for _, fsync := range []string{"always", "everysec"} {
		if err := exec(f.client, "CONFIG", "SET", "appendfsync", fsync); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		f.journal(redis.JournalOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if warned := strings.Contains(logs.String(), "appendfsync=everysec"); warned != (fsync == "everysec") {
			t.Errorf("appendfsync %s: logged %q", fsync, logs.String())
		}
	}
}

// On a three-primary cluster every item's reservations are acknowledged
// by its own shard's AOF (the WAITAOF round goes to the item's slot), and
// the persisters drain the streams of every shard.
func TestJournalOnACluster(t *testing.T) {
	client := redistest.Connect(t, redistest.StartAOFCluster(t, 3))
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "flashsale.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: "fs"})
	journal := redistest.Journal(t, inv, redis.JournalOptions{Store: store})
	testenv.Background(t, journal.Run)

	// Sales of three items each, so the items land on every shard.
	var orders []*flashsale.Order
	for range 3 {
		sale := storetest.NewSale()
		if err := store.CreateSale(t.Context(), sale); err != nil {
			t.Fatal(err)
		}
		for _, item := range sale.Items {
			snap, err := store.Claims(t.Context(), item.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := inv.Load(t.Context(), snap); err != nil {
				t.Fatal(err)
			}
			f := &journalFixture{t: t, sale: sale, item: item}
			for u := range 3 {
				req, order := f.order(fmt.Sprintf("user-%d", u), sale.StartTime.Add(time.Minute))
				if _, err := journal.ReserveJournaled(t.Context(), req, order); err != nil {
					t.Fatal(err)
				}
				orders = append(orders, order)
			}
		}
	}
	shards := 0
	for addr, node := range client.Nodes() {
		keys, err := redistest.ScanKeys(t.Context(), node, "{fs:*}:outbox")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			continue
		}
		shards++
		// Each shard confirmed its own items' writes: WAITAOF ran there
		// beyond NewJournal's probe.
		stats, err := node.Do(t.Context(), node.B().Info().Section("commandstats").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		if _, after, ok := strings.Cut(stats, "cmdstat_waitaof:calls="); ok {
			calls, _ = strconv.Atoi(strings.SplitN(after, ",", 2)[0])
		}
		if calls < 2 {
			t.Errorf("%s holds %d journals but served %d WAITAOF", addr, len(keys), calls)
		}
	}
	if shards < 2 {
		t.Fatalf("the journals are on %d shard(s); the test needs them spread", shards)
	}
	if err := journal.Persist(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if _, err := store.Order(t.Context(), o.ID); err != nil {
			t.Fatalf("order %s: %v", o.ID, err)
		}
	}
}

// failingStore writes nothing: the journal's entries wait.
type failingStore struct{ *sqlite.Store }

func (failingStore) CreateOrder(context.Context, *flashsale.Order) error {
	return errors.New("the store is away")
}

// Run counts the orders still to persist, and forgets the persisters
// (of instances long gone) that hold no entry and have been idle a while;
// one that holds entries stays until they are taken over.
func TestJournalCountsItsBacklogAndForgetsIdlePersisters(t *testing.T) {
	f := newJournalFixture(t)
	f.reserve(f.journal(redis.JournalOptions{}), "user", 5)
	key := f.claim("holder") // holds the 5 entries
	if err := exec(f.client, "XGROUP", "CREATECONSUMER", key, "persisters", "gone"); err != nil {
		t.Fatal(err)
	}
	j := redistest.Journal(t, f.inv, redis.JournalOptions{Store: failingStore{f.store}, Consumer: "live",
		ReclaimAfter: time.Hour, ForgetConsumersAfter: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	testenv.Background(t, j.Run)

	consumers := func() []string {
		reply, err := f.client.Do(t.Context(), f.client.B().XinfoConsumers().Key(key).Group("persisters").Build()).ToArray()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range reply {
			info, _ := c.AsMap()
			name := info["name"]
			s, _ := name.ToString()
			names = append(names, s)
		}
		return names
	}
	testenv.Eventually(t, 10*time.Second, "gone forgotten and a backlog of 5", func() bool {
		return !slices.Contains(consumers(), "gone") && j.Backlog() == 5
	})
	if !slices.Contains(consumers(), "holder") {
		t.Fatalf("the persister holding 5 entries was forgotten: %v", consumers())
	}
}

func TestStreamIDBefore(t *testing.T) {
	for _, tt := range []struct {
		a, b   string
		before bool
	}{
		{"1-0", "2-0", true},
		{"2-0", "1-0", false},
		{"9-5", "10-0", true}, // numbers, not text
		{"10-2", "10-10", true},
		{"10-10", "10-10", false},
	} {
		if got := redis.StreamIDBefore(tt.a, tt.b); got != tt.before {
			t.Errorf("%s before %s: %v, want %v", tt.a, tt.b, got, tt.before)
		}
	}
}
