package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flashsale/flashsale"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ flashsale.EntryStore = (*Store)(nil)

// Enter records the user's entry of an item unless the user has one, and
// returns the entry as stored (see flashsale.EntryStore). A new entry is
// entered, undrawn, whatever e says of its status, rank and order.
//
// Any conflict does nothing, not only the user's: a retry of an entry
// whose id is stored finds it the same way. The database has one writer,
// so the insert and the read after it see the same entry.
func (s *Store) Enter(ctx context.Context, e *flashsale.Entry) (*flashsale.Entry, bool, error) {
	var (
		stored  *flashsale.Entry
		created bool
	)
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		var sealed bool
		if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM lottery_seals WHERE item_id = ?)`, e.ItemID).Scan(&sealed); err != nil {
			return fmt.Errorf("sqlite: enter %s: %w", e.ID, err)
		}
		if sealed {
			// The database has one writer: after the seal's commit no new
			// entry is stored; the user's own comes back.
			var err error
			stored, err = scanEntry(conn.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM lottery_entries
				WHERE item_id = ? AND user_id = ?`, e.ItemID, e.UserID))
			if errors.Is(err, sql.ErrNoRows) {
				return flashsale.ErrEntriesSealed
			}
			return err
		}
		if e.Identities != (flashsale.Identities{}) {
			if err := entryWithinIdentityLimits(ctx, conn, e); err != nil {
				return err
			}
		}
		res, err := conn.ExecContext(ctx, `INSERT INTO lottery_entries
			(entry_id, sale_id, item_id, user_id, entered_at, status, rank, order_id, phone_key, address_key, card_key)
			VALUES (?, ?, ?, ?, ?, 'entered', 0, '', ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			e.ID, e.SaleID, e.ItemID, e.UserID, micros(e.EnteredAt), e.PhoneKey, e.AddressKey, e.CardKey)
		if constraintCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return itemNotInSale(e)
		}
		if err != nil {
			return fmt.Errorf("sqlite: enter %s: %w", e.ID, err)
		}
		inserted, err := res.RowsAffected()
		if err != nil {
			return err
		}
		created = inserted == 1 // the batch may run twice (see commit): the last run tells
		stored, err = scanEntry(conn.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM lottery_entries
			WHERE item_id = ? AND user_id = ?`, e.ItemID, e.UserID))
		if errors.Is(err, sql.ErrNoRows) {
			// The id is another user's entry: only a broken id generator
			// gets here.
			return fmt.Errorf("sqlite: enter %s: the entry id is taken", e.ID)
		}
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if stored.SaleID != e.SaleID {
		// The user's entry of the item is stored under the item's own
		// sale: e's item is not part of e's sale.
		return nil, false, itemNotInSale(e)
	}
	return stored, created, nil
}

// entryWithinIdentityLimits refuses a new entry whose phone, address or
// card holds its sale's limit already: each of the sale's entries that is
// not lost claims the units it may win, its item's per-user limit. The
// user's entry of the item, if stored, is no new entry: it passes.
func entryWithinIdentityLimits(ctx context.Context, conn *writeConn, e *flashsale.Entry) error {
	var (
		existed                       bool
		units                         sql.NullInt64
		perPhone, perAddress, perCard sql.NullInt64
		h                             flashsale.IdentityHolds
	)
	err := conn.QueryRowContext(ctx, entryHoldsQuery,
		e.ID, e.SaleID, e.ItemID, e.UserID, e.PhoneKey, e.AddressKey, e.CardKey).Scan(
		&existed, &units, &perPhone, &perAddress, &perCard, &h.PhoneHeld, &h.AddressHeld, &h.CardHeld)
	if err != nil {
		return fmt.Errorf("sqlite: count the identities of entry %s: %w", e.ID, err)
	}
	if existed || !units.Valid {
		return nil // a repeat, or an item the insert refuses
	}
	h.PerPhone, h.PerAddress, h.PerCard = perPhone.Int64, perAddress.Int64, perCard.Int64
	return flashsale.IdentityRefusal(e.Identities, units.Int64, h)
}

