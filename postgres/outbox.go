package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale"
)

var _ flashsale.Outbox = (*Store)(nil)

// notifiedColumns are the columns of an order that its notification
// snapshots; a change's statement returns them for notificationWrites.
const notifiedColumns = `order_id, user_id, sale_id, item_id, quantity, total_amount, currency, status,
	expires_at, last_payment_error`

// notificationWrites is the part of an order change's statement that
// writes the change's notification and owes it to the store's channels:
// the CTEs notification and deliveries. They read the order as the change
// left it, with notifiedColumns, from the CTE that order names, empty
// when the change did not happen (a retry, a refused transition): in one
// statement with the change, they write exactly when it does. The
// notification's own values come from the SQL expressions of note.
//
// A statement that ends with them needs a main query of its own; its CTEs
// run whether it reads them or not.
func notificationWrites(order string, note notified) string {
	// The item's name comes from a join, not a subquery: an order of an
	// unknown item then writes no notification rather than one without a
	// name, and fails on the orders' foreign key, as it must.
	return fmt.Sprintf(`notification AS (
		INSERT INTO notifications (notification_id, user_id, order_id, event, sale_id, item_id, item_name,
			quantity, amount, currency, status, expires_at, reason, occurred_at)
		SELECT %[2]s, o.user_id, o.order_id, %[3]s, o.sale_id, o.item_id, i.name,
			o.quantity, o.total_amount, o.currency, o.status, o.expires_at,
			CASE WHEN %[4]s THEN o.last_payment_error ELSE '' END, %[5]s
		FROM %[1]s o JOIN flash_sale_items i ON i.item_id = o.item_id
		WHERE %[2]s IS NOT NULL
		RETURNING notification_seq, occurred_at
	), deliveries AS (
		INSERT INTO notification_deliveries (notification_seq, channel, attempts, next_attempt_at, last_error)
		SELECT n.notification_seq, c.channel, 0, n.occurred_at, ''
		FROM notification n CROSS JOIN unnest(%[6]s) AS c (channel)
	)`, order, note.id, note.event, note.carriesReason, note.at, note.channels)
}

// notified names, as SQL expressions, the values of notificationArgs in a
// statement: its parameters, or columns of the changed orders' relation
// when each order has its own.
type notified struct{ id, event, carriesReason, at, channels string }

// notifiedByParameters is notified for the five parameters of
// notificationArgs, from $first on.
func notifiedByParameters(first int) notified {
	return notified{
		id:            fmt.Sprintf("$%d::text", first),
		event:         fmt.Sprintf("$%d::text", first+1),
		carriesReason: fmt.Sprintf("$%d::boolean", first+2),
		at:            fmt.Sprintf("$%d::timestamptz", first+3),
		channels:      fmt.Sprintf("$%d::text[]", first+4),
	}
}

// notificationArgs are the parameters of notificationWrites for a change
// of an order from one status to another (from is empty for a new order)
// at at: the notification's id, NULL when the user hears nothing of the
// change; its event; whether it carries the order's last payment error as
// its reason; its time; the channels it is owed to.
func (s *Store) notificationArgs(from, to flashsale.OrderStatus, at time.Time) ([]any, error) {
	event, ok := flashsale.NotificationEventOf(from, to)
	if !ok {
		return []any{nil, nil, false, nil, nil}, nil
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	// The statement fills in the order as the change left it, which is not
	// known here. Which events carry the decline is NewNotification's
	// rule: asked, rather than repeated.
	carriesReason := flashsale.NewNotification(event, &flashsale.Order{LastPaymentError: "declined"}, at).Reason != ""
	return []any{id.String(), string(event), carriesReason, at, s.channels}, nil
}

// AddNotification records a notification no order change carries, and a
// delivery on each channel, in one statement: both or neither, and
// nothing when its id or request id is already recorded.
func (s *Store) AddNotification(ctx context.Context, n flashsale.Notification) error {
	if n.ID == "" || n.RequestID == "" {
		return errors.New("postgres: a notification without an order needs its ID and RequestID")
	}
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(`WITH notification AS (
			INSERT INTO notifications (notification_id, user_id, order_id, request_id, event, sale_id, item_id,
				item_name, quantity, amount, currency, status, expires_at, reason, occurred_at)
			SELECT $1, $2, NULL, $3, $4, $5, i.item_id, i.name, $6, 0, '', '', $11, $8, $7
			FROM flash_sale_items i WHERE i.item_id = $9
			ON CONFLICT DO NOTHING
			RETURNING notification_seq, occurred_at
		)
		INSERT INTO notification_deliveries (notification_seq, channel, attempts, next_attempt_at, last_error)
		SELECT n.notification_seq, c.channel, 0, n.occurred_at, ''
		FROM notification n CROSS JOIN unnest($10::text[]) AS c (channel)`,
			n.ID, n.UserID, n.RequestID, string(n.Event), n.SaleID, n.Quantity, n.OccurredAt, n.Reason, n.ItemID, s.channels, n.ExpiresAt)
	}})
	if err != nil {
		return fmt.Errorf("postgres: notification of request %s: %w", n.RequestID, err)
	}
	return nil
}

