package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale"
)

// createOrdersStatement inserts orders and, for each that is not a retry,
// its notification: every new order of a batch in one statement. Each of
// its first 23 parameters is an array with an element per order (see
// newOrderRow); the 24th is the channels. One statement for a batch
// instead of one per order costs PostgreSQL a third less per order: one
// plan's start and end, and one pass of each index's and table's insert
// code per batch.
var createOrdersStatement = `WITH input AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[],
			$8::text[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::integer[],
			$14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],
			$20::text[], $21::text[], $22::boolean[], $23::timestamptz[])
		AS o (` + orderColumns + `, notification_id, event, carries_reason, notified_at)
	), created AS (
		INSERT INTO orders (` + orderColumns + `)
		SELECT ` + orderColumns + ` FROM input
		ON CONFLICT (order_id) DO NOTHING
		RETURNING ` + notifiedColumns + `
	), notified AS (
		SELECT created.*, input.notification_id, input.event, input.carries_reason, input.notified_at
		FROM created JOIN input USING (order_id)
	), ` + notificationWrites("notified", notified{
	id: "o.notification_id", event: "o.event", carriesReason: "o.carries_reason", at: "o.notified_at",
	channels: "$24::text[]"}) + `
	SELECT 1`

// newOrderRow is an order's elements of createOrdersStatement's arrays:
// the order's columns, then its notification's values.
func (s *Store) newOrderRow(o *flashsale.Order) ([]any, error) {
	notification, err := s.notificationArgs("", o.Status, o.ReservedAt)
	if err != nil {
		return nil, err
	}
	return append(orderRow(o), notification[:4]...), nil
}

// orderRow is an order's values of orderColumns.
func orderRow(o *flashsale.Order) []any {
	return []any{o.ID, o.SaleID, o.ItemID, o.UserID, o.Quantity, string(o.Status), int64(o.UnitPrice), o.Currency,
		o.ReservedAt, o.ExpiresAt, nullTime(o.ConfirmedAt), o.UpdatedAt,
		o.PaymentAttempts, o.LastPaymentError, o.PaymentID, o.IdempotencyKey, o.CardFingerprint,
		o.PhoneKey, o.AddressKey}
}

// queueCreateOrders queues createOrdersStatement for the orders of
// writes, in their order.
func (s *Store) queueCreateOrders(b *pgx.Batch, writes []*write) {
	columns := make([]any, 0, len(writes[0].order)+1)
	for column := range writes[0].order {
		values := make([]any, len(writes))
		for i, w := range writes {
			values[i] = w.order[column]
		}
		columns = append(columns, values)
	}
	b.Queue(createOrdersStatement, append(columns, s.channels)...)
}

// createCountedOrderStatement is createOrderStatement for an order counted
// under a phone ($18) or an address ($19): it inserts nothing when the
// sale's other reserved, paying and confirmed orders hold its limit of
// either already, unless the order is stored (a retry). It answers the
// sale's limits, the units held, and whether the order was stored before.
var createCountedOrderStatement = `WITH counted AS (
		SELECT
			EXISTS (SELECT 1 FROM orders WHERE order_id = $1::text) AS existed,
			(SELECT coalesce((limits->>'per_phone')::bigint, 0) FROM flash_sales WHERE sale_id = $2::text) AS per_phone,
			(SELECT coalesce((limits->>'per_address')::bigint, 0) FROM flash_sales WHERE sale_id = $2::text) AS per_address,
			(SELECT coalesce(sum(quantity), 0) FROM orders WHERE $18::text <> '' AND sale_id = $2::text
				AND phone_key = $18::text AND phone_key <> '' AND status IN ('reserved', 'paying', 'confirmed') AND order_id <> $1::text) AS phone_held,
			(SELECT coalesce(sum(quantity), 0) FROM orders WHERE $19::text <> '' AND sale_id = $2::text
				AND address_key = $19::text AND address_key <> '' AND status IN ('reserved', 'paying', 'confirmed') AND order_id <> $1::text) AS address_held
	), created AS (
		INSERT INTO orders (` + orderColumns + `)
		SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text, $7::bigint, $8::text,
			$9::timestamptz, $10::timestamptz, $11::timestamptz, $12::timestamptz,
			$13::integer, $14::text, $15::text, $16::text, $17::text, $18::text, $19::text
		FROM counted
		WHERE NOT (($18::text <> '' AND per_phone > 0 AND phone_held + $5::bigint > per_phone)
			OR ($19::text <> '' AND per_address > 0 AND address_held + $5::bigint > per_address))
		ON CONFLICT (order_id) DO NOTHING
		RETURNING ` + notifiedColumns + `
	), ` + notificationWrites("created", notifiedByParameters(20)) + `
	SELECT existed, coalesce(per_phone, 0), phone_held, coalesce(per_address, 0), address_held FROM counted`

