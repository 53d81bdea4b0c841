package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/flashsale/flashsale"
	sqlite3 "modernc.org/sqlite/lib"
)

// CreateOrder records a new order durably, with its notification. An
// order whose ID is already stored is a retry of the same write (the
// outbox drain, a client retry after a lost answer): it writes nothing and
// succeeds.
//
// An order counted under a phone or an address is first held to its
// sale's limits: the database has one writer, so the count and the insert
// are one step.
func (s *Store) CreateOrder(ctx context.Context, o *flashsale.Order) error {
	return s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		if o.Identities != (flashsale.Identities{}) {
			if err := withinIdentityLimits(ctx, conn, o); err != nil {
				return err
			}
		}
		res, err := conn.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (order_id) DO NOTHING`,
			o.ID, o.SaleID, o.ItemID, o.UserID, o.Quantity, string(o.Status), int64(o.UnitPrice), o.Currency,
			micros(o.ReservedAt), micros(o.ExpiresAt), nullMicros(o.ConfirmedAt), micros(o.UpdatedAt),
			o.PaymentAttempts, o.LastPaymentError, o.PaymentID, o.IdempotencyKey, o.CardFingerprint,
			o.PhoneKey, o.AddressKey)
		switch constraintCode(err) {
		case 0:
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			// The only unique constraint left after ON CONFLICT (order_id)
			// is the user's idempotency key.
			return flashsale.Errorf(flashsale.EIdempotencyKeyReused, "the Idempotency-Key was used for another order")
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", o.ItemID, o.SaleID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: create order %s: %w", o.ID, err)
		}
		if inserted, err := res.RowsAffected(); err != nil || inserted == 0 {
			return err // a retry: its notification was written the first time
		}
		if event, ok := flashsale.NotificationEventOf("", o.Status); ok {
			return s.insertNotification(ctx, conn, flashsale.NewNotification(event, o, o.ReservedAt))
		}
		return nil
	})
}

// orderHoldsQuery reads what withinIdentityLimits compares: whether the
// order (?1) is stored, the sale's (?2) limits and the units its other
// live orders hold under the phone (?3) and the address (?4). That each
// key is not empty is written out, though implied, for SQLite to use its
// partial index (TestIdentityCountsUseTheirIndexes).
const orderHoldsQuery = `SELECT
			EXISTS (SELECT 1 FROM orders WHERE order_id = ?1),
			(SELECT json_extract(limits, '$.per_phone') FROM flash_sales WHERE sale_id = ?2),
			(SELECT json_extract(limits, '$.per_address') FROM flash_sales WHERE sale_id = ?2),
			(SELECT coalesce(sum(quantity), 0) FROM orders WHERE ?3 <> '' AND sale_id = ?2 AND phone_key = ?3 AND phone_key <> ''
				AND status IN ('reserved', 'paying', 'confirmed') AND order_id <> ?1),
			(SELECT coalesce(sum(quantity), 0) FROM orders WHERE ?4 <> '' AND sale_id = ?2 AND address_key = ?4 AND address_key <> ''
				AND status IN ('reserved', 'paying', 'confirmed') AND order_id <> ?1)`

// withinIdentityLimits refuses a new order whose phone or address holds
// its sale's limit already, in the sale's reserved, paying and confirmed
// orders. A retry of a stored order is no new order: it passes.
func withinIdentityLimits(ctx context.Context, conn *writeConn, o *flashsale.Order) error {
	var (
		existed                bool
		perPhone, perAddress   sql.NullInt64
		phoneHeld, addressHeld int64
	)
	err := conn.QueryRowContext(ctx, orderHoldsQuery,
		o.ID, o.SaleID, o.PhoneKey, o.AddressKey).Scan(&existed, &perPhone, &perAddress, &phoneHeld, &addressHeld)
	if err != nil {
		return fmt.Errorf("sqlite: count the identities of order %s: %w", o.ID, err)
	}
	if existed {
		return nil
	}
	return flashsale.IdentityRefusal(o.Identities, o.Quantity, flashsale.IdentityHolds{
		PerPhone: perPhone.Int64, PhoneHeld: phoneHeld, PerAddress: perAddress.Int64, AddressHeld: addressHeld})
}

// AbandonOrder records o unless an order with its ID exists, without a
// notification, and returns the order as stored (see flashsale.OrderStore).
func (s *Store) AbandonOrder(ctx context.Context, o *flashsale.Order) (*flashsale.Order, error) {
	var stored *flashsale.Order
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		if _, err := conn.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (order_id) DO NOTHING`,
			o.ID, o.SaleID, o.ItemID, o.UserID, o.Quantity, string(o.Status), int64(o.UnitPrice), o.Currency,
			micros(o.ReservedAt), micros(o.ExpiresAt), nullMicros(o.ConfirmedAt), micros(o.UpdatedAt),
			o.PaymentAttempts, o.LastPaymentError, o.PaymentID, o.IdempotencyKey, o.CardFingerprint,
			o.PhoneKey, o.AddressKey); err != nil {
			return fmt.Errorf("sqlite: abandon order %s: %w", o.ID, err)
		}
		var err error
		stored, err = orderByID(ctx, conn, o.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// Order returns an order (order_not_found).
func (s *Store) Order(ctx context.Context, id string) (*flashsale.Order, error) {
	return orderByID(ctx, s.readers, id)
}

// OrderByIdempotencyKey returns the user's order created with key
// (order_not_found). An empty key names no order.
func (s *Store) OrderByIdempotencyKey(ctx context.Context, userID, key string) (*flashsale.Order, error) {
	o, err := scanOrder(s.readers.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE user_id = ? AND idempotency_key = ? AND idempotency_key <> ''`, userID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, flashsale.Errorf(flashsale.EOrderNotFound, "no order of this user was created with this Idempotency-Key")
	}
	return o, err
}

// orderByID reads an order through the read pool, or inside the
// committer's transaction.
func orderByID(ctx context.Context, db interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, id string) (*flashsale.Order, error) {
	o, err := scanOrder(db.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE order_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, flashsale.Errorf(flashsale.EOrderNotFound, "order %q not found", id)
	}
	return o, err
}

// The conditions each Deadline adds to a transition's update.
var deadlineConditions = map[flashsale.Deadline]string{
	flashsale.AnyTime:        ``,
	flashsale.BeforeDeadline: ` AND ? < expires_at`,
	flashsale.AfterDeadline:  ` AND ? >= expires_at`,
}

// Transition changes an order's state with one conditional update: the
// database, not a read before the write, decides whether the order is
// still in t.From, so of two racing transitions exactly one wins. The
// notification of the change is written in the same savepoint. A card's
// limit is counted in the same update: the database has one writer, so
// the count and the claim are one step.
func (s *Store) Transition(ctx context.Context, t flashsale.Transition) (*flashsale.Order, error) {
	deadline, ok := deadlineConditions[t.Deadline]
	if !ok {
		return nil, fmt.Errorf("sqlite: transition of order %s: unknown deadline %d", t.OrderID, t.Deadline)
	}
	var card flashsale.CardClaim
	if t.Card != nil {
		card = *t.Card
	}
	args := []any{string(t.To), micros(t.At), countAttempt(t), t.PaymentError, succeededPaymentID(t)}
	if t.To == flashsale.OrderConfirmed {
		args = append(args, micros(t.At))
	} else {
		args = append(args, nil)
	}
	args = append(args, card.Fingerprint, t.OrderID, string(t.From))
	if t.Deadline != flashsale.AnyTime {
		args = append(args, micros(t.At))
	}
	args = append(args, card.Limit, card.Fingerprint, card.Limit)

	var order *flashsale.Order
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		o, err := scanOrder(conn.QueryRowContext(ctx, `UPDATE orders SET
				status = ?,
				updated_at = ?,
				payment_attempts = payment_attempts + ?,
				last_payment_error = coalesce(nullif(?, ''), last_payment_error),
				payment_id = coalesce(nullif(?, ''), payment_id),
				confirmed_at = coalesce(?, confirmed_at),
				card_fingerprint = coalesce(nullif(?, ''), card_fingerprint)
			WHERE order_id = ? AND status = ?`+deadline+`
				AND (? = 0 OR quantity + `+cardHeld+` <= ?)
			RETURNING `+orderColumns, args...))
		if errors.Is(err, sql.ErrNoRows) {
			if order, err = orderByID(ctx, conn, t.OrderID); err != nil {
				return err
			}
			if card.Limit > 0 && t.Allows(order) {
				// The update's only other condition: the card's limit.
				return flashsale.ErrCardLimit
			}
			return flashsale.ErrTransitionRefused
		}
		if err != nil {
			return fmt.Errorf("sqlite: transition of order %s: %w", t.OrderID, err)
		}
		if t.Payment != nil {
			if err := insertPayment(ctx, conn, t.OrderID, t.Payment); err != nil {
				return err
			}
		}
		if o.Status == flashsale.OrderConfirmed {
			if err := recordPurchase(ctx, conn, o); err != nil {
				return err
			}
		}
		if event, ok := flashsale.NotificationEventOf(t.From, o.Status); ok {
			if err := s.insertNotification(ctx, conn, flashsale.NewNotification(event, o, t.At)); err != nil {
				return err
			}
		}
		order = o
		return nil
	})
	if err != nil && !errors.Is(err, flashsale.ErrTransitionRefused) {
		return nil, err
	}
	return order, err
}

// cardHeld is the units the claimed card (the parameter) holds in the
// updated order's sale, apart from the order.
const cardHeld = `(SELECT coalesce(sum(c.quantity), 0) FROM orders c
	WHERE c.sale_id = orders.sale_id AND c.card_fingerprint = ? AND c.card_fingerprint <> ''
		AND c.status IN ('paying', 'confirmed') AND c.order_id <> orders.order_id)`

func countAttempt(t flashsale.Transition) int {
	if t.CountAttempt {
		return 1
	}
	return 0
}

func succeededPaymentID(t flashsale.Transition) string {
	if t.Payment != nil && t.Payment.Status == flashsale.PaymentSucceeded {
		return t.Payment.ID
	}
	return ""
}

// insertPayment records a charge attempt of the order; the payment's own
// OrderID is not trusted to name it.
func insertPayment(ctx context.Context, conn *writeConn, orderID string, p *flashsale.Payment) error {
	_, err := conn.ExecContext(ctx, `INSERT INTO payments
		(order_id, payment_id, attempt, idempotency_key, amount, currency, method, status, failure_reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		orderID, p.ID, p.Attempt, p.IdempotencyKey, int64(p.Amount), p.Currency, p.Method,
		string(p.Status), p.FailureReason, micros(p.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: record payment of order %s: %w", orderID, err)
	}
	return nil
}

// recordPurchase adds a confirmed order to the user's purchase history.
func recordPurchase(ctx context.Context, conn *writeConn, o *flashsale.Order) error {
	_, err := conn.ExecContext(ctx, `INSERT INTO user_purchases (user_id, item_id, quantity_purchased, last_purchase_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, item_id) DO UPDATE SET
			quantity_purchased = quantity_purchased + excluded.quantity_purchased,
			last_purchase_at = max(last_purchase_at, excluded.last_purchase_at)`,
		o.UserID, o.ItemID, o.Quantity, micros(o.ConfirmedAt))
	if err != nil {
		return fmt.Errorf("sqlite: record purchase of order %s: %w", o.ID, err)
	}
	return nil
}

// Payments returns an order's charge attempts, oldest first.
func (s *Store) Payments(ctx context.Context, orderID string) ([]flashsale.Payment, error) {
	rows, err := s.readers.QueryContext(ctx, `SELECT order_id, payment_id, attempt, idempotency_key, amount,
		currency, method, status, failure_reason, created_at
		FROM payments WHERE order_id = ? ORDER BY payment_seq`, orderID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var payments []flashsale.Payment
	for rows.Next() {
		var (
			p         flashsale.Payment
			createdAt int64
		)
		err := rows.Scan(&p.OrderID, &p.ID, &p.Attempt, &p.IdempotencyKey, &p.Amount,
			&p.Currency, &p.Method, &p.Status, &p.FailureReason, &createdAt)
		if err != nil {
			return nil, err
		}
		p.CreatedAt = fromMicros(createdAt)
		payments = append(payments, p)
	}
	return payments, rows.Err()
}

// Claims returns the units of an item claimed by orders: sold per user
// and the live reservations, with the item's limits (item_not_found).
func (s *Store) Claims(ctx context.Context, itemID string) (flashsale.ItemSnapshot, error) {
	snap := flashsale.ItemSnapshot{ItemID: itemID, SoldByUser: make(map[string]int64)}
	err := s.read(ctx, func(tx *sql.Tx) error {
		var start, end int64
		err := tx.QueryRowContext(ctx, `SELECT i.sale_id, i.total_quantity, i.per_user_limit, s.start_time, s.end_time
			FROM flash_sale_items i JOIN flash_sales s ON s.sale_id = i.sale_id
			WHERE i.item_id = ?`, itemID).Scan(&snap.SaleID, &snap.Total, &snap.PerUserLimit, &start, &end)
		if errors.Is(err, sql.ErrNoRows) {
			return flashsale.Errorf(flashsale.EItemNotFound, "item %q not found", itemID)
		}
		if err != nil {
			return err
		}
		snap.StartTime, snap.EndTime = fromMicros(start), fromMicros(end)

		rows, err := tx.QueryContext(ctx, `SELECT order_id, user_id, quantity, status, reserved_at, expires_at
			FROM orders WHERE item_id = ? AND status IN ('reserved', 'paying', 'confirmed', 'refunded')
			ORDER BY reserved_at, order_id`, itemID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				r                     = flashsale.Reservation{SaleID: snap.SaleID, ItemID: itemID}
				status                flashsale.OrderStatus
				reservedAt, expiresAt int64
			)
			if err := rows.Scan(&r.OrderID, &r.UserID, &r.Quantity, &status, &reservedAt, &expiresAt); err != nil {
				return err
			}
			if status.Sold() {
				snap.SoldByUser[r.UserID] += r.Quantity
				continue
			}
			r.ReservedAt, r.ExpiresAt = fromMicros(reservedAt), fromMicros(expiresAt)
			snap.Reservations = append(snap.Reservations, r)
		}
		return rows.Err()
	})
	if err != nil {
		return flashsale.ItemSnapshot{}, err
	}
	return snap, nil
}

// DueReservations returns up to limit reserved orders whose deadline is at
// or before now, earliest deadline first.
func (s *Store) DueReservations(ctx context.Context, now time.Time, limit int) ([]*flashsale.Order, error) {
	// The status is a literal so that SQLite can use the partial index.
	return s.orders(ctx, `WHERE status = 'reserved' AND expires_at <= ? ORDER BY expires_at, order_id LIMIT ?`,
		micros(now), max(limit, 0))
}

// StalePayments returns up to limit orders in paying whose last change is
// at or before before, oldest change first.
func (s *Store) StalePayments(ctx context.Context, before time.Time, limit int) ([]*flashsale.Order, error) {
	return s.orders(ctx, `WHERE status = 'paying' AND updated_at <= ? ORDER BY updated_at, order_id LIMIT ?`,
		micros(before), max(limit, 0))
}

// SaleOrders returns a page of the sale's orders in id order.
func (s *Store) SaleOrders(ctx context.Context, q flashsale.OrderQuery) ([]*flashsale.Order, error) {
	return s.orders(ctx, `WHERE sale_id = ? AND order_id > ? AND (? = '' OR status = ?) ORDER BY order_id LIMIT ?`,
		q.SaleID, q.After, string(q.Status), string(q.Status), max(q.Limit, 0))
}

func (s *Store) orders(ctx context.Context, where string, args ...any) ([]*flashsale.Order, error) {
	rows, err := s.readers.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var orders []*flashsale.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, err
		}
		orders = append(orders, o)
	}
	return orders, rows.Err()
}

const orderColumns = `order_id, sale_id, item_id, user_id, quantity, status, unit_price, currency,
	reserved_at, expires_at, confirmed_at, updated_at,
	payment_attempts, last_payment_error, payment_id, idempotency_key, card_fingerprint,
	phone_key, address_key`

func scanOrder(row interface{ Scan(...any) error }) (*flashsale.Order, error) {
	var (
		o                              flashsale.Order
		reservedAt, expiresAt, updated int64
		confirmedAt                    sql.NullInt64
	)
	err := row.Scan(&o.ID, &o.SaleID, &o.ItemID, &o.UserID, &o.Quantity, &o.Status, &o.UnitPrice, &o.Currency,
		&reservedAt, &expiresAt, &confirmedAt, &updated,
		&o.PaymentAttempts, &o.LastPaymentError, &o.PaymentID, &o.IdempotencyKey, &o.CardFingerprint,
		&o.PhoneKey, &o.AddressKey)
	if err != nil {
		return nil, err
	}
	o.ReservedAt, o.ExpiresAt, o.UpdatedAt = fromMicros(reservedAt), fromMicros(expiresAt), fromMicros(updated)
	o.ConfirmedAt = fromNullMicros(confirmedAt)
	return &o, nil
}
