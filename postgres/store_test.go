package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/storetest"
)

// Each scenario gets a schema of its own: queries such as StalePayments
// read the whole store, and the scenarios run in parallel.
func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		// Draws of three entries a step: every draw of the suite takes
		// several.
		Open: func(t *testing.T) flashsale.OrderStore {
			return openStore(t, referencesChecked(t, pgtest.Schema(t)), WithDrawStep(3))
		},
		Reopen: func(t *testing.T, closed flashsale.OrderStore) flashsale.OrderStore {
			return openStore(t, closed.(*Store).url, WithDrawStep(3))
		},
		OpenWithChannels: func(t *testing.T, channels []string) flashsale.OrderStore {
			return openStore(t, referencesChecked(t, pgtest.Schema(t)), WithNotificationChannels(channels...), WithDrawStep(3))
		},
	})
}

// referencesChecked checks, once the test is over, the references the
// schema has no foreign key for (see migration 00018): every
// notification's order exists, and every delivery's notification.
func referencesChecked(t *testing.T, url string) string {
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		for what, query := range map[string]string{
			"notifications of no order": `SELECT count(*) FROM notifications n WHERE n.order_id IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = n.order_id)`,
			"deliveries of no notification": `SELECT count(*) FROM notification_deliveries d
				WHERE NOT EXISTS (SELECT 1 FROM notifications n WHERE n.notification_seq = d.notification_seq)`,
		} {
			var orphans int
			if err := conn.QueryRow(context.Background(), query).Scan(&orphans); err != nil {
				t.Fatal(err)
			}
			if orphans > 0 {
				t.Errorf("%d %s", orphans, what)
			}
		}
	})
	return url
}

// Instances of a fleet paying with one shared card, or ordering with one
// shared phone, through stores of their own on one database: the key's
// lock orders their counts, and exactly one of fifty accounts passes.
func TestPurchaseLimitsAcrossInstances(t *testing.T) {
	url := pgtest.Schema(t)
	stores := make([]flashsale.OrderStore, 3)
	for i := range stores {
		stores[i] = openStore(t, url)
		t.Cleanup(func() { stores[i].Close() })
	}
	for range 5 {
		storetest.RaceCard(t, stores)
		storetest.RaceIdentity(t, stores)
	}
}

// Instances of a fleet take entries of the same users at once, and run
// the same draw at once, through stores of their own on one database: the
// unique constraint keeps one entry per user per item, the draw's key one
// draw per item, and its row's progress each step once.
func TestLotteryAcrossInstances(t *testing.T) {
	url := pgtest.Schema(t)
	stores := make([]flashsale.OrderStore, 3)
	for i := range stores {
		stores[i] = openStore(t, url, WithDrawStep(3))
		t.Cleanup(func() { stores[i].Close() })
	}
	for range 3 {
		storetest.RaceEntries(t, stores)
		storetest.RaceDraws(t, stores)
		storetest.RaceDrawSteps(t, stores)
	}
}

// A draw whose process died after its first step is carried on by the
// next call.
func TestDrawCutShortIsCarriedOn(t *testing.T) {
	s := openStore(t, pgtest.Schema(t), WithDrawStep(3))
	defer s.Close()
	storetest.DrawCutShort(t, s, func(d flashsale.ItemDraw, order []string, winners int) error {
		if _, _, err := s.startDraw(t.Context(), d); err != nil {
			return err
		}
		_, err := s.rankStep(t.Context(), d.ItemID, flashsale.PlacesInEntryOrder(order), winners, 0)
		return err
	})
}

func openStore(t testing.TB, url string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// Migrations run once: opening a migrated schema again changes nothing.
// Instances that start together on a new schema all open: they take
// turns at the migrations.
func TestOpenMigrates(t *testing.T) {
	url := pgtest.Schema(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), url)
			if err != nil {
				t.Errorf("open: %v", err)
				return
			}
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	wg.Wait()
	if err := Migrate(t.Context(), url); err != nil {
		t.Fatalf("migrate a migrated schema: %v", err)
	}
}

// Commits wait for the WAL flush even where the server's default says
// they need not.
func TestCommitsAreDurable(t *testing.T) {
	s := openStore(t, pgtest.WithParam(t, pgtest.Schema(t), "synchronous_commit", "off"))
	defer s.Close()
	var setting string
	if err := s.writers.QueryRow(t.Context(), "SHOW synchronous_commit").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "on" {
		t.Fatalf("the committers' synchronous_commit is %s, want on", setting)
	}
}

