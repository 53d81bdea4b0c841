package sqlite

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		// Draws of three entries a step: every draw of the suite takes
		// several.
		Open: func(t *testing.T) flashsale.OrderStore {
			return openStore(t, filepath.Join(t.TempDir(), "flashsale.db"), WithDrawStep(3))
		},
		Reopen: func(t *testing.T, closed flashsale.OrderStore) flashsale.OrderStore {
			return openStore(t, closed.(*Store).path, WithDrawStep(3))
		},
		OpenWithChannels: func(t *testing.T, channels []string) flashsale.OrderStore {
			return openStore(t, filepath.Join(t.TempDir(), "flashsale.db"), WithNotificationChannels(channels...), WithDrawStep(3))
		},
	})
}

func openStore(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// Migrations run once: opening a migrated file again changes nothing.
func TestOpenMigratedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flashsale.db")
	for range 2 {
		s := openStore(t, path)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A caller that gives up on a queued write gets its context's error, and
// the write never happens: it cannot be half there.
func TestAbandonedWriteIsNotApplied(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}

	// Hold the committer in a write of its own so the next one queues.
	holding, release := stallCommitter(s)
	<-holding
	ctx, cancel := context.WithCancel(t.Context())
	o := storetest.NewOrder(sale)
	result := make(chan error)
	go func() { result <- s.CreateOrder(ctx, o) }()
	waitQueued(s, 1)
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

// A caller that leaves a batch already running learns that its write is in
// doubt, and gets nothing of what the write hands back: the committer may
// still be writing it (the race detector found such a caller in a
// lottery's load). Here the write has run, and a write after it in the
// batch stalls, so a result handed back would be the write's own.
func TestInDoubtWriteHandsNothingBack(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	item := &sale.Items[0]
	var drawn []string
	for i := range 3 {
		e := &flashsale.Entry{ID: uuid.NewString(), SaleID: sale.ID, ItemID: item.ID, UserID: fmt.Sprint("user-", i),
			EnteredAt: time.Now(), Status: flashsale.EntryEntered}
		if _, _, err := s.Enter(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		drawn = append(drawn, e.ID)
	}
	draw := flashsale.ItemDraw{SaleID: sale.ID, ItemID: item.ID, EntriesDigest: "digest", EntryCount: 3, DrawnAt: time.Now()}
	if _, err := s.RecordDraw(t.Context(), draw, drawn, 1); err != nil {
		t.Fatal(err)
	}

	for name, write := range map[string]func(ctx context.Context) (handedBack bool, err error){
		"AbandonOrder": func(ctx context.Context) (bool, error) {
			stored, err := s.AbandonOrder(ctx, storetest.NewOrder(sale))
			return stored != nil, err
		},
		"LoseWaitlisted": func(ctx context.Context) (bool, error) {
			lost, err := s.LoseWaitlisted(ctx, item.ID, time.Now())
			return lost != 0, err
		},
	} {
		t.Run(name, func(t *testing.T) {
			holding, releaseHold := stallCommitter(s)
			<-holding
			ctx, cancel := context.WithCancel(t.Context())
			type outcome struct {
				handedBack bool
				err        error
			}
			result := make(chan outcome)
			go func() {
				handedBack, err := write(ctx)
				result <- outcome{handedBack, err}
			}()
			waitQueued(s, 1)
			stalled, releaseStall := stallCommitter(s)
			waitQueued(s, 2)
			releaseHold()
			<-stalled
			cancel()
			got := <-result
			releaseStall()
			if !errors.Is(got.err, flashsale.ErrWriteInDoubt) {
				t.Fatalf("caller that left a running batch: %v, want in doubt", got.err)
			}
			if got.handedBack {
				t.Error("a write in doubt handed back a result")
			}
		})
	}
}

// A write that finds the disk full is refused with "retry" and leaves
// nothing behind; once there is room, writes go on. SQLite's page limit
// stands in for the disk: it fails a write with the same SQLITE_FULL.
func TestDiskFullIsARefusalToRetry(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	limitPages := func(pragma string) {
		t.Helper()
		if err := s.commits.do(t.Context(), func(ctx context.Context, conn *writeConn) error {
			_, err := conn.ExecContext(ctx, pragma)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	limitPages("PRAGMA max_page_count = 1") // no more pages than the file has
	o := storetest.NewOrder(sale)
	var err error
	for range 1000 { // each order adds rows until a page must be added
		if err = s.CreateOrder(t.Context(), o); err != nil {
			break
		}
		o = storetest.NewOrder(sale)
	}
	var refusal *flashsale.Error
	if !errors.As(err, &refusal) || refusal.Code != flashsale.EUnavailable || refusal.RetryAfter <= 0 {
		t.Fatalf("a write on a full disk: %v, want unavailable with a retry", err)
	}
	if _, err := s.Order(t.Context(), o.ID); !flashsale.IsCode(err, flashsale.EOrderNotFound) {
		t.Fatalf("the refused order: %v, want order_not_found", err)
	}
	limitPages("PRAGMA max_page_count = 1073741823")
	if err := s.CreateOrder(t.Context(), o); err != nil {
		t.Fatalf("the order once there is room: %v", err)
	}
}

// A draw whose process died after its first step is carried on by the
// next call.
func TestDrawCutShortIsCarriedOn(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"), WithDrawStep(3))
	defer s.Close()
	storetest.DrawCutShort(t, s, func(d flashsale.ItemDraw, order []string, winners int) error {
		stored, _, err := s.startDraw(t.Context(), d)
		if err != nil {
			return err
		}
		_, err = s.stepDraw(t.Context(), stored, flashsale.PlacesInEntryOrder(order), winners, 0)
		return err
	})
}

// stallCommitter queues a write that holds the committer from the moment
// it runs (started closes then) until release.
func stallCommitter(s *Store) (started <-chan struct{}, release func()) {
	running, released := make(chan struct{}), make(chan struct{})
	go s.commits.do(context.Background(), func(context.Context, *writeConn) error {
		close(running)
		<-released
		return nil
	})
	return running, func() { close(released) }
}

// waitQueued waits until n writes wait for the committer.
func waitQueued(s *Store, n int) {
	for s.commits.writes.Waiting() != n {
		runtime.Gosched()
	}
}

// Writes that fail share a batch with writes that succeed: each failure
// takes back only its own write, whatever its place in the batch.
func TestFailedWritesInABatch(t *testing.T) {
	channels := []string{"sse", "log"}
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"), WithNotificationChannels(channels...))
	defer s.Close()
	hold := func() (release func()) {
		holding, release := stallCommitter(s)
		<-holding
		return release
	}
	storetest.FailedWritesInABatch(t, s, channels, hold, s.commits.writes.Waiting)
}

// A confirmation adds the order's units to the user's purchase history, in
// the same transaction.
func TestConfirmRecordsPurchase(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"))
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
	var purchased, lastPurchase int64
	err := s.readers.QueryRowContext(t.Context(), `SELECT quantity_purchased, last_purchase_at
		FROM user_purchases WHERE user_id = ? AND item_id = ?`, userID, sale.Items[0].ID).Scan(&purchased, &lastPurchase)
	if err != nil {
		t.Fatal(err)
	}
	if want := confirmedAt.Add(time.Minute); purchased != 3 || !fromMicros(lastPurchase).Equal(want) {
		t.Fatalf("purchase history: %d units, last at %s; want 3 units, last at %s", purchased, fromMicros(lastPurchase), want)
	}
}

// A process killed while it writes loses no acknowledged order, and the
// file it leaves is intact.
func TestCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flashsale.db")
	ids := storetest.KillWhileWriting(t, "TestCrashChild", path, openAt)
	s := openStore(t, path)
	defer s.Close()
	var integrity string
	if err := s.readers.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity check: %q, %v", integrity, err)
	}
	for _, id := range ids {
		if _, err := s.Order(t.Context(), id); err != nil {
			t.Fatalf("acknowledged order %s after the crash: %v", id, err)
		}
	}
	t.Logf("all %d acknowledged orders survived the kill", len(ids))
}

// TestCrashChild is the process TestCrash kills.
func TestCrashChild(t *testing.T) { storetest.WriteUntilKilled(t, openAt) }

func openAt(tb testing.TB, path string) flashsale.OrderStore { return openStore(tb, path) }

// BenchmarkCreateOrder measures durable order creates per second, with
// many concurrent callers as in a sale's first seconds. Without group
// commit every create waits for an fsync of its own.
//
// On the project's 2-core VM (ext4, go test -bench CreateOrder -benchtime 5s):
// group-commit 10,500-14,000 orders/s, commit-each 1,300 orders/s. The
// committer's goroutine is the limit: SQLite's work, the WAL's writes and
// the fsync, one batch after another.
//
// The notification outbox roughly halves that: ~15,000 orders/s before it,
// ~8,000 with the notification row alone, ~6,000 owing it to two channels
// as serve does (the same VM, under load from other work, 50,000 orders
// each). A third of the loss is the per-user index of notifications, in
// which each order lands on a page of its own: the WAL carries a page per
// order more.
// A lottery of lotteryEntries (100,000 by default, -lottery.entries) entered
// and drawn: 7 December 2026 on the 2-core VM, with two delivery channels
// as serve has, 100,000 entries at 24,600 a second and drawn in 3.5 s;
// 1,000,000 at 23,100 a second and drawn in 70 s (64 s of it recording the
// ranks and the waitlist's notifications, the writer held all along).
func BenchmarkLotteryDraw(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "flashsale.db"), WithNotificationChannels("sse", "log"))
	defer s.Close()
	storetest.BenchmarkLotteryDraw(b, s, *lotteryEntries)
}

var lotteryEntries = flag.Int("lottery.entries", 100_000, "entries of BenchmarkLotteryDraw's lottery")

func BenchmarkCreateOrder(b *testing.B) {
	for _, bench := range []struct {
		name     string
		maxBatch int
		channels []string
	}{
		{"group-commit", 512, nil},
		{"group-commit-two-channels", 512, []string{"sse", "log"}},
		{"commit-each", 1, nil},
	} {
		b.Run(bench.name, func(b *testing.B) {
			s := openStore(b, filepath.Join(b.TempDir(), "flashsale.db"),
				WithMaxBatch(bench.maxBatch), WithNotificationChannels(bench.channels...))
			defer s.Close()
			storetest.BenchmarkCreateOrder(b, s)
		})
	}
}

// A commit that writes notifications wakes whoever waits for them; one
// that writes none does not.
func TestNotificationsCommittedSignal(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"))
	defer s.Close()
	sale := storetest.NewSale()
	committed := s.NotificationsCommitted()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	select {
	case <-committed:
		t.Fatal("creating a sale signalled notifications")
	default:
	}
	if err := s.CreateOrder(t.Context(), storetest.NewOrder(sale)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-committed:
	case <-time.After(5 * time.Second):
		t.Fatal("an order's notification was committed without a signal")
	}
}

// The counts of a phone, an address or a card are read through their
// partial indexes, not by reading every order or entry of the sale: that
// each key is not empty must be in the query for SQLite to use them.
func TestIdentityCountsUseTheirIndexes(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "flashsale.db"))
	defer s.Close()
	for _, q := range []struct {
		name, query string
		args        []any
		indexes     []string
	}{
		{"an order's", orderHoldsQuery, []any{"o", "s", "phone", "address"}, []string{"orders_sale_phone", "orders_sale_address"}},
		{"an entry's", entryHoldsQuery, []any{"e", "s", "i", "u", "phone", "address", "card"},
			[]string{"lottery_entries_sale_phone", "lottery_entries_sale_address", "lottery_entries_sale_card"}},
	} {
		rows, err := s.readers.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.query, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		for _, index := range q.indexes {
			if !strings.Contains(text, "USING INDEX "+index+" ") {
				t.Errorf("%s counts do not use %s:\n%s", q.name, index, text)
			}
		}
	}
}