// entryHoldsQuery reads what entryWithinIdentityLimits compares: whether
// the user's entry (?1-?4) is stored, the item's per-user limit, the
// sale's limits and the units the sale's entries that have not lost hold
// under the phone (?5), the address (?6) and the card (?7). That each key
// is not empty is written out, though implied, for SQLite to use its
// partial index (TestIdentityCountsUseTheirIndexes): without it every
// entry of the sale was read at each new entry.
const entryHoldsQuery = `SELECT
			EXISTS (SELECT 1 FROM lottery_entries WHERE item_id = ?3 AND user_id = ?4),
			(SELECT per_user_limit FROM flash_sale_items WHERE item_id = ?3),
			(SELECT json_extract(limits, '$.per_phone') FROM flash_sales WHERE sale_id = ?2),
			(SELECT json_extract(limits, '$.per_address') FROM flash_sales WHERE sale_id = ?2),
			(SELECT json_extract(limits, '$.per_card') FROM flash_sales WHERE sale_id = ?2),
			(SELECT coalesce(sum(i.per_user_limit), 0) FROM lottery_entries l JOIN flash_sale_items i ON i.item_id = l.item_id
				WHERE ?5 <> '' AND l.sale_id = ?2 AND l.phone_key = ?5 AND l.phone_key <> '' AND l.status <> 'lost'),
			(SELECT coalesce(sum(i.per_user_limit), 0) FROM lottery_entries l JOIN flash_sale_items i ON i.item_id = l.item_id
				WHERE ?6 <> '' AND l.sale_id = ?2 AND l.address_key = ?6 AND l.address_key <> '' AND l.status <> 'lost'),
			(SELECT coalesce(sum(i.per_user_limit), 0) FROM lottery_entries l JOIN flash_sale_items i ON i.item_id = l.item_id
				WHERE ?7 <> '' AND l.sale_id = ?2 AND l.card_key = ?7 AND l.card_key <> '' AND l.status <> 'lost')`

func itemNotInSale(e *flashsale.Entry) error {
	return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", e.ItemID, e.SaleID)
}

// UserEntries returns the user's entries in a sale, oldest first.
func (s *Store) UserEntries(ctx context.Context, saleID, userID string) ([]*flashsale.Entry, error) {
	return s.entries(ctx, `WHERE sale_id = ? AND user_id = ? ORDER BY entered_at, entry_id`, saleID, userID)
}

// EntryIDs returns the ids of an item's entries in byte order, which is
// SQLite's BINARY collation, the column's.
func (s *Store) EntryIDs(ctx context.Context, itemID string) ([]string, error) {
	rows, err := s.readers.QueryContext(ctx, `SELECT entry_id FROM lottery_entries WHERE item_id = ? ORDER BY entry_id`, itemID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// entryNotificationColumns are the columns of notifications that the
// lottery's statements write. An entry's notification has no order but
// lottery.won's: the order's columns are zero then, as a refused
// request's are.
const entryNotificationColumns = `notification_id, user_id, order_id, entry_id, event, sale_id, item_id, item_name,
	quantity, amount, currency, status, expires_at, reason, occurred_at, waitlist_place`

// waitlistedNotifications writes a lottery.waitlisted of each waitlisted
// entry of an item (?5) among a draw step's entry ids (?6), in waitlist
// order, its place the rank less the winners (?2), at the draw's time
// (?4); ?3 is the zero time, the reservation deadline of no order. The
// step's ids drive the join (CROSS JOIN fixes SQLite's order): read from
// the waitlist's index instead, every step would walk the whole waitlist.
const waitlistedNotifications = `INSERT INTO notifications (` + entryNotificationColumns + `)
	SELECT ` + notificationIDSQL + `, e.user_id, NULL, e.entry_id, 'lottery.waitlisted', e.sale_id, e.item_id, i.name,
		0, 0, '', '', ?3, '', ?4, e.rank - ?2
	FROM json_each(?6) AS o
		CROSS JOIN lottery_entries e ON e.entry_id = o.value
		JOIN flash_sale_items i ON i.item_id = e.item_id
	WHERE e.item_id = ?5 AND e.status = 'waitlisted' AND e.order_id = ''
	ORDER BY e.rank
	ON CONFLICT DO NOTHING`

// RecordDraw stores an item's draw once, ranking its places a step of
// drawStep entries at a time, each step a write of its own and the
// waitlist's notifications with it (see flashsale.EntryStore).
//
// The steps take the places in entry order (flashsale.PlacesInEntryOrder):
// SQLite rewrites whole pages, and a step of a thousand shuffled entries
// rewrote a page of the entries for nearly each of them; a million-entry
// draw took 5 min 27 s, and takes 109 s in entry order. Only the item's
// own entries are ranked, so an id of another item's entry changes
// nothing.
func (s *Store) RecordDraw(ctx context.Context, d flashsale.ItemDraw, order []string, winners int) (flashsale.ItemDraw, error) {
	var places []flashsale.Place
	return flashsale.RecordDrawInSteps(d,
		func() (flashsale.ItemDraw, flashsale.DrawProgress, error) { return s.startDraw(ctx, d) },
		func(stored flashsale.ItemDraw, from int64) (flashsale.DrawProgress, error) {
			if places == nil {
				places = flashsale.PlacesInEntryOrder(order)
			}
			return s.stepDraw(ctx, stored, places, winners, from)
		})
}

// startDraw stores d unless the item has a draw, and returns the item's
// draw as stored, with its progress.
func (s *Store) startDraw(ctx context.Context, d flashsale.ItemDraw) (flashsale.ItemDraw, flashsale.DrawProgress, error) {
	var (
		stored   flashsale.ItemDraw
		progress flashsale.DrawProgress
	)
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		_, err := conn.ExecContext(ctx, `INSERT INTO lottery_draws (item_id, sale_id, entries_digest, entry_count, drawn_at, ranked_through, complete)
			VALUES (?, ?, ?, ?, ?, 0, 0)
			ON CONFLICT (item_id) DO NOTHING`,
			d.ItemID, d.SaleID, d.EntriesDigest, d.EntryCount, micros(d.DrawnAt))
		if constraintCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", d.ItemID, d.SaleID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: record draw of item %s: %w", d.ItemID, err)
		}
		stored, progress, err = drawOf(ctx, conn, d.ItemID)
		return err
	})
	if err != nil {
		return flashsale.ItemDraw{}, flashsale.DrawProgress{}, err
	}
	return stored, progress, nil
}