// CreateOrder records a new order durably, with its notification. An
// order whose ID is already stored is a retry of the same write (the
// outbox drain, a client retry after a lost answer): it writes nothing and
// succeeds.
func (s *Store) CreateOrder(ctx context.Context, o *flashsale.Order) error {
	if o.Identities == (flashsale.Identities{}) {
		row, err := s.newOrderRow(o)
		if err != nil {
			return fmt.Errorf("postgres: create order %s: %w", o.ID, err)
		}
		w := &write{order: row, row: "orders/" + o.ID}
		w.queue = func(b *pgx.Batch) { s.queueCreateOrders(b, []*write{w}) }
		return s.createOrderError(o, s.commits.do(ctx, w))
	}
	notification, err := s.notificationArgs("", o.Status, o.ReservedAt)
	if err != nil {
		return fmt.Errorf("postgres: create order %s: %w", o.ID, err)
	}
	args := append(orderRow(o), notification...)
	var refusal error
	err = s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		// Each key's lock, in a statement before the count's: the count
		// then sees every earlier order of the phone or address committed,
		// whichever instance made it (see Transition).
		for _, key := range []string{o.PhoneKey, o.AddressKey} {
			if key != "" {
				b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))`, o.SaleID, key)
			}
		}
		b.Queue(createCountedOrderStatement, args...).QueryRow(func(row pgx.Row) error {
			var (
				existed                                   bool
				perPhone, phoneHeld, perAddress, addrHeld int64
			)
			if err := row.Scan(&existed, &perPhone, &phoneHeld, &perAddress, &addrHeld); err != nil {
				return err
			}
			refusal = nil // a batch may run twice (see attempt): the last run tells
			if !existed {
				refusal = flashsale.IdentityRefusal(o.Identities, o.Quantity, flashsale.IdentityHolds{
					PerPhone: perPhone, PhoneHeld: phoneHeld, PerAddress: perAddress, AddressHeld: addrHeld})
			}
			return nil
		})
	}})
	if err := s.createOrderError(o, err); err != nil {
		return err
	}
	return refusal
}

// createOrderError is what CreateOrder answers for its write's outcome.
func (s *Store) createOrderError(o *flashsale.Order, err error) error {
	if constraint, ok := violated(err, uniqueViolation); ok && constraint == "orders_user_idempotency_key" {
		return flashsale.Errorf(flashsale.EIdempotencyKeyReused, "the Idempotency-Key was used for another order")
	}
	if constraint, ok := violated(err, foreignKeyViolation); ok && constraint == "orders_item_of_sale" {
		return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", o.ItemID, o.SaleID)
	}
	if err != nil {
		return fmt.Errorf("postgres: create order %s: %w", o.ID, err)
	}
	return nil
}

// AbandonOrder records o unless an order with its ID exists, without a
// notification, and returns the order as stored (see flashsale.OrderStore).
func (s *Store) AbandonOrder(ctx context.Context, o *flashsale.Order) (*flashsale.Order, error) {
	var stored *flashsale.Order
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(`INSERT INTO orders (`+orderColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
			ON CONFLICT (order_id) DO NOTHING`, orderRow(o)...)
		b.Queue(`SELECT `+orderColumns+` FROM orders WHERE order_id = $1`, o.ID).QueryRow(func(row pgx.Row) error {
			var err error
			stored, err = scanOrder(row)
			return err
		})
	}})
	if err != nil {
		return nil, fmt.Errorf("postgres: abandon order %s: %w", o.ID, err)
	}
	return stored, nil
}

