package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

var (
	_ flashsale.Outbox       = (*Store)(nil)
	_ flashsale.OutboxSignal = (*Store)(nil)
)

// insertNotification writes the notification of an order change, and its
// pending delivery on each of the store's channels, inside the change's
// savepoint: if the change rolls back, so does its notification.
func (s *Store) insertNotification(ctx context.Context, conn *writeConn, n flashsale.Notification) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	n.ID = id.String()
	return s.writeNotification(ctx, conn, n)
}

// AddNotification records a notification no order change carries.
func (s *Store) AddNotification(ctx context.Context, n flashsale.Notification) error {
	if n.ID == "" || n.RequestID == "" {
		return errors.New("sqlite: a notification without an order needs its ID and RequestID")
	}
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		return s.writeNotification(ctx, conn, n)
	})
	if err != nil {
		return fmt.Errorf("sqlite: notification of request %s: %w", n.RequestID, err)
	}
	return nil
}

// writeNotification inserts n and its deliveries, unless a notification
// with its id or request id exists: then nothing.
func (s *Store) writeNotification(ctx context.Context, conn *writeConn, n flashsale.Notification) error {
	res, err := conn.ExecContext(ctx, `INSERT INTO notifications (notification_id, user_id, order_id, request_id, event,
			sale_id, item_id, item_name, quantity, amount, currency, status, expires_at, reason, occurred_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT name FROM flash_sale_items WHERE item_id = ?), ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		n.ID, n.UserID, nullIfEmpty(n.OrderID), nullIfEmpty(n.RequestID), string(n.Event), n.SaleID, n.ItemID, n.ItemID,
		n.Quantity, int64(n.Amount), n.Currency, string(n.Status), micros(n.ExpiresAt), n.Reason, micros(n.OccurredAt))
	if err != nil {
		return fmt.Errorf("sqlite: notification of order %s: %w", n.OrderID, err)
	}
	if inserted, err := res.RowsAffected(); err != nil || inserted == 0 {
		return err
	}
	conn.wroteNotifications = true
	if len(s.channels) == 0 {
		return nil
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return err
	}
	args := make([]any, 0, 3*len(s.channels))
	for _, channel := range s.channels {
		args = append(args, seq, channel, micros(n.OccurredAt))
	}
	if _, err := conn.ExecContext(ctx, s.insertDeliveries, args...); err != nil {
		return fmt.Errorf("sqlite: deliveries of the notification of order %s: %w", n.OrderID, err)
	}
	return nil
}

// insertNotifications runs insert, an INSERT … SELECT of any number of
// notifications (the lottery's: one per entry of a draw of a million),
// and owes each one it wrote to every channel of the store, in two
// statements whatever the number. The committer is the only writer, and
// a new row's seq is one more than the highest: the rows the insert wrote
// are those after the highest seq before it.
func (s *Store) insertNotifications(ctx context.Context, conn *writeConn, insert string, args ...any) error {
	var last int64
	if err := conn.QueryRowContext(ctx, `SELECT coalesce(max(notification_seq), 0) FROM notifications`).Scan(&last); err != nil {
		return err
	}
	res, err := conn.ExecContext(ctx, insert, args...)
	if err != nil {
		return err
	}
	if inserted, err := res.RowsAffected(); err != nil || inserted == 0 {
		return err
	}
	conn.wroteNotifications = true
	if len(s.channels) == 0 {
		return nil
	}
	_, err = conn.ExecContext(ctx, `INSERT INTO notification_deliveries
			(notification_seq, channel, attempts, next_attempt_at, last_error)
		SELECT n.notification_seq, c.value, 0, n.occurred_at, ''
		FROM notifications n, json_each(?) AS c
		WHERE n.notification_seq > ?
		ORDER BY n.notification_seq, c.key`, s.channelList, last)
	return err
}

// notificationIDSQL is an expression that gives each row of an INSERT …
// SELECT a UUIDv7 of its own, which SQLite cannot make: parameter ?1 is
// the time part (uuidV7Prefix), the rest, 74 bits, is random, each random
// piece drawn once so that no piece is shared.
const notificationIDSQL = `?1 || substr(lower(hex(randomblob(2))), 2) || '-' ||
	substr('89ab', 1 + (random() & 3), 1) || substr(lower(hex(randomblob(2))), 2) || '-' ||
	lower(hex(randomblob(6)))`

// uuidV7Prefix is the part of a UUIDv7 made at t that is not random: the
// 48 bits of its Unix milliseconds and the version, "xxxxxxxx-xxxx-7".
func uuidV7Prefix(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7", uint64(ms)>>16&0xffffffff, ms&0xffff)
}

// insertDeliveries returns the statement that owes a notification to each
// of n channels: one statement, however many channels.
func insertDeliveries(n int) string {
	return `INSERT INTO notification_deliveries (notification_seq, channel, attempts, next_attempt_at, last_error) VALUES ` +
		strings.TrimSuffix(strings.Repeat(`(?, ?, 0, ?, ''), `, n), ", ")
}

// ClaimDeliveries leases up to limit due deliveries of channel. The
// committer is the only writer, so nothing can claim between the select
// and the update.
func (s *Store) ClaimDeliveries(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]flashsale.Delivery, error) {
	var claimed []flashsale.Delivery
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		rows, err := conn.QueryContext(ctx, `SELECT d.notification_seq, d.attempts, d.last_error, `+notificationColumns+`
			FROM notification_deliveries d JOIN notifications n ON n.notification_seq = d.notification_seq
			WHERE d.channel = ? AND d.next_attempt_at <= ? AND coalesce(d.lease_until, 0) <= ?
			ORDER BY d.next_attempt_at, d.notification_seq LIMIT ?`,
			channel, micros(now), micros(now), max(limit, 0))
		if err != nil {
			return err
		}
		var seqs []int64
		for rows.Next() {
			var (
				seq int64
				d   = flashsale.Delivery{Channel: channel}
			)
			n, err := scanNotification(rows, &seq, &d.Attempt, &d.LastError)
			if err != nil {
				rows.Close()
				return err
			}
			d.Notification = *n
			d.Attempt++
			seqs = append(seqs, seq)
			claimed = append(claimed, d)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil || len(seqs) == 0 {
			return err
		}
		list, err := json.Marshal(seqs)
		if err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, `UPDATE notification_deliveries SET attempts = attempts + 1, lease_until = ?
			WHERE channel = ? AND notification_seq IN (SELECT value FROM json_each(?))`,
			micros(now.Add(lease)), channel, string(list))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim deliveries of %s: %w", channel, err)
	}
	return claimed, nil
}

// MarkDelivered records that notifications reached channel, in one
// statement.
func (s *Store) MarkDelivered(ctx context.Context, channel string, at time.Time, notificationIDs ...string) error {
	if len(notificationIDs) == 0 {
		return nil
	}
	list, err := json.Marshal(notificationIDs)
	if err != nil {
		return err
	}
	err = s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		_, err := conn.ExecContext(ctx, `UPDATE notification_deliveries
			SET delivered_at = ?, next_attempt_at = NULL, lease_until = NULL
			WHERE channel = ? AND delivered_at IS NULL AND notification_seq IN (
				SELECT notification_seq FROM notifications WHERE notification_id IN (SELECT value FROM json_each(?)))`,
			micros(at), channel, string(list))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: mark deliveries on %s: %w", channel, err)
	}
	return nil
}

// RecordFailedDelivery records a failed attempt, if it is the delivery's
// latest claim and the delivery is still pending.
func (s *Store) RecordFailedDelivery(ctx context.Context, f flashsale.FailedDelivery) error {
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		_, err := conn.ExecContext(ctx, `UPDATE notification_deliveries
			SET next_attempt_at = ?, lease_until = NULL, last_error = ?
			WHERE notification_seq = (SELECT notification_seq FROM notifications WHERE notification_id = ?)
				AND channel = ? AND attempts = ? AND next_attempt_at IS NOT NULL`,
			nullMicros(f.RetryAt), f.Error, f.NotificationID, f.Channel, f.Attempt)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record failed delivery of %s on %s: %w", f.NotificationID, f.Channel, err)
	}
	return nil
}

// Deliveries returns a notification's delivery state on each channel.
func (s *Store) Deliveries(ctx context.Context, notificationID string) ([]flashsale.DeliveryState, error) {
	// While claimed, a delivery is next due when its lease ends.
	rows, err := s.readers.QueryContext(ctx, `SELECT channel, attempts,
			max(next_attempt_at, coalesce(lease_until, next_attempt_at)), delivered_at, last_error
		FROM notification_deliveries
		WHERE notification_seq = (SELECT notification_seq FROM notifications WHERE notification_id = ?)
		ORDER BY channel`, notificationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var states []flashsale.DeliveryState
	for rows.Next() {
		var (
			d                 flashsale.DeliveryState
			next, deliveredAt sql.NullInt64
		)
		if err := rows.Scan(&d.Channel, &d.Attempts, &next, &deliveredAt, &d.LastError); err != nil {
			return nil, err
		}
		d.NextAttemptAt, d.DeliveredAt = fromNullMicros(next), fromNullMicros(deliveredAt)
		states = append(states, d)
	}
	return states, rows.Err()
}

// NotificationsAfter returns the user's notifications committed after
// afterID's, in commit order (see notification_seq in the migration).
func (s *Store) NotificationsAfter(ctx context.Context, userID, afterID string, limit int) ([]flashsale.Notification, error) {
	var after int64
	if afterID != "" {
		err := s.readers.QueryRowContext(ctx, `SELECT notification_seq FROM notifications
			WHERE notification_id = ? AND user_id = ?`, afterID, userID).Scan(&after)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, flashsale.ErrUnknownNotification
		}
		if err != nil {
			return nil, err
		}
	}
	rows, err := s.readers.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications n
		WHERE n.user_id = ? AND n.notification_seq > ? ORDER BY n.notification_seq LIMIT ?`, userID, after, max(limit, 0))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []flashsale.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, *n)
	}
	return list, rows.Err()
}