// drawOf reads an item's draw and its progress inside the committer's
// transaction.
func drawOf(ctx context.Context, conn *writeConn, itemID string) (flashsale.ItemDraw, flashsale.DrawProgress, error) {
	var progress flashsale.DrawProgress
	d, err := scanDraw(conn.QueryRowContext(ctx, `SELECT `+drawColumns+`, ranked_through, complete FROM lottery_draws WHERE item_id = ?`, itemID),
		&progress.Ranked, &progress.Complete)
	return d, progress, err
}

// stepDraw ranks the places after from, up to drawStep of them, and tells
// those it waitlisted, unless a step of another call got there first; it
// returns the draw's progress.
func (s *Store) stepDraw(ctx context.Context, d flashsale.ItemDraw, places []flashsale.Place, winners int, from int64) (flashsale.DrawProgress, error) {
	var progress flashsale.DrawProgress
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		var err error
		if _, progress, err = drawOf(ctx, conn, d.ItemID); err != nil || progress.Complete || progress.Ranked != from {
			return err
		}
		end := min(from+int64(s.drawStep), int64(len(places)))
		ids, err := rankPlaces(ctx, conn, d.ItemID, places[from:end], winners)
		if err != nil {
			return err
		}
		err = s.insertNotifications(ctx, conn, waitlistedNotifications,
			uuidV7Prefix(time.Now()), winners, micros(time.Time{}), micros(d.DrawnAt), d.ItemID, ids)
		if err != nil {
			return fmt.Errorf("sqlite: notify the waitlist of item %s: %w", d.ItemID, err)
		}
		progress = flashsale.DrawProgress{Ranked: end, Complete: end == int64(len(places))}
		_, err = conn.ExecContext(ctx, `UPDATE lottery_draws SET ranked_through = ?, complete = ? WHERE item_id = ?`,
			progress.Ranked, progress.Complete, d.ItemID)
		return err
	})
	if err != nil {
		return flashsale.DrawProgress{}, err
	}
	return progress, nil
}