// Order returns an order (order_not_found).
func (s *Store) Order(ctx context.Context, id string) (*flashsale.Order, error) {
	o, err := scanOrder(s.readers.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE order_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, orderNotFound(id)
	}
	return o, err
}

func orderNotFound(id string) error {
	return flashsale.Errorf(flashsale.EOrderNotFound, "order %q not found", id)
}

// OrderByIdempotencyKey returns the user's order created with key
// (order_not_found). An empty key names no order.
func (s *Store) OrderByIdempotencyKey(ctx context.Context, userID, key string) (*flashsale.Order, error) {
	o, err := scanOrder(s.readers.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders
		WHERE user_id = $1 AND idempotency_key = $2 AND idempotency_key <> ''`, userID, key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, flashsale.Errorf(flashsale.EOrderNotFound, "no order of this user was created with this Idempotency-Key")
	}
	return o, err
}

// The conditions each Deadline adds to a transition's update; $3 is the
// transition's time.
var deadlineConditions = map[flashsale.Deadline]string{
	flashsale.AnyTime:        ``,
	flashsale.BeforeDeadline: ` AND $3 < expires_at`,
	flashsale.AfterDeadline:  ` AND $3 >= expires_at`,
}

// transitionStatement is the conditional update of a transition, with the
// payment it records, the notification of the change and, for a
// confirmation, the purchase history, all in one statement that only
// writes when the update does. It answers how many orders it changed (1
// or 0) and the units the claimed card ($19, empty: none) holds in the
// order's sale apart from this order, which its limit ($20, 0: none)
// bounds, and whether the order was there for the update to see.
var transitionStatement = `WITH card AS (
		SELECT coalesce(sum(quantity), 0) AS held FROM orders
		WHERE $19::text <> '' AND card_fingerprint = $19::text AND status IN ('paying', 'confirmed')
			AND sale_id = (SELECT sale_id FROM orders WHERE order_id = $1) AND order_id <> $1
	), changed AS (
		UPDATE orders SET
			status = $4,
			updated_at = $3,
			payment_attempts = payment_attempts + $5,
			last_payment_error = coalesce(nullif($6, ''), last_payment_error),
			payment_id = coalesce(nullif($7, ''), payment_id),
			confirmed_at = coalesce($8, confirmed_at),
			card_fingerprint = coalesce(nullif($19::text, ''), card_fingerprint)
		WHERE order_id = $1 AND status = $2%s
			AND ($20::bigint = 0 OR quantity + (SELECT held FROM card) <= $20::bigint)
		RETURNING confirmed_at, ` + notifiedColumns + `
	), payment AS (
		INSERT INTO payments
			(order_id, payment_id, attempt, idempotency_key, amount, currency, method, status, failure_reason, created_at)
		SELECT order_id, $10::text, $11::integer, $12::text, $13::bigint, $14::text, $15::text, $16::text, $17::text,
			$18::timestamptz
		FROM changed WHERE $9::boolean
	), purchase AS (
		INSERT INTO user_purchases (user_id, item_id, quantity_purchased, last_purchase_at)
		SELECT user_id, item_id, quantity, confirmed_at FROM changed WHERE status = 'confirmed'
		ON CONFLICT (user_id, item_id) DO UPDATE SET
			quantity_purchased = user_purchases.quantity_purchased + excluded.quantity_purchased,
			last_purchase_at = greatest(user_purchases.last_purchase_at, excluded.last_purchase_at)
	), ` + notificationWrites("changed", notifiedByParameters(21)) + `
	SELECT (SELECT count(*) FROM changed), (SELECT held FROM card), EXISTS (SELECT 1 FROM orders WHERE order_id = $1)`

// transitionStatements are transitionStatement for each Deadline.
var transitionStatements = func() map[flashsale.Deadline]string {
	statements := make(map[flashsale.Deadline]string, len(deadlineConditions))
	for deadline, condition := range deadlineConditions {
		statements[deadline] = fmt.Sprintf(transitionStatement, condition)
	}
	return statements
}()

// Transition changes an order's state with one conditional update: the
// database, not a read before the write, decides whether the order is
// still in t.From, so of two racing transitions exactly one wins.
//
// A limited card claim first takes a transaction lock on the sale's card,
// in a statement of its own: the update's statement, begun after the lock
// is granted, counts the card's units with every earlier claim of it
// committed, so two instances paying with one card are counted one after
// the other.
//
// The order it returns is read by a statement of its own after the
// update. Within one statement, a refused update could only be answered
// from the statement's snapshot, which predates the transaction the update
// waited for and lost to; a new statement sees the winner's change. But
// an order whose insert committed between the two statements was never
// seen by the update: that is "not found" as of the update, never a
// refusal, since the order may well be in t.From (a journaled order's
// persister racing its expiry; the caller looks again).
func (s *Store) Transition(ctx context.Context, t flashsale.Transition) (*flashsale.Order, error) {
	statement, ok := transitionStatements[t.Deadline]
	if !ok {
		return nil, fmt.Errorf("postgres: transition of order %s: unknown deadline %d", t.OrderID, t.Deadline)
	}
	args := []any{t.OrderID, string(t.From), t.At, string(t.To), countAttempt(t), t.PaymentError, succeededPaymentID(t)}
	if t.To == flashsale.OrderConfirmed {
		args = append(args, t.At)
	} else {
		args = append(args, nil)
	}
	if p := t.Payment; p != nil {
		args = append(args, true, p.ID, p.Attempt, p.IdempotencyKey, int64(p.Amount), p.Currency, p.Method,
			string(p.Status), p.FailureReason, p.CreatedAt)
	} else {
		args = append(args, false, nil, nil, nil, nil, nil, nil, nil, nil, nil)
	}
	notification, err := s.notificationArgs(t.From, t.To, t.At)
	if err != nil {
		return nil, fmt.Errorf("postgres: transition of order %s: %w", t.OrderID, err)
	}
	var card flashsale.CardClaim
	if t.Card != nil {
		card = *t.Card
	}
	args = append(args, card.Fingerprint, card.Limit)
	args = append(args, notification...)

	var (
		changed, seen bool
		cardHeld      int64
		order         *flashsale.Order
	)
	err = s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		if card.Limit > 0 {
			b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended(sale_id || '/' || $2, 0))
				FROM orders WHERE order_id = $1`, t.OrderID, card.Fingerprint)
		}
		b.Queue(statement, args...).QueryRow(func(row pgx.Row) error {
			var count int64
			err := row.Scan(&count, &cardHeld, &seen)
			changed = count == 1
			return err
		})
		b.Queue(`SELECT `+orderColumns+` FROM orders WHERE order_id = $1`, t.OrderID).QueryRow(func(row pgx.Row) error {
			var err error
			order, err = scanOrder(row)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	}})
	switch {
	case err != nil:
		return nil, fmt.Errorf("postgres: transition of order %s: %w", t.OrderID, err)
	case order == nil, !seen:
		return nil, orderNotFound(t.OrderID)
	case !changed && t.RefusedForCard(order, cardHeld):
		return order, flashsale.ErrCardLimit
	case !changed:
		return order, flashsale.ErrTransitionRefused
	}
	return order, nil
}

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

