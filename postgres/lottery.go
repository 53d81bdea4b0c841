package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flashsale/flashsale"
)

var _ flashsale.EntryStore = (*Store)(nil)

// deadlockDetected is the SQLSTATE of a transaction the server aborted to
// break a deadlock.
const deadlockDetected = "40P01"

// enterAttempts bounds Enter's retries after a deadlock.
const enterAttempts = 3

// Enter records the user's entry of an item unless the user has one, and
// returns the entry as stored (see flashsale.EntryStore). A new entry is
// entered, undrawn, whatever e says of its status, rank and order.
//
// Any conflict does nothing, not only the user's: a retry of an entry
// whose id is stored, even one still in flight on another instance, finds
// it the same way. An insert that meets another transaction's uncommitted
// entry of the user waits for it; the read is a statement of its own, so
// its snapshot, taken after that wait, sees the entry that won.
//
// A batch enters its users in the order of their rows (write.row), so two
// batches entering the same users do not deadlock on them; if they
// deadlock on something else (identity locks), the server aborts one:
// Enter changes nothing twice, so it tries again.
func (s *Store) Enter(ctx context.Context, e *flashsale.Entry) (*flashsale.Entry, bool, error) {
	var (
		stored  *flashsale.Entry
		created bool
		err     error
	)
	var (
		refusal error
		sealed  bool
	)
	for range enterAttempts {
		err = s.commits.do(ctx, &write{row: "lottery_entries/" + e.ItemID + "/" + e.UserID, queue: func(b *pgx.Batch) {
			args := []any{e.ID, e.SaleID, e.ItemID, e.UserID, e.EnteredAt, e.PhoneKey, e.AddressKey, e.CardKey}
			// The item's entry lock, shared: a seal takes it alone, so it
			// waits for every entry in flight (see SealEntries), and the
			// insert's statement, begun after the lock, sees a seal
			// committed before it.
			b.Queue(`SELECT pg_advisory_xact_lock_shared(hashtextextended('entries/' || $1, 0))`, e.ItemID)
			if e.Identities == (flashsale.Identities{}) {
				b.Queue(enterStatement, args...).Exec(func(tag pgconn.CommandTag) error {
					created = tag.RowsAffected() == 1 // a batch may run twice (see attempt): the last run tells
					return nil
				})
			} else {
				// Each key's lock first, as for orders (see CreateOrder).
				for _, key := range []string{e.PhoneKey, e.AddressKey, e.CardKey} {
					if key != "" {
						b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))`, e.SaleID, key)
					}
				}
				b.Queue(enterCountedStatement, args...).QueryRow(func(row pgx.Row) error {
					var (
						existed, inserted bool
						units             int64
						h                 flashsale.IdentityHolds
					)
					if err := row.Scan(&existed, &inserted, &units, &h.PerPhone, &h.PhoneHeld,
						&h.PerAddress, &h.AddressHeld, &h.PerCard, &h.CardHeld); err != nil {
						return err
					}
					created, refusal = inserted, nil
					if !existed && !inserted {
						// Refused for a limit, or for a seal (told below).
						refusal = flashsale.IdentityRefusal(e.Identities, units, h)
					}
					return nil
				})
			}
			b.Queue(`SELECT EXISTS (SELECT 1 FROM lottery_seals WHERE item_id = $1)`, e.ItemID).QueryRow(func(row pgx.Row) error {
				return row.Scan(&sealed)
			})
			b.Queue(`SELECT `+entryColumns+` FROM lottery_entries WHERE item_id = $1 AND user_id = $2`,
				e.ItemID, e.UserID).QueryRow(func(row pgx.Row) error {
				var err error
				stored, err = scanEntry(row)
				if errors.Is(err, pgx.ErrNoRows) {
					stored = nil
					return nil
				}
				return err
			})
		}})
		if _, ok := violated(err, deadlockDetected); !ok {
			break
		}
	}
	if constraint, ok := violated(err, foreignKeyViolation); ok && constraint == "lottery_entries_item_of_sale" {
		return nil, false, itemNotInSale(e)
	}
	switch {
	case err != nil:
		return nil, false, fmt.Errorf("postgres: enter %s: %w", e.ID, err)
	case refusal != nil:
		return nil, false, refusal
	case stored == nil && sealed:
		return nil, false, flashsale.ErrEntriesSealed
	case stored == nil:
		// The id is another user's entry: only a broken id generator
		// gets here.
		return nil, false, fmt.Errorf("postgres: enter %s: the entry id is taken", e.ID)
	case stored.SaleID != e.SaleID:
		// The user's entry of the item is stored under the item's own
		// sale: e's item is not part of e's sale.
		return nil, false, itemNotInSale(e)
	}
	return stored, created, nil
}

// enterStatement stores an entry unless the user has one for the item or
// the item's entries are sealed.
const enterStatement = `INSERT INTO lottery_entries
	(entry_id, sale_id, item_id, user_id, entered_at, status, rank, order_id, phone_key, address_key, card_key)
	SELECT $1::text, $2::text, $3::text, $4::text, $5::timestamptz, 'entered', 0, '', $6::text, $7::text, $8::text
	WHERE NOT EXISTS (SELECT 1 FROM lottery_seals WHERE item_id = $3::text)
	ON CONFLICT DO NOTHING`

// enterCountedStatement is enterStatement for an entry counted under a
// phone ($6), an address ($7) or a card ($8): each of the sale's entries that is not
// lost claims the units it may win (its item's per-user limit), and the
// entry is not stored when its phone, address or card holds the sale's limit
// already. It answers whether the user had an entry of the item, whether
// this one was stored, and the figures of the refusal.
const enterCountedStatement = `WITH counted AS (
		SELECT
			EXISTS (SELECT 1 FROM lottery_entries WHERE item_id = $3::text AND user_id = $4::text) AS existed,
			coalesce((SELECT per_user_limit FROM flash_sale_items WHERE item_id = $3::text), 0) AS units,
			coalesce((SELECT (limits->>'per_phone')::bigint FROM flash_sales WHERE sale_id = $2::text), 0) AS per_phone,
			coalesce((SELECT (limits->>'per_address')::bigint FROM flash_sales WHERE sale_id = $2::text), 0) AS per_address,
			coalesce((SELECT (limits->>'per_card')::bigint FROM flash_sales WHERE sale_id = $2::text), 0) AS per_card,
			(SELECT coalesce(sum(i.per_user_limit), 0) FROM lottery_entries l JOIN flash_sale_items i ON i.item_id = l.item_id
				WHERE $6::text <> '' AND l.sale_id = $2::text AND l.phone_key = $6::text AND l.phone_key <> '' AND l.status <> 'lost') AS phone_held,
			(SELECT coalesce(sum(i.per_user_limit), 0) FROM lottery_entries l JOIN flash_sale_items i ON i.item_id = l.item_id
				WHERE $7::text <> '' AND l.sale_id = $2::text AND l.address_key = $7::text AND l.address_key <> '' AND l.status <> 'lost') AS address_held,
			(SELECT coalesce(sum(i.per_user_limit), 0) FROM lottery_entries l JOIN flash_sale_items i ON i.item_id = l.item_id
				WHERE $8::text <> '' AND l.sale_id = $2::text AND l.card_key = $8::text AND l.card_key <> '' AND l.status <> 'lost') AS card_held
	), entered AS (
		INSERT INTO lottery_entries
			(entry_id, sale_id, item_id, user_id, entered_at, status, rank, order_id, phone_key, address_key, card_key)
		SELECT $1::text, $2::text, $3::text, $4::text, $5::timestamptz, 'entered', 0, '', $6::text, $7::text, $8::text
		FROM counted
		WHERE NOT existed
			AND NOT EXISTS (SELECT 1 FROM lottery_seals WHERE item_id = $3::text)
			AND NOT (($6::text <> '' AND per_phone > 0 AND phone_held + units > per_phone)
				OR ($7::text <> '' AND per_address > 0 AND address_held + units > per_address)
				OR ($8::text <> '' AND per_card > 0 AND card_held + units > per_card))
		ON CONFLICT DO NOTHING
		RETURNING 1
	)
	SELECT existed, EXISTS (SELECT 1 FROM entered), units, per_phone, phone_held, per_address, address_held, per_card, card_held
	FROM counted`

func itemNotInSale(e *flashsale.Entry) error {
	return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", e.ItemID, e.SaleID)
}

// UserEntries returns the user's entries in a sale, oldest first.
func (s *Store) UserEntries(ctx context.Context, saleID, userID string) ([]*flashsale.Entry, error) {
	return s.entries(ctx, `WHERE sale_id = $1 AND user_id = $2 ORDER BY entered_at, entry_id COLLATE "C"`, saleID, userID)
}

// EntryIDs returns the ids of an item's entries in byte order: the "C"
// collation's, whatever the database's default, which may sort by
// language rules.
func (s *Store) EntryIDs(ctx context.Context, itemID string) ([]string, error) {
	rows, err := s.readers.Query(ctx, `SELECT entry_id FROM lottery_entries WHERE item_id = $1
		ORDER BY entry_id COLLATE "C"`, itemID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// entryNotificationColumns are the columns of notifications that the
// lottery's statements write. An entry's notification has no order but
// lottery.won's: the order's columns are zero then, as a refused
// request's are.
const entryNotificationColumns = `notification_id, user_id, order_id, entry_id, event, sale_id, item_id, item_name,
	quantity, amount, currency, status, expires_at, reason, occurred_at, waitlist_place`

// notificationIDSQL gives each row of an INSERT … SELECT a UUIDv7 of its
// own (PostgreSQL makes them from version 18 only): a random UUID whose
// first 48 bits are replaced by the Unix milliseconds $%d, and whose
// version nibble, 0100, becomes 0111. The variant is the random UUID's.
func notificationIDSQL(ms int) string {
	return fmt.Sprintf(`encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
		placing substring(int8send($%d::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid::text`, ms)
}

// entryDeliveries owes the notifications of the CTE notification to the
// channels $n.
func entryDeliveries(channels int) string {
	return fmt.Sprintf(`INSERT INTO notification_deliveries (notification_seq, channel, attempts, next_attempt_at, last_error)
		SELECT n.notification_seq, c.channel, 0, n.occurred_at, ''
		FROM notification n CROSS JOIN unnest($%d::text[]) AS c (channel)`, channels)
}

// drawStepStatement ranks one step of an item's draw ($1): the places
// after $2 up to $3 of the places in entry order, whose ids are the array
// $5 and ranks the array $10, with the first $6 places winning, unless the
// draw's progress is no longer $2 (another call's step got there first) or
// it is complete; $4 marks the step the last. It writes a
// lottery.waitlisted of each entry it waitlisted, its place its rank less
// the winners, at the draw's time, owed to the channels $8; $7 is the
// notifications' milliseconds and $9 the zero time, the reservation
// deadline of no order. The step's places are two array parameters that
// the update joins against, and only the item's own entries are ranked,
// so an id of another item's entry changes nothing.
var drawStepStatement = `WITH advanced AS (
		UPDATE lottery_draws SET ranked_through = $3, complete = $4
		WHERE item_id = $1 AND ranked_through = $2 AND NOT complete
		RETURNING item_id, drawn_at
	), ranked AS (
		UPDATE lottery_entries e SET
			rank = o.rank,
			status = CASE WHEN o.rank <= $6::bigint THEN 'won' ELSE 'waitlisted' END
		FROM unnest($5::text[], $10::bigint[]) AS o (entry_id, rank), advanced
		WHERE e.entry_id = o.entry_id AND e.item_id = advanced.item_id
		RETURNING e.entry_id, e.user_id, e.sale_id, e.item_id, e.rank, e.status, advanced.drawn_at
	), notification AS (
		INSERT INTO notifications (` + entryNotificationColumns + `)
		SELECT ` + notificationIDSQL(7) + `, r.user_id, NULL, r.entry_id, 'lottery.waitlisted',
			r.sale_id, r.item_id, i.name, 0, 0, '', '', $9, '', r.drawn_at, r.rank - $6::bigint
		FROM ranked r JOIN flash_sale_items i ON i.item_id = r.item_id
		WHERE r.status = 'waitlisted'
		ORDER BY r.rank
		ON CONFLICT DO NOTHING
		RETURNING notification_seq, occurred_at
	)
	` + entryDeliveries(8)

// RecordDraw stores an item's draw once, ranking its places a step of
// drawStep entries at a time, each step a transaction of its own and the
// waitlist's notifications with it (see flashsale.EntryStore).
//
// The steps take the places in entry order (flashsale.PlacesInEntryOrder),
// as SQLite's do: a step of entries that lie together updates a few heap
// pages and logs each once, where a step of the draw order, a shuffle,
// touched a page for nearly every entry.
//
// Neither the draw nor its steps go through the committers: a step takes
// a few hundred milliseconds, past batchTimeout, and would hold every
// write of its batch that long. The caller's context bounds them instead.
// Concurrent calls take turns at the draw's row: a step that finds
// another's progress changes nothing, and its call carries on from there.
func (s *Store) RecordDraw(ctx context.Context, d flashsale.ItemDraw, order []string, winners int) (flashsale.ItemDraw, error) {
	var places []flashsale.Place
	return flashsale.RecordDrawInSteps(d,
		func() (flashsale.ItemDraw, flashsale.DrawProgress, error) {
			stored, progress, err := s.startDraw(ctx, d)
			if constraint, ok := violated(err, foreignKeyViolation); ok && constraint == "lottery_draws_item_of_sale" {
				return stored, progress, flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", d.ItemID, d.SaleID)
			}
			if err != nil {
				return stored, progress, fmt.Errorf("postgres: record draw of item %s: %w", d.ItemID, err)
			}
			return stored, progress, nil
		},
		func(_ flashsale.ItemDraw, from int64) (flashsale.DrawProgress, error) {
			if places == nil {
				places = flashsale.PlacesInEntryOrder(order)
			}
			progress, err := s.rankStep(ctx, d.ItemID, places, winners, from)
			if err != nil {
				return progress, fmt.Errorf("postgres: rank the draw of item %s: %w", d.ItemID, err)
			}
			return progress, nil
		})
}

// startDraw stores d unless the item has a draw, and returns the item's
// draw as stored, with its progress. A draw stored at the same time
// elsewhere makes the insert wait for it and then do nothing; the read
// after it, a statement of its own, sees the one stored.
func (s *Store) startDraw(ctx context.Context, d flashsale.ItemDraw) (flashsale.ItemDraw, flashsale.DrawProgress, error) {
	var (
		stored   flashsale.ItemDraw
		progress flashsale.DrawProgress
	)
	err := s.drawTransaction(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO lottery_draws (item_id, sale_id, entries_digest, entry_count, drawn_at, ranked_through, complete)
			VALUES ($1, $2, $3, $4, $5, 0, false)
			ON CONFLICT (item_id) DO NOTHING`, d.ItemID, d.SaleID, d.EntriesDigest, d.EntryCount, d.DrawnAt); err != nil {
			return err
		}
		var err error
		stored, progress, err = drawOf(ctx, tx, d.ItemID)
		return err
	})
	return stored, progress, err
}

// drawOf reads an item's draw and its progress.
func drawOf(ctx context.Context, tx pgx.Tx, itemID string) (flashsale.ItemDraw, flashsale.DrawProgress, error) {
	var progress flashsale.DrawProgress
	d, err := scanDraw(tx.QueryRow(ctx, `SELECT `+drawColumns+`, ranked_through, complete FROM lottery_draws WHERE item_id = $1`, itemID),
		&progress.Ranked, &progress.Complete)
	return d, progress, err
}

// rankStep ranks the places after from, up to drawStep of them, unless
// another call's step got there first, and returns the draw's progress as
// it then stands.
func (s *Store) rankStep(ctx context.Context, itemID string, places []flashsale.Place, winners int, from int64) (flashsale.DrawProgress, error) {
	end := min(from+int64(s.drawStep), int64(len(places)))
	ids, ranks := make([]string, 0, end-from), make([]int64, 0, end-from)
	for _, p := range places[from:end] {
		ids, ranks = append(ids, p.EntryID), append(ranks, p.Rank)
	}
	var progress flashsale.DrawProgress
	err := s.drawTransaction(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, drawStepStatement, itemID, from, end, end == int64(len(places)), ids, winners,
			time.Now().UnixMilli(), s.channels, time.Time{}, ranks); err != nil {
			return err
		}
		var err error
		_, progress, err = drawOf(ctx, tx, itemID)
		return err
	})
	return progress, err
}

// drawTransaction runs step in a transaction of its own on a connection
// of the read pool (the write pool's are the committers', each held by
// its committer), committed durably.
func (s *Store) drawTransaction(ctx context.Context, step func(pgx.Tx) error) error {
	tx, err := s.readers.Begin(ctx)
	if err != nil {
		return err
	}
	// After a commit the rollback does nothing.
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The read pool's connections have the server's default, which may
	// not wait for the WAL flush; the committers' do (commitDurably).
	if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', true)
		WHERE current_setting('synchronous_commit') = 'off'`); err != nil {
		return err
	}
	if err := step(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		// The COMMIT was sent: the server may have committed it and lost
		// only its answer. Either way the next call carries on.
		return fmt.Errorf("commit: %w: %w", flashsale.ErrWriteInDoubt, err)
	}
	return nil
}

// ItemDraws returns the sale's complete draws.
func (s *Store) ItemDraws(ctx context.Context, saleID string) ([]flashsale.ItemDraw, error) {
	rows, err := s.readers.Query(ctx, `SELECT `+drawColumns+` FROM lottery_draws WHERE sale_id = $1 AND complete ORDER BY item_id`, saleID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (flashsale.ItemDraw, error) { return scanDraw(row) })
}

// NextToReserve returns up to limit entries of the item owed a
// reservation: the won ones without one, then the waitlisted, each by
// rank. Each part is read in its index's order and cut to limit before
// the two are put together, so a long waitlist is not sorted whole.
func (s *Store) NextToReserve(ctx context.Context, itemID string, limit int) ([]*flashsale.Entry, error) {
	// The statuses and order_id = '' are literals so that the planner can
	// use the partial index.
	rows, err := s.readers.Query(ctx, `SELECT `+entryColumns+` FROM (
			(SELECT `+entryColumns+` FROM lottery_entries
				WHERE item_id = $1 AND status = 'won' AND order_id = '' ORDER BY rank LIMIT $2)
			UNION ALL
			(SELECT `+entryColumns+` FROM lottery_entries
				WHERE item_id = $1 AND status = 'waitlisted' AND order_id = '' ORDER BY rank LIMIT $2)
		) owed
		ORDER BY status = 'waitlisted', rank
		LIMIT $2`, itemID, max(limit, 0))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*flashsale.Entry, error) { return scanEntry(row) })
}

// awardStatement gives an entry ($1) its order ($2) and writes its
// lottery.won at $3, with the order as it is, owed to the channels $5;
// it answers whether it changed the entry. An order the store does not
// hold tells nobody, as a notification's order must exist (see
// flashsale.EntryStore's Award).
var awardStatement = `WITH awarded AS (
		UPDATE lottery_entries SET status = 'won', order_id = $2
		WHERE entry_id = $1 AND order_id = '' AND status IN ('won', 'waitlisted')
		RETURNING entry_id, user_id, order_id
	), notification AS (
		INSERT INTO notifications (` + entryNotificationColumns + `)
		SELECT ` + notificationIDSQL(4) + `, a.user_id, o.order_id, a.entry_id, 'lottery.won',
			o.sale_id, o.item_id, i.name, o.quantity, o.total_amount, o.currency, o.status, o.expires_at, '', $3, 0
		FROM awarded a
			JOIN orders o ON o.order_id = a.order_id
			JOIN flash_sale_items i ON i.item_id = o.item_id
		ON CONFLICT DO NOTHING
		RETURNING notification_seq, occurred_at
	), deliveries AS (
		` + entryDeliveries(5) + `
	)
	SELECT count(*) > 0 FROM awarded`

// Award records the reservation made for a won or waitlisted entry with
// one conditional update, and its lottery.won in the same statement: of
// two awards of one entry, on any instances, one changes it. An entry
// that has an order is ErrAlreadyAwarded; an unknown entry is not_found;
// an entry neither won nor waitlisted (undrawn, lost) is refused with a
// plain error.
//
// The entry it explains a refusal with is read by a statement of its own,
// after the update, which sees the award the update waited for and lost
// to.
func (s *Store) Award(ctx context.Context, entryID, orderID string, at time.Time) error {
	var (
		changed         bool
		found           bool
		status, awarded string
	)
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(awardStatement, entryID, orderID, at, time.Now().UnixMilli(), s.channels).QueryRow(func(row pgx.Row) error {
			return row.Scan(&changed)
		})
		b.Queue(`SELECT status, order_id FROM lottery_entries WHERE entry_id = $1`, entryID).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&status, &awarded)
			found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
	}})
	switch {
	case err != nil:
		return fmt.Errorf("postgres: award entry %s: %w", entryID, err)
	case changed:
		return nil
	case !found:
		return flashsale.Errorf(flashsale.ENotFound, "entry %q not found", entryID)
	case awarded != "":
		return flashsale.ErrAlreadyAwarded
	}
	return fmt.Errorf("postgres: award entry %s: the entry is %s, neither won nor waitlisted", entryID, status)
}

// loseWaitlistedStatement makes every waitlisted entry of an item ($1)
// lost and writes a lottery.lost of each at $2, owed to the channels $4;
// it answers how many. $5 is the zero time, the reservation deadline of
// no order.
var loseWaitlistedStatement = `WITH lost AS (
		UPDATE lottery_entries SET status = 'lost'
		WHERE item_id = $1 AND status = 'waitlisted' AND order_id = ''
		RETURNING entry_id, user_id, sale_id, item_id, rank
	), notification AS (
		INSERT INTO notifications (` + entryNotificationColumns + `)
		SELECT ` + notificationIDSQL(3) + `, l.user_id, NULL, l.entry_id, 'lottery.lost',
			l.sale_id, l.item_id, i.name, 0, 0, '', '', $5, '', $2, 0
		FROM lost l JOIN flash_sale_items i ON i.item_id = l.item_id
		ORDER BY l.rank
		ON CONFLICT DO NOTHING
		RETURNING notification_seq, occurred_at
	), deliveries AS (
		` + entryDeliveries(4) + `
	)
	SELECT count(*) FROM lost`

// LoseWaitlisted makes every waitlisted entry of the item lost, with a
// lottery.lost of each, in one statement.
func (s *Store) LoseWaitlisted(ctx context.Context, itemID string, at time.Time) (int, error) {
	var lost int64
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(loseWaitlistedStatement, itemID, at, time.Now().UnixMilli(), s.channels, time.Time{}).QueryRow(func(row pgx.Row) error {
			return row.Scan(&lost)
		})
	}})
	if err != nil {
		return 0, fmt.Errorf("postgres: lose the waitlist of item %s: %w", itemID, err)
	}
	return int(lost), nil
}

func (s *Store) entries(ctx context.Context, where string, args ...any) ([]*flashsale.Entry, error) {
	rows, err := s.readers.Query(ctx, `SELECT `+entryColumns+` FROM lottery_entries `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*flashsale.Entry, error) { return scanEntry(row) })
}

const entryColumns = `entry_id, sale_id, item_id, user_id, entered_at, status, rank, order_id`

func scanEntry(row pgx.Row) (*flashsale.Entry, error) {
	var e flashsale.Entry
	if err := row.Scan(&e.ID, &e.SaleID, &e.ItemID, &e.UserID, &e.EnteredAt, &e.Status, &e.Rank, &e.OrderID); err != nil {
		return nil, err
	}
	return &e, nil
}

const drawColumns = `sale_id, item_id, entries_digest, entry_count, drawn_at`

// scanDraw scans drawColumns, then into more any columns after them.
func scanDraw(row pgx.Row, more ...any) (flashsale.ItemDraw, error) {
	var d flashsale.ItemDraw
	err := row.Scan(append([]any{&d.SaleID, &d.ItemID, &d.EntriesDigest, &d.EntryCount, &d.DrawnAt}, more...)...)
	return d, err
}

// SealEntries stores the item's seal in a transaction of its own that
// first takes the item's entry lock alone: it waits for every entry whose
// transaction holds the lock shared, so when the seal commits every entry
// that will ever be stored of the item is, and later entries see the seal.
func (s *Store) SealEntries(ctx context.Context, itemID string, at time.Time) error {
	tx, err := s.readers.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: seal the entries of item %s: %w", itemID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', true)
		WHERE current_setting('synchronous_commit') = 'off'`); err != nil {
		return fmt.Errorf("postgres: seal the entries of item %s: %w", itemID, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('entries/' || $1, 0))`, itemID); err != nil {
		return fmt.Errorf("postgres: seal the entries of item %s: %w", itemID, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO lottery_seals (item_id, sealed_at) VALUES ($1, $2)
		ON CONFLICT (item_id) DO NOTHING`, itemID, at); err != nil {
		return fmt.Errorf("postgres: seal the entries of item %s: %w", itemID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: seal the entries of item %s: %w: %w", itemID, flashsale.ErrWriteInDoubt, err)
	}
	return nil
}