// rankPlaces gives the item's entries among places their rank, and the
// status it makes them: won up to winners, waitlisted after. It returns
// the places' ids as the JSON array it joined against.
func rankPlaces(ctx context.Context, conn *writeConn, itemID string, places []flashsale.Place, winners int) (string, error) {
	ids, ranks := make([]string, len(places)), make([]int64, len(places))
	for i, p := range places {
		ids[i], ranks[i] = p.EntryID, p.Rank
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return "", err
	}
	ranksJSON, err := json.Marshal(ranks)
	if err != nil {
		return "", err
	}
	// The ids join as plain values, which the planner probes the entries'
	// key with; each id's rank is the same index of the ranks (json_each's
	// key, from 0), from one parse of them.
	if _, err := conn.ExecContext(ctx, `UPDATE lottery_entries SET
			rank = ?2 ->> o.key,
			status = CASE WHEN ?2 ->> o.key <= ?1 THEN 'won' ELSE 'waitlisted' END
		FROM json_each(?3) AS o
		WHERE lottery_entries.entry_id = o.value AND +lottery_entries.item_id = ?4`,
		winners, string(ranksJSON), string(idsJSON), itemID); err != nil {
		return "", fmt.Errorf("sqlite: rank the entries of item %s: %w", itemID, err)
	}
	return string(idsJSON), nil
}

// ItemDraws returns the sale's complete draws.
func (s *Store) ItemDraws(ctx context.Context, saleID string) ([]flashsale.ItemDraw, error) {
	rows, err := s.readers.QueryContext(ctx, `SELECT `+drawColumns+` FROM lottery_draws WHERE sale_id = ? AND complete ORDER BY item_id`, saleID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var draws []flashsale.ItemDraw
	for rows.Next() {
		d, err := scanDraw(rows)
		if err != nil {
			return nil, err
		}
		draws = append(draws, d)
	}
	return draws, rows.Err()
}

// NextToReserve returns up to limit entries of the item owed a
// reservation: the won ones without one, then the waitlisted, each by
// rank. Each part is read in its index's order and cut to limit before
// the two are put together, so a long waitlist is not sorted whole.
func (s *Store) NextToReserve(ctx context.Context, itemID string, limit int) ([]*flashsale.Entry, error) {
	limit = max(limit, 0)
	// The statuses and order_id = '' are literals so that SQLite can use
	// the partial index.
	return s.entries(ctx, `WHERE entry_id IN (
			SELECT entry_id FROM (SELECT entry_id FROM lottery_entries
				WHERE item_id = ?1 AND status = 'won' AND order_id = '' ORDER BY rank LIMIT ?2)
			UNION ALL
			SELECT entry_id FROM (SELECT entry_id FROM lottery_entries
				WHERE item_id = ?1 AND status = 'waitlisted' AND order_id = '' ORDER BY rank LIMIT ?2))
		ORDER BY status = 'waitlisted', rank
		LIMIT ?2`, itemID, limit)
}

// wonNotification writes the lottery.won of an entry (?3) at ?2, with
// its order as it is. An order the store does not hold tells nobody, as
// a notification's order must exist (see flashsale.EntryStore's Award).
const wonNotification = `INSERT INTO notifications (` + entryNotificationColumns + `)
	SELECT ` + notificationIDSQL + `, e.user_id, o.order_id, e.entry_id, 'lottery.won', o.sale_id, o.item_id, i.name,
		o.quantity, o.total_amount, o.currency, o.status, o.expires_at, '', ?2, 0
	FROM lottery_entries e
		JOIN orders o ON o.order_id = e.order_id
		JOIN flash_sale_items i ON i.item_id = o.item_id
	WHERE e.entry_id = ?3
	ON CONFLICT DO NOTHING`

// Award records the reservation made for a won or waitlisted entry with
// one conditional update, and its lottery.won with it. An entry that has
// an order is ErrAlreadyAwarded; an unknown entry is not_found; an entry
// neither won nor waitlisted (undrawn, lost) is refused with a plain
// error.
func (s *Store) Award(ctx context.Context, entryID, orderID string, at time.Time) error {
	return s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		res, err := conn.ExecContext(ctx, `UPDATE lottery_entries SET status = 'won', order_id = ?
			WHERE entry_id = ? AND order_id = '' AND status IN ('won', 'waitlisted')`, orderID, entryID)
		if err != nil {
			return fmt.Errorf("sqlite: award entry %s: %w", entryID, err)
		}
		if changed, err := res.RowsAffected(); err != nil {
			return err
		} else if changed == 1 {
			err := s.insertNotifications(ctx, conn, wonNotification, uuidV7Prefix(time.Now()), micros(at), entryID)
			if err != nil {
				return fmt.Errorf("sqlite: notify the award of entry %s: %w", entryID, err)
			}
			return nil
		}
		var status, awarded string
		err = conn.QueryRowContext(ctx, `SELECT status, order_id FROM lottery_entries WHERE entry_id = ?`, entryID).
			Scan(&status, &awarded)
		return awardRefusal(entryID, status, awarded, err)
	})
}