// Payments returns an order's charge attempts, oldest first.
func (s *Store) Payments(ctx context.Context, orderID string) ([]flashsale.Payment, error) {
	rows, err := s.readers.Query(ctx, `SELECT order_id, payment_id, attempt, idempotency_key, amount,
		currency, method, status, failure_reason, created_at
		FROM payments WHERE order_id = $1 ORDER BY payment_seq`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (flashsale.Payment, error) {
		var p flashsale.Payment
		err := row.Scan(&p.OrderID, &p.ID, &p.Attempt, &p.IdempotencyKey, &p.Amount,
			&p.Currency, &p.Method, &p.Status, &p.FailureReason, &p.CreatedAt)
		return p, err
	})
}

// Claims returns the units of an item claimed by orders: sold per user
// and the live reservations, with the item's limits (item_not_found).
func (s *Store) Claims(ctx context.Context, itemID string) (flashsale.ItemSnapshot, error) {
	snap := flashsale.ItemSnapshot{ItemID: itemID, SoldByUser: make(map[string]int64)}
	err := s.readers.QueryRow(ctx, `SELECT i.sale_id, i.total_quantity, i.per_user_limit, s.start_time, s.end_time
		FROM flash_sale_items i JOIN flash_sales s ON s.sale_id = i.sale_id
		WHERE i.item_id = $1`, itemID).Scan(&snap.SaleID, &snap.Total, &snap.PerUserLimit, &snap.StartTime, &snap.EndTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return flashsale.ItemSnapshot{}, flashsale.Errorf(flashsale.EItemNotFound, "item %q not found", itemID)
	}
	if err != nil {
		return flashsale.ItemSnapshot{}, err
	}

	// One statement, so one snapshot: the claims agree with each other.
	rows, err := s.readers.Query(ctx, `SELECT order_id, user_id, quantity, status, reserved_at, expires_at
		FROM orders WHERE item_id = $1 AND status IN ('reserved', 'paying', 'confirmed', 'refunded')
		ORDER BY reserved_at, order_id`, itemID)
	if err != nil {
		return flashsale.ItemSnapshot{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r      = flashsale.Reservation{SaleID: snap.SaleID, ItemID: itemID}
			status flashsale.OrderStatus
		)
		if err := rows.Scan(&r.OrderID, &r.UserID, &r.Quantity, &status, &r.ReservedAt, &r.ExpiresAt); err != nil {
			return flashsale.ItemSnapshot{}, err
		}
		if status.Sold() {
			snap.SoldByUser[r.UserID] += r.Quantity
			continue
		}
		snap.Reservations = append(snap.Reservations, r)
	}
	if err := rows.Err(); err != nil {
		return flashsale.ItemSnapshot{}, err
	}
	return snap, nil
}

