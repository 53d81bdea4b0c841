package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/flashsale/flashsale"
)

// Migration 3 rebuilds the outbox tables: a database written at version 2
// keeps every notification, its seq (the cursors of event streams) and its
// pending deliveries.
func TestRequestNotificationsMigrationKeepsTheOutbox(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/flashsale.db"
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	provider, err := goose.NewProvider(goose.DialectSQLite3, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	at := micros(time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC))
	for _, statement := range []string{
		`INSERT INTO flash_sales VALUES ('s', 'Sale', 0, 1, 'fcfs', 'direct', 600000000, 0)`,
		`INSERT INTO flash_sale_items VALUES ('i', 's', 0, 'p', 'Phone', 200, 100, 'USD', 10, 1)`,
		`INSERT INTO orders (order_id, sale_id, item_id, user_id, quantity, status, unit_price, currency, reserved_at,
			expires_at, updated_at, payment_attempts, last_payment_error, payment_id, idempotency_key)
			VALUES ('o', 's', 'i', 'alice', 1, 'reserved', 100, 'USD', 0, 1, 0, 0, '', '', '')`,
		`INSERT INTO notifications VALUES (41, 'n-41', 'alice', 'o', 'order.reserved', 's', 'i', 'Phone', 1, 100, 'USD',
			'reserved', 1, '', ` + strconv.FormatInt(at, 10) + `)`,
		`INSERT INTO notification_deliveries (notification_seq, channel, attempts, next_attempt_at, last_error)
			VALUES (41, 'sse', 0, ` + strconv.FormatInt(at, 10) + `, '')`,
	} {
		if _, err := db.ExecContext(ctx, statement); err != nil {
			t.Fatalf("%s: %v", statement, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, path, WithNotificationChannels("sse"))
	if err != nil {
		t.Fatalf("open, migrating to the latest version: %v", err)
	}
	defer s.Close()
	list, err := s.NotificationsAfter(ctx, "alice", "", 10)
	if err != nil || len(list) != 1 || list[0].ID != "n-41" || list[0].OrderID != "o" || list[0].RequestID != "" {
		t.Fatalf("alice's notifications after the migration: %+v, %v", list, err)
	}
	claimed, err := s.ClaimDeliveries(ctx, "sse", fromMicros(at).Add(time.Minute), time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].Notification.ID != "n-41" {
		t.Fatalf("the pending delivery after the migration: %+v, %v", claimed, err)
	}
	// The next notification follows the kept ones: seqs carry on.
	refused := flashsale.Notification{ID: "n-next", Event: flashsale.EventRequestRefused, UserID: "alice", RequestID: "r",
		SaleID: "s", ItemID: "i", Quantity: 1, Reason: flashsale.ESoldOut, OccurredAt: fromMicros(at)}
	if err := s.AddNotification(ctx, refused); err != nil {
		t.Fatal(err)
	}
	if after, err := s.NotificationsAfter(ctx, "alice", "n-41", 10); err != nil || len(after) != 1 || after[0].ID != "n-next" {
		t.Fatalf("after the kept notification: %+v, %v", after, err)
	}
}