// A caller that gives up on a queued write gets its context's error, and
// the write never happens: it cannot be half there.
func TestAbandonedWriteIsNotApplied(t *testing.T) {
	s := openStore(t, pgtest.Schema(t), WithCommitters(1))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}

	// Hold the one committer in a write of its own so the next one queues.
	release := holdCommitter(s)
	ctx, cancel := context.WithCancel(t.Context())
	o := storetest.NewOrder(sale)
	result := make(chan error)
	go func() { result <- s.CreateOrder(ctx, o) }()
	for queued := 0; queued == 0; {
		runtime.Gosched()
		queued = s.commits.writes.Waiting()
	}
	cancel()
	if err := <-result; !errors.Is(err, context.Canceled) {
		t.Fatalf("create order: %v, want context.Canceled", err)
	}
	release()

	if err := s.Ping(t.Context()); err != nil { // the committer is past the abandoned write
		t.Fatal(err)
	}
	if _, err := s.Order(t.Context(), o.ID); !flashsale.IsCode(err, flashsale.EOrderNotFound) {
		t.Fatalf("abandoned order: %v, want order_not_found", err)
	}
}

// holdCommitter keeps the store's one committer busy with a write of its
// own until release is called, so that the writes queued meanwhile wait.
func holdCommitter(s *Store) (release func()) {
	holding, released := make(chan struct{}), make(chan struct{})
	go s.commits.do(context.Background(), &write{queue: func(*pgx.Batch) {
		close(holding)
		<-released
	}})
	<-holding
	return func() { close(released) }
}

// Writes that fail share a batch with writes that succeed: each failure
// takes back only its own write, whatever its place in the batch.
func TestFailedWritesInABatch(t *testing.T) {
	channels := []string{"sse", "log"}
	s := openStore(t, pgtest.Schema(t), WithCommitters(1), WithNotificationChannels(channels...))
	defer s.Close()
	storetest.FailedWritesInABatch(t, s, channels, func() func() { return holdCommitter(s) }, s.commits.writes.Waiting)
}