// DueReservations returns up to limit reserved orders whose deadline is at
// or before now, earliest deadline first.
func (s *Store) DueReservations(ctx context.Context, now time.Time, limit int) ([]*flashsale.Order, error) {
	// The status is a literal so that the planner can use the partial index.
	return s.orders(ctx, `WHERE status = 'reserved' AND expires_at <= $1 ORDER BY expires_at, order_id LIMIT $2`,
		now, max(limit, 0))
}

// StalePayments returns up to limit orders in paying whose last change is
// at or before before, oldest change first.
func (s *Store) StalePayments(ctx context.Context, before time.Time, limit int) ([]*flashsale.Order, error) {
	return s.orders(ctx, `WHERE status = 'paying' AND updated_at <= $1 ORDER BY updated_at, order_id LIMIT $2`,
		before, max(limit, 0))
}

// SaleOrders returns a page of the sale's orders in id order. The ids
// compare in the "C" collation, byte order, as UUIDv7 text sorts by time
// whatever the database's language rules.
func (s *Store) SaleOrders(ctx context.Context, q flashsale.OrderQuery) ([]*flashsale.Order, error) {
	return s.orders(ctx, `WHERE sale_id = $1 AND order_id COLLATE "C" > $2 AND ($3 = '' OR status = $3)
		ORDER BY order_id COLLATE "C" LIMIT $4`, q.SaleID, q.After, string(q.Status), max(q.Limit, 0))
}

func (s *Store) orders(ctx context.Context, where string, args ...any) ([]*flashsale.Order, error) {
	rows, err := s.readers.Query(ctx, `SELECT `+orderColumns+` FROM orders `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*flashsale.Order, error) { return scanOrder(row) })
}

const orderColumns = `order_id, sale_id, item_id, user_id, quantity, status, unit_price, currency,
	reserved_at, expires_at, confirmed_at, updated_at,
	payment_attempts, last_payment_error, payment_id, idempotency_key, card_fingerprint,
	phone_key, address_key`

func scanOrder(row pgx.Row) (*flashsale.Order, error) {
	var (
		o           flashsale.Order
		confirmedAt *time.Time
	)
	err := row.Scan(&o.ID, &o.SaleID, &o.ItemID, &o.UserID, &o.Quantity, &o.Status, &o.UnitPrice, &o.Currency,
		&o.ReservedAt, &o.ExpiresAt, &confirmedAt, &o.UpdatedAt,
		&o.PaymentAttempts, &o.LastPaymentError, &o.PaymentID, &o.IdempotencyKey, &o.CardFingerprint,
		&o.PhoneKey, &o.AddressKey)
	if err != nil {
		return nil, err
	}
	o.ConfirmedAt = fromNullTime(confirmedAt)
	return &o, nil
}