// awardRefusal says why an Award changed nothing, from the entry as it is
// (err: from reading it).
func awardRefusal(entryID, status, orderID string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return flashsale.Errorf(flashsale.ENotFound, "entry %q not found", entryID)
	case err != nil:
		return fmt.Errorf("sqlite: award entry %s: %w", entryID, err)
	case orderID != "":
		return flashsale.ErrAlreadyAwarded
	}
	return fmt.Errorf("sqlite: award entry %s: the entry is %s, neither won nor waitlisted", entryID, status)
}

// lostNotifications writes a lottery.lost of each waitlisted entry of an
// item (?4) at ?3; ?2 is the zero time, the reservation deadline of no
// order.
const lostNotifications = `INSERT INTO notifications (` + entryNotificationColumns + `)
	SELECT ` + notificationIDSQL + `, e.user_id, NULL, e.entry_id, 'lottery.lost', e.sale_id, e.item_id, i.name,
		0, 0, '', '', ?2, '', ?3, 0
	FROM lottery_entries e JOIN flash_sale_items i ON i.item_id = e.item_id
	WHERE e.item_id = ?4 AND e.status = 'waitlisted' AND e.order_id = ''
	ORDER BY e.rank
	ON CONFLICT DO NOTHING`

// LoseWaitlisted makes every waitlisted entry of the item lost, with a
// lottery.lost of each. The notifications are written first, of the
// entries the update then changes: the committer is the only writer, so
// nothing changes them in between.
func (s *Store) LoseWaitlisted(ctx context.Context, itemID string, at time.Time) (int, error) {
	var lost int64
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		err := s.insertNotifications(ctx, conn, lostNotifications, uuidV7Prefix(time.Now()), micros(time.Time{}), micros(at), itemID)
		if err != nil {
			return fmt.Errorf("sqlite: notify the loss of the waitlist of item %s: %w", itemID, err)
		}
		res, err := conn.ExecContext(ctx, `UPDATE lottery_entries SET status = 'lost'
			WHERE item_id = ? AND status = 'waitlisted' AND order_id = ''`, itemID)
		if err != nil {
			return fmt.Errorf("sqlite: lose the waitlist of item %s: %w", itemID, err)
		}
		lost, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(lost), nil
}

func (s *Store) entries(ctx context.Context, where string, args ...any) ([]*flashsale.Entry, error) {
	rows, err := s.readers.QueryContext(ctx, `SELECT `+entryColumns+` FROM lottery_entries `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []*flashsale.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

const entryColumns = `entry_id, sale_id, item_id, user_id, entered_at, status, rank, order_id`

func scanEntry(row interface{ Scan(...any) error }) (*flashsale.Entry, error) {
	var (
		e         flashsale.Entry
		enteredAt int64
	)
	if err := row.Scan(&e.ID, &e.SaleID, &e.ItemID, &e.UserID, &enteredAt, &e.Status, &e.Rank, &e.OrderID); err != nil {
		return nil, err
	}
	e.EnteredAt = fromMicros(enteredAt)
	return &e, nil
}

const drawColumns = `sale_id, item_id, entries_digest, entry_count, drawn_at`

// scanDraw scans drawColumns, then into more any columns after them.
func scanDraw(row interface{ Scan(...any) error }, more ...any) (flashsale.ItemDraw, error) {
	var (
		d       flashsale.ItemDraw
		drawnAt int64
	)
	if err := row.Scan(append([]any{&d.SaleID, &d.ItemID, &d.EntriesDigest, &d.EntryCount, &drawnAt}, more...)...); err != nil {
		return flashsale.ItemDraw{}, err
	}
	d.DrawnAt = fromMicros(drawnAt)
	return d, nil
}

// SealEntries stores the item's seal; the writer stores no entry of the
// item after it (see Enter).
func (s *Store) SealEntries(ctx context.Context, itemID string, at time.Time) error {
	return s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		if _, err := conn.ExecContext(ctx, `INSERT INTO lottery_seals (item_id, sealed_at) VALUES (?, ?)
			ON CONFLICT (item_id) DO NOTHING`, itemID, micros(at)); err != nil {
			return fmt.Errorf("sqlite: seal the entries of item %s: %w", itemID, err)
		}
		return nil
	})
}