// A confirmation adds the order's units to the user's purchase history, in
// the same transaction.
func TestConfirmRecordsPurchase(t *testing.T) {
	s := openStore(t, pgtest.Schema(t))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	userID := uuid.NewString()
	confirmedAt := time.Date(2030, time.March, 1, 9, 5, 0, 0, time.UTC)
	for i, quantity := range []int64{1, 2} {
		o := storetest.NewOrder(sale)
		o.UserID, o.Quantity = userID, quantity
		if err := s.CreateOrder(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		for _, step := range []flashsale.Transition{
			{OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderPaying, At: o.ReservedAt},
			{OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: confirmedAt.Add(time.Duration(i) * time.Minute)},
		} {
			if _, err := s.Transition(t.Context(), step); err != nil {
				t.Fatal(err)
			}
		}
	}
	var (
		purchased    int64
		lastPurchase time.Time
	)
	err := s.readers.QueryRow(t.Context(), `SELECT quantity_purchased, last_purchase_at
		FROM user_purchases WHERE user_id = $1 AND item_id = $2`, userID, sale.Items[0].ID).Scan(&purchased, &lastPurchase)
	if err != nil {
		t.Fatal(err)
	}
	if want := confirmedAt.Add(time.Minute); purchased != 3 || !lastPurchase.Equal(want) {
		t.Fatalf("purchase history: %d units, last at %s; want 3 units, last at %s", purchased, lastPurchase, want)
	}
}

// A notification committed while an older transaction is open is not
// returned before that transaction ends: the older one may yet commit a
// notification that sorts first, which a reader resuming after the newer
// one would skip. Once it ends, both come, the older first.
func TestNotificationsWaitForOlderTransactions(t *testing.T) {
	url := pgtest.Schema(t)
	s := openStore(t, url)
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	tx := otherProcessTransaction(t, url)
	if _, err := tx.Exec(t.Context(), "SELECT pg_current_xact_id()"); err != nil { // takes its txid now
		t.Fatal(err)
	}

	o := storetest.NewOrder(sale)
	if err := s.CreateOrder(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	var got []flashsale.Notification
	read := make(chan error, 1)
	go func() {
		var err error
		got, err = s.NotificationsAfter(t.Context(), o.UserID, "", 10)
		read <- err
	}()
	select {
	case <-read:
		t.Fatalf("read %d notifications while an older transaction was open", len(got))
	case <-time.After(100 * time.Millisecond):
	}

	// The older transaction writes a notification of the same user, as a
	// change in another process would, and commits after the newer one.
	olderID := uuid.Must(uuid.NewV7()).String()
	_, err := tx.Exec(t.Context(), `INSERT INTO notifications (notification_id, user_id, order_id, event, sale_id,
			item_id, item_name, quantity, amount, currency, status, expires_at, reason, occurred_at)
		SELECT $1, user_id, order_id, event, sale_id, item_id, item_name, quantity, amount, currency, status,
			expires_at, reason, occurred_at
		FROM notifications WHERE order_id = $2`, olderID, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != olderID || got[1].OrderID != o.ID || got[1].ID == olderID {
		t.Fatalf("read %+v, want the older transaction's notification, then the order's", got)
	}
}

// A claim takes the due deliveries that another dispatcher's claim, in
// this process or another, has not locked, without waiting for its
// commit.
func TestClaimSkipsLockedDeliveries(t *testing.T) {
	url := pgtest.Schema(t)
	s := openStore(t, url, WithNotificationChannels("email"))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	var orders []string
	for range 2 {
		o := storetest.NewOrder(sale)
		if err := s.CreateOrder(t.Context(), o); err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o.ID)
	}
	_, err := otherProcessTransaction(t, url).Exec(t.Context(), `SELECT 1
		FROM notification_deliveries d JOIN notifications n USING (notification_seq)
		WHERE n.order_id = $1 FOR UPDATE OF d`, orders[0])
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	claimed, err := s.ClaimDeliveries(ctx, "email", time.Now().Add(time.Minute), time.Minute, 10)
	if err != nil {
		t.Fatalf("claim beside a locked delivery: %v", err)
	}
	if len(claimed) != 1 || claimed[0].Notification.OrderID != orders[1] {
		t.Fatalf("claimed %+v, want only the delivery nobody locked", claimed)
	}
}

// otherProcessTransaction begins a transaction on a connection of its
// own, as another process would; it ends with the test, rolled back if it
// is still open.
func otherProcessTransaction(t *testing.T, url string) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// A process killed while it writes loses no acknowledged order.
func TestCrash(t *testing.T) {
	url := pgtest.Schema(t)
	ids := storetest.KillWhileWriting(t, "TestCrashChild", url, openAt)
	s := openStore(t, url)
	defer s.Close()
	wantStored(t, s, ids)
	t.Logf("all %d acknowledged orders survived the kill", len(ids))
}

// TestCrashChild is the process TestCrash kills.
func TestCrashChild(t *testing.T) { storetest.WriteUntilKilled(t, openAt) }

func openAt(tb testing.TB, url string) flashsale.OrderStore { return openStore(tb, url) }

// A PostgreSQL server that crashes (every process killed at once, no
// shutdown) loses no acknowledged order: a 201 waits for a commit whose
// WAL is on disk. Writes fail while it is down, and the store writes again
// once it has recovered.
func TestServerCrashLosesNoAcknowledgedOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	server := pgtest.StartServer(t)
	s := openStore(t, server.URL())
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	w := startWriters(s, sale)
	testenv.Eventually(t, time.Minute, "1,000 orders acknowledged", func() bool { return w.ackedSoFar() >= 1000 })
	server.Crash() // commits in flight
	beforeCrash := w.ackedSoFar()
	time.Sleep(200 * time.Millisecond) // the fault's length, not an ordering
	server.Start()
	testenv.Eventually(t, 30*time.Second, "100 writes after the restart", func() bool { return w.ackedSoFar() >= beforeCrash+100 })
	acked := w.finish()
	if w.failed.Load() == 0 {
		t.Fatal("no write failed: the server did not go down under the writers")
	}
	wantStored(t, s, acked)
	t.Logf("%d orders acknowledged around the crash, all stored; %d writes failed while the server was down", len(acked), w.failed.Load())
}

// Connections the server drops in the middle of commits lose no
// acknowledged order, and the store recovers: writes whose commit was cut
// off fail, later ones go through on new connections.
func TestConnectionsDropped(t *testing.T) {
	url := pgtest.Schema(t)
	application := "fs_test_drop_" + strings.ToLower(rand.Text()[:8])
	s := openStore(t, pgtest.WithParam(t, url, "application_name", application), WithCommitters(2))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}

	w := startWriters(s, sale)

	admin, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var terminated int
	for range 10 {
		time.Sleep(50 * time.Millisecond) // the fault's rhythm: dropped again and again while writes go on
		var n int
		err := admin.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1`, application).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		terminated += n
	}
	// The store writes again once the dust settled.
	before := w.ackedSoFar()
	testenv.Eventually(t, 30*time.Second, "an order acknowledged after the connections were dropped", func() bool {
		return w.ackedSoFar() > before
	})
	acked := w.finish()
	if terminated == 0 {
		t.Fatal("no connection of the store was terminated")
	}
	if len(acked) == before {
		t.Fatalf("no order was acknowledged after the connections were dropped (%d failed)", w.failed.Load())
	}
	wantStored(t, s, acked)
	t.Logf("%d connections dropped; %d of %d creates acknowledged, all stored; %d failed",
		terminated, len(acked), w.attempts.Load(), w.failed.Load())
}

// writers create orders in the store from 32 goroutines until finish,
// keeping the ids of those acknowledged: the load of the tests that take
// the database away from under a store.
type writers struct {
	mu               sync.Mutex
	acked            []string
	failed, attempts atomic.Int64
	stop             chan struct{}
	running          sync.WaitGroup
}

func startWriters(s *Store, sale *flashsale.Sale) *writers {
	w := &writers{stop: make(chan struct{})}
	for range 32 {
		w.running.Go(func() {
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				o := storetest.NewOrder(sale)
				w.attempts.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := s.CreateOrder(ctx, o)
				cancel()
				if err != nil {
					w.failed.Add(1)
					time.Sleep(10 * time.Millisecond) // the database is away: no busy loop
					continue
				}
				w.mu.Lock()
				w.acked = append(w.acked, o.ID)
				w.mu.Unlock()
			}
		})
	}
	return w
}

func (w *writers) ackedSoFar() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// finish stops the writers and returns the ids acknowledged.
func (w *writers) finish() []string {
	close(w.stop)
	w.running.Wait()
	return w.acked
}

// wantStored checks that every order of ids is in the store.
func wantStored(t *testing.T, s *Store, ids []string) {
	t.Helper()
	var found int
	err := s.readers.QueryRow(t.Context(), `SELECT count(*) FROM orders WHERE order_id = ANY($1)`, ids).Scan(&found)
	if err != nil {
		t.Fatal(err)
	}
	if found != len(ids) {
		t.Fatalf("%d of %d acknowledged orders are stored", found, len(ids))
	}
}

// BenchmarkCreateOrder measures durable order creates per second, with
// many concurrent callers as in a sale's first seconds. Without group
// commit every create waits for a commit, and a WAL flush, of its own.
//
// On the project's 2-core VM, with PostgreSQL 15 on the same machine
// (fdatasync 0.2-0.4 ms) and other work sharing the cores, each variant in
// a process of its own, rounds interleaved, -benchtime 2s, medians of 8
// rounds (4 for commit-each):
//
//	group-commit, 1 committer    14,800 orders/s (7,100-17,300), ~135 writes a commit
//	group-commit, 2 committers   18,100 orders/s (8,400-21,000), ~75 writes a commit
//	group-commit, 4 committers   11,800 orders/s (8,500-16,600), ~31 writes a commit
//	commit-each, 1 committer        900 orders/s
//	commit-each, 16 committers    1,500 orders/s (PostgreSQL's own WAL flush sharing)
//
// The cores are the limit: the server's backend and the callers. A second
// committer runs a batch while the first waits for its commit; more only
// cut the batches smaller. Two won 6 of the 8 paired rounds against one.
// The savepoints cost about a tenth: 19,000 orders/s with one committer
// and none. A batch now runs without them unless a write in it fails
// (see committer.transaction): checkout's BenchmarkPlaceOrder/distributed,
// 4 rounds interleaved with the build before the change, went from
// 9,918-12,639 to 10,895-14,072 orders/s, ahead in every round (29
// November 2026, load average 2-3).
//
// The notification outbox costs more than a third, and with two channels
// more than half: two committers, the same VM under load from other work,
// -benchtime 2s, medians of 4 rounds with the commit before it
// interleaved: 27,000 orders/s before it (22,900-30,400), 16,800 with the
// notification alone (9,300-17,300), 11,700 owing it to two channels as
// serve does (10,400-12,700). Each order writes a notification with three
// index entries, and a delivery per channel with two.
//
// Each variant reports the server's CPU and WAL per order too (when the
// server runs on this machine): the figure a change to the statements or
// the schema must move. 7 December 2026, two committers, two channels,
// three rounds interleaved with the tree before each change: a batch's
// orders in one statement 126-136 -> 88-95 pg-µs an order, the
// notifications' foreign keys dropped 86-104 -> 71-75 (15,900-16,200
// orders/s).
// A lottery of lotteryEntries (100,000 by default, -lottery.entries) entered
// and drawn: 7 December 2026 on the 2-core VM, with two delivery channels
// as serve has, 100,000 entries at 11,900 a second and drawn in 7.5 s;
// 1,000,000 at 12,400 a second and drawn in 2 min 16 s (2 min 13 s of it
// one transaction ranking them and writing the waitlist's notifications,
// which holds back every event stream of the database meanwhile).
func BenchmarkLotteryDraw(b *testing.B) {
	s := openStore(b, pgtest.Schema(b), WithNotificationChannels("sse", "log"))
	defer s.Close()
	storetest.BenchmarkLotteryDraw(b, s, *lotteryEntries)
}

var lotteryEntries = flag.Int("lottery.entries", 100_000, "entries of BenchmarkLotteryDraw's lottery")

func BenchmarkCreateOrder(b *testing.B) {
	for _, bench := range []struct {
		name string
		opts []Option
	}{
		{"group-commit/committers=1", []Option{WithCommitters(1)}},
		{"group-commit/committers=2", []Option{WithCommitters(2)}},
		{"group-commit/committers=2/two-channels", []Option{WithCommitters(2), WithNotificationChannels("sse", "log")}},
		{"group-commit/committers=4", []Option{WithCommitters(4)}},
		{"commit-each/committers=1", []Option{WithCommitters(1), WithMaxBatch(1)}},
		{"commit-each/committers=16", []Option{WithCommitters(16), WithMaxBatch(1)}},
	} {
		b.Run(bench.name, func(b *testing.B) {
			url := pgtest.Schema(b)
			s := openStore(b, url, bench.opts...)
			defer s.Close()
			before := readServerCost(b, url)
			storetest.BenchmarkCreateOrder(b, s)
			reportServerCost(b, url, before, b.N)
		})
	}
}

// A transition that races the insert of its order, from another instance
// (the Redis ack's persister), answers as of its update: the order
// expired, or not found (the journaled store then persists the journal and
// looks again). Never a refusal with the order reserved, which the
// update's own snapshot could not have seen: the caller would take an
// expiry that is due for one that is not.
func TestTransitionOfAnOrderStoredMeanwhile(t *testing.T) {
	url := pgtest.Schema(t)
	persister, expirer := openStore(t, url), openStore(t, url)
	t.Cleanup(func() { persister.Close(); expirer.Close() })
	sale := storetest.NewSale()
	if err := persister.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	const rounds = 300
	outcomes := map[string]int{}
	for round := range rounds {
		o := storetest.NewOrder(sale)
		o.UserID = uuid.NewString()
		var (
			wg      sync.WaitGroup
			created error
		)
		wg.Go(func() { created = persister.CreateOrder(t.Context(), o) })
		got, err := expirer.Transition(t.Context(), flashsale.Transition{OrderID: o.ID, From: flashsale.OrderReserved,
			To: flashsale.OrderExpired, At: o.ExpiresAt.Add(time.Second), Deadline: flashsale.AfterDeadline})
		wg.Wait()
		if created != nil {
			t.Fatal(created)
		}
		switch {
		case err == nil && got.Status == flashsale.OrderExpired:
			outcomes["expired"]++
		case flashsale.IsCode(err, flashsale.EOrderNotFound):
			outcomes["not found"]++
		default:
			t.Fatalf("round %d: a due expiry of an order stored meanwhile answered %+v, %v", round, got, err)
		}
	}
	t.Logf("outcomes of %d rounds: %v", rounds, outcomes)
}