// NotificationsCommitted returns a channel closed at the next commit that
// writes notifications.
func (s *Store) NotificationsCommitted() <-chan struct{} { return s.notified.next() }

const notificationColumns = `n.notification_id, n.event, n.user_id, coalesce(n.order_id, ''), coalesce(n.request_id, ''),
	coalesce(n.entry_id, ''), n.waitlist_place,
	n.sale_id, n.item_id, n.item_name, n.quantity, n.amount, n.currency, n.status, n.expires_at, n.reason, n.occurred_at`

// scanNotification scans notificationColumns after the columns of before.
func scanNotification(row interface{ Scan(...any) error }, before ...any) (*flashsale.Notification, error) {
	var (
		n                     flashsale.Notification
		expiresAt, occurredAt int64
	)
	err := row.Scan(append(before, &n.ID, &n.Event, &n.UserID, &n.OrderID, &n.RequestID, &n.EntryID, &n.Rank, &n.SaleID, &n.ItemID, &n.ItemName,
		&n.Quantity, &n.Amount, &n.Currency, &n.Status, &expiresAt, &n.Reason, &occurredAt)...)
	if err != nil {
		return nil, err
	}
	n.ExpiresAt, n.OccurredAt = fromMicros(expiresAt), fromMicros(occurredAt)
	return &n, nil
}

// broadcast is a channel closed, and replaced, each time it fires: any
// number of waiters hear one event, and a waiter that took the channel
// before looking for work cannot miss the event that follows.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// nullIfEmpty stores an absent id as NULL, which a foreign key allows.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