// ClaimDeliveries leases up to limit due deliveries of channel. Claims of
// other transactions, in this process or another, skip the rows this one
// locked instead of waiting for them; a row one of them claimed and
// committed meanwhile is read again as it now is, leased, and left out.
func (s *Store) ClaimDeliveries(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]flashsale.Delivery, error) {
	var claimed []flashsale.Delivery
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(`WITH due AS (
				SELECT notification_seq FROM notification_deliveries
				WHERE channel = $1 AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)
				ORDER BY next_attempt_at, notification_seq
				LIMIT $3
				FOR UPDATE SKIP LOCKED
			), claimed AS (
				UPDATE notification_deliveries d SET attempts = d.attempts + 1, lease_until = $4
				FROM due WHERE d.channel = $1 AND d.notification_seq = due.notification_seq
				RETURNING d.notification_seq, d.attempts, d.last_error, d.next_attempt_at
			)
			SELECT c.attempts, c.last_error, `+notificationColumns+`
			FROM claimed c JOIN notifications n ON n.notification_seq = c.notification_seq
			ORDER BY c.next_attempt_at, c.notification_seq`,
			channel, now, max(limit, 0), now.Add(lease)).Query(func(rows pgx.Rows) error {
			var err error
			claimed, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (flashsale.Delivery, error) {
				d := flashsale.Delivery{Channel: channel}
				n, err := scanNotification(row, &d.Attempt, &d.LastError)
				if err != nil {
					return d, err
				}
				d.Notification = *n
				return d, nil
			})
			return err
		})
	}})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim deliveries of %s: %w", channel, err)
	}
	return claimed, nil
}

// markDeliveredStatement finds the notifications first, by their ids, and
// their deliveries then by primary key: as a join, a plan made while the
// tables were small, or before any ANALYZE, scanned every pending delivery
// of the channel, 12-38 ms a call after 25,000 orders (auto_explain, bench
// run).
const markDeliveredStatement = `UPDATE notification_deliveries
	SET delivered_at = $2, next_attempt_at = NULL, lease_until = NULL
	WHERE notification_seq = ANY (ARRAY(SELECT notification_seq FROM notifications WHERE notification_id = ANY($3)))
		AND channel = $1 AND delivered_at IS NULL`

// MarkDelivered records that notifications reached channel, in one
// statement.
func (s *Store) MarkDelivered(ctx context.Context, channel string, at time.Time, notificationIDs ...string) error {
	if len(notificationIDs) == 0 {
		return nil
	}
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(markDeliveredStatement, channel, at, notificationIDs)
	}})
	if err != nil {
		return fmt.Errorf("postgres: mark deliveries on %s: %w", channel, err)
	}
	return nil
}

// RecordFailedDelivery records a failed attempt, if it is the delivery's
// latest claim and the delivery is still pending.
func (s *Store) RecordFailedDelivery(ctx context.Context, f flashsale.FailedDelivery) error {
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(`UPDATE notification_deliveries
			SET next_attempt_at = $1, lease_until = NULL, last_error = $2
			WHERE notification_seq = (SELECT notification_seq FROM notifications WHERE notification_id = $3)
				AND channel = $4 AND attempts = $5 AND next_attempt_at IS NOT NULL`,
			nullTime(f.RetryAt), f.Error, f.NotificationID, f.Channel, f.Attempt)
	}})
	if err != nil {
		return fmt.Errorf("postgres: record failed delivery of %s on %s: %w", f.NotificationID, f.Channel, err)
	}
	return nil
}

