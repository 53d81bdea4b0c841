package postgres

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/storetest"
)

// A sale fills its tables within seconds: the store analyzes them as they
// grow, long before autovacuum's first look (which sets last_autoanalyze,
// not last_analyze).
func TestBusyTablesAreAnalyzedAsTheyGrow(t *testing.T) {
	t.Parallel() // waits seconds for the statistics
	s := openStore(t, pgtest.Schema(t), WithNotificationChannels("log"))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 1500 {
		wg.Go(func() {
			if err := s.CreateOrder(t.Context(), storetest.NewOrder(sale)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitAnalyzed(t, s, "notification_deliveries notifications orders")
}

// A lottery's entries fill their table as fast: it is analyzed as it
// grows too.
func TestLotteryEntriesAreAnalyzedAsTheyGrow(t *testing.T) {
	t.Parallel() // waits seconds for the statistics
	s := openStore(t, pgtest.Schema(t))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 1500 {
		wg.Go(func() {
			e := &flashsale.Entry{ID: uuid.Must(uuid.NewV7()).String(), SaleID: sale.ID, ItemID: sale.Items[0].ID,
				UserID: fmt.Sprint("user-", i), EnteredAt: time.Now(), Status: flashsale.EntryEntered}
			if _, _, err := s.Enter(t.Context(), e); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitAnalyzed(t, s, "lottery_entries")
}

// lastAnalyzed lists the store's tables that an ANALYZE (not autovacuum's)
// has been through.
func lastAnalyzed(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.readers.Query(t.Context(), `SELECT relname FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND last_analyze IS NOT NULL ORDER BY relname`)
	if err != nil {
		t.Fatal(err)
	}
	analyzed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return analyzed
}

// waitAnalyzed waits until the tables analyzed are want (names in order,
// space-separated). The activity counts reach the statistics within
// seconds, and the store looks every two.
func waitAnalyzed(t *testing.T, s *Store, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "the tables "+want+" analyzed", func() bool {
		return strings.Join(lastAnalyzed(t, s), " ") == want
	})
}

// Marking deliveries done finds them by primary key even in a plan made
// while the tables were empty, as a prepared statement's generic plan is
// for a sale on a fresh database: never by reading every delivery.
func TestMarkDeliveredPlanDoesNotScanTheDeliveries(t *testing.T) {
	s := openStore(t, pgtest.Schema(t), WithNotificationChannels("log"))
	defer s.Close()
	conn, err := s.readers.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	explain := func() string {
		rows, err := tx.Query(t.Context(), `EXPLAIN EXECUTE mark('log', now(), '{n1,n2,n3}')`, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	for _, statement := range []string{
		"SET LOCAL plan_cache_mode = force_generic_plan",
		"PREPARE mark(text, timestamptz, text[]) AS " + markDeliveredStatement,
	} {
		if _, err := tx.Exec(t.Context(), statement, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	explain() // the plan is made now, on the empty tables, and kept
	// 20,000 notifications owed to the channel (of queued requests, which
	// need no order), not yet analyzed.
	for _, statement := range []string{
		`INSERT INTO notifications (notification_id, user_id, request_id, event, sale_id, item_id, item_name,
			quantity, amount, currency, status, expires_at, reason, occurred_at)
			SELECT 'n' || g, 'u' || g, 'r' || g, 'order_request.refused', 's', 'i', 'Phone', 1, 0, '', '', now(), 'sold_out', now()
			FROM generate_series(1, 20000) g`,
		`INSERT INTO notification_deliveries (notification_seq, channel, attempts, next_attempt_at, last_error)
			SELECT notification_seq, 'log', 0, now(), '' FROM notifications`,
	} {
		if _, err := tx.Exec(t.Context(), statement, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	// Each delivery by its key, not the channel's all read or scanned
	// through its index.
	if plan := explain(); !strings.Contains(plan, "Index Cond: ((notification_seq = ANY") ||
		strings.Contains(plan, "Seq Scan on notification_deliveries") {
		t.Fatalf("marking three deliveries reads all 20,000:\n%s", plan)
	}
}

// One instance of a fleet analyzes at a time: while another holds the
// schema's analyze lock, this one leaves the tables to it.
func TestBusyTablesAreAnalyzedByOneInstanceAtATime(t *testing.T) {
	t.Parallel() // waits seconds for the statistics
	url := pgtest.Schema(t)
	other := openStore(t, url)
	defer other.Close()
	tx, err := other.readers.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.flashsale.analyze'))`); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, url, WithNotificationChannels("log"))
	defer s.Close()
	sale := storetest.NewSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	for range 1200 {
		if err := s.CreateOrder(t.Context(), storetest.NewOrder(sale)); err != nil {
			t.Fatal(err)
		}
	}
	// Once the changes show in the statistics, this instance would analyze.
	testenv.Eventually(t, 30*time.Second, "the statistics to show over 1,000 changed orders", func() bool {
		var changed int64
		if err := s.readers.QueryRow(t.Context(), `SELECT n_mod_since_analyze FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND relname = 'orders'`).Scan(&changed); err != nil {
			t.Fatal(err)
		}
		return changed > 1000
	})
	if err := analyzeChanged(t.Context(), s.readers); err != nil {
		t.Fatal(err)
	}
	if analyzed := lastAnalyzed(t, s); len(analyzed) != 0 {
		t.Fatalf("analyzed %v while another instance held the lock", analyzed)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitAnalyzed(t, s, "notification_deliveries notifications orders")
}
