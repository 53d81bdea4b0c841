package postgres

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale/postgres/pgtest"
	"github.com/flashsale/flashsale/storetest"
)

// A sale fills its tables within seconds: the store analyzes them as they
// grow, long before autovacuum's first look (which sets last_autoanalyze,
// not last_analyze).
func TestBusyTablesAreAnalyzedAsTheyGrow(t *testing.T) {
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		var analyzed []string
		rows, err := s.readers.Query(t.Context(), `SELECT relname FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND last_analyze IS NOT NULL ORDER BY relname`)
		if err == nil {
			analyzed, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(analyzed, " ") == "notification_deliveries notifications orders" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 1,500 orders and 30 s, analyzed: %v", analyzed)
		}
		time.Sleep(200 * time.Millisecond)
	}
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