// Deliveries returns a notification's delivery state on each channel, in
// the byte order of the channels' names, whatever the database's
// collation.
func (s *Store) Deliveries(ctx context.Context, notificationID string) ([]flashsale.DeliveryState, error) {
	// While claimed, a delivery is next due when its lease ends. greatest
	// ignores a NULL lease, and a delivery done with has neither.
	rows, err := s.readers.Query(ctx, `SELECT channel, attempts, greatest(next_attempt_at, lease_until),
			delivered_at, last_error
		FROM notification_deliveries
		WHERE notification_seq = (SELECT notification_seq FROM notifications WHERE notification_id = $1)
		ORDER BY channel COLLATE "C"`, notificationID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (flashsale.DeliveryState, error) {
		var (
			d                 flashsale.DeliveryState
			next, deliveredAt *time.Time
		)
		if err := row.Scan(&d.Channel, &d.Attempts, &next, &deliveredAt, &d.LastError); err != nil {
			return d, err
		}
		d.NextAttemptAt, d.DeliveredAt = fromNullTime(next), fromNullTime(deliveredAt)
		return d, nil
	})
}

// heldBackWait bounds how long NotificationsAfter waits for older
// transactions that hold back notifications already committed. Those are
// mostly commit batches, which end within milliseconds; a transaction that
// holds the horizon longer delays the user's events, never loses one.
const heldBackWait = 2 * time.Second

// NotificationsAfter returns the user's notifications that follow
// afterID's, in the order (txid, notification_seq): see the migration for
// why that is commit order for every notification it returns.
//
// A notification committed while an older transaction is still open is
// held back until that transaction ends, or another could still sort
// before it. When the page stops short at one, NotificationsAfter waits a
// little for the older transactions rather than keep a reader that was
// woken for that notification waiting for its next wake-up.
func (s *Store) NotificationsAfter(ctx context.Context, userID, afterID string, limit int) ([]flashsale.Notification, error) {
	var (
		afterTxid uint64
		afterSeq  int64
	)
	if afterID != "" {
		err := s.readers.QueryRow(ctx, `SELECT txid, notification_seq FROM notifications
			WHERE notification_id = $1 AND user_id = $2`, afterID, userID).Scan(&afterTxid, &afterSeq)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, flashsale.ErrUnknownNotification
		}
		if err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(heldBackWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		page, heldBack, err := s.notificationsAfter(ctx, userID, afterTxid, afterSeq, limit)
		if err != nil || !heldBack || time.Now().Add(pause).After(deadline) {
			return page, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// notificationsAfter reads one page of NotificationsAfter: the user's
// notifications after (afterTxid, afterSeq) that no open transaction can
// precede, and whether the page stopped short at one that it could.
func (s *Store) notificationsAfter(ctx context.Context, userID string, afterTxid uint64, afterSeq int64, limit int) (page []flashsale.Notification, heldBack bool, err error) {
	// Within one statement the snapshot is one: every row it sees whose
	// txid is below the snapshot's xmin is committed, and every
	// transaction it does not see has a txid at or above xmin.
	rows, err := s.readers.Query(ctx, `SELECT n.txid < (SELECT pg_snapshot_xmin(pg_current_snapshot())),
			`+notificationColumns+`
		FROM notifications n
		WHERE n.user_id = $1 AND (n.txid, n.notification_seq) > ($2::xid8, $3::bigint)
		ORDER BY n.txid, n.notification_seq
		LIMIT $4`, userID, afterTxid, afterSeq, max(limit, 0))
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var settled bool
		n, err := scanNotification(rows, &settled)
		if err != nil {
			return nil, false, err
		}
		if !settled {
			// The rows that follow have higher txids: held back too.
			return page, true, nil
		}
		page = append(page, *n)
	}
	return page, false, rows.Err()
}

const notificationColumns = `n.notification_id, n.event, n.user_id, coalesce(n.order_id, ''), coalesce(n.request_id, ''),
	coalesce(n.entry_id, ''), n.waitlist_place, n.sale_id, n.item_id, n.item_name, n.quantity, n.amount, n.currency, n.status, n.expires_at, n.reason, n.occurred_at`

// scanNotification scans notificationColumns after the columns of before.
func scanNotification(row pgx.Row, before ...any) (*flashsale.Notification, error) {
	var n flashsale.Notification
	err := row.Scan(append(before, &n.ID, &n.Event, &n.UserID, &n.OrderID, &n.RequestID, &n.EntryID, &n.Rank, &n.SaleID, &n.ItemID, &n.ItemName,
		&n.Quantity, &n.Amount, &n.Currency, &n.Status, &n.ExpiresAt, &n.Reason, &n.OccurredAt)...)
	if err != nil {
		return nil, err
	}
	return &n, nil
}
