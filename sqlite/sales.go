package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/flashsale/flashsale"
)

// CreateSale stores a sale with its items, all or nothing. The items'
// SaleID is the sale's.
func (s *Store) CreateSale(ctx context.Context, sale *flashsale.Sale) error {
	fairness, err := flashsale.EncodeFairness(sale)
	if err != nil {
		return fmt.Errorf("sqlite: create sale %s: %w", sale.ID, err)
	}
	return s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		_, err := conn.ExecContext(ctx, `INSERT INTO flash_sales
			(sale_id, name, start_time, end_time, mode, admission, reservation_ttl, created_at, waiting_room, queue_seed, challenge, limits, lottery, lottery_seed)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sale.ID, sale.Name, micros(sale.StartTime), micros(sale.EndTime),
			string(sale.Mode), string(sale.Admission), sale.ReservationTTL.Microseconds(), micros(sale.CreatedAt),
			fairness.WaitingRoom, fairness.QueueSeed, fairness.Challenge, fairness.Limits,
			fairness.Lottery, fairness.LotterySeed)
		if err != nil {
			return fmt.Errorf("sqlite: create sale %s: %w", sale.ID, err)
		}
		for position, it := range sale.Items {
			_, err := conn.ExecContext(ctx, `INSERT INTO flash_sale_items
				(item_id, sale_id, position, product_id, name, original_price, sale_price,
				 currency, total_quantity, per_user_limit)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				it.ID, sale.ID, position, it.ProductID, it.Name, int64(it.OriginalPrice), int64(it.SalePrice),
				it.Currency, it.TotalQuantity, it.PerUserLimit)
			if err != nil {
				return fmt.Errorf("sqlite: create item %s of sale %s: %w", it.ID, sale.ID, err)
			}
		}
		return nil
	})
}

// UpdateSale applies an operator's change in one write: the database has
// one writer, so the check that the sale has not ended and the change are
// one step.
func (s *Store) UpdateSale(ctx context.Context, c flashsale.SaleChange) (*flashsale.Sale, error) {
	err := s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		var end int64
		err := conn.QueryRowContext(ctx, `SELECT end_time FROM flash_sales WHERE sale_id = ?`, c.SaleID).Scan(&end)
		if errors.Is(err, sql.ErrNoRows) {
			return flashsale.Errorf(flashsale.ESaleNotFound, "sale %q not found", c.SaleID)
		}
		if err != nil {
			return fmt.Errorf("sqlite: update sale %s: %w", c.SaleID, err)
		}
		if !c.At.Before(fromMicros(end)) {
			return flashsale.ChangeOfEndedSale()
		}
		if c.Paused != nil {
			if _, err := conn.ExecContext(ctx, `UPDATE flash_sales SET paused = ? WHERE sale_id = ?`, *c.Paused, c.SaleID); err != nil {
				return fmt.Errorf("sqlite: update sale %s: %w", c.SaleID, err)
			}
		}
		if c.EndTime != nil {
			if _, err := conn.ExecContext(ctx, `UPDATE flash_sales SET end_time = ? WHERE sale_id = ?`, micros(*c.EndTime), c.SaleID); err != nil {
				return fmt.Errorf("sqlite: update sale %s: %w", c.SaleID, err)
			}
		}
		for itemID, add := range c.Restock {
			res, err := conn.ExecContext(ctx, `UPDATE flash_sale_items SET total_quantity = total_quantity + ?
				WHERE item_id = ? AND sale_id = ?`, add, itemID, c.SaleID)
			if err != nil {
				return fmt.Errorf("sqlite: restock item %s: %w", itemID, err)
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", itemID, c.SaleID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Sale(ctx, c.SaleID)
}

// Sale returns a sale with its items (sale_not_found).
func (s *Store) Sale(ctx context.Context, id string) (*flashsale.Sale, error) {
	var sale *flashsale.Sale
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		sale, err = scanSale(tx.QueryRowContext(ctx, `SELECT `+saleColumns+` FROM flash_sales WHERE sale_id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return flashsale.Errorf(flashsale.ESaleNotFound, "sale %q not found", id)
		}
		if err != nil {
			return err
		}
		items, err := saleItems(ctx, tx, `WHERE sale_id = ?`, id)
		sale.Items = items[id]
		return err
	})
	if err != nil {
		return nil, err
	}
	return sale, nil
}

// Sales returns every sale, earliest start first.
func (s *Store) Sales(ctx context.Context) ([]*flashsale.Sale, error) {
	var sales []*flashsale.Sale
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+saleColumns+` FROM flash_sales ORDER BY start_time, sale_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			sale, err := scanSale(rows)
			if err != nil {
				return err
			}
			sales = append(sales, sale)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		items, err := saleItems(ctx, tx, ``)
		if err != nil {
			return err
		}
		for _, sale := range sales {
			sale.Items = items[sale.ID]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sales, nil
}

// read runs queries that must agree with each other in one read
// transaction, a snapshot of the database.
func (s *Store) read(ctx context.Context, queries func(tx *sql.Tx) error) error {
	tx, err := s.readers.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return queries(tx)
}

const saleColumns = `sale_id, name, start_time, end_time, mode, admission, reservation_ttl, created_at, waiting_room, queue_seed, challenge, limits, lottery, lottery_seed, paused`

func scanSale(row interface{ Scan(...any) error }) (*flashsale.Sale, error) {
	var (
		sale                       flashsale.Sale
		start, end, ttl, createdAt int64
		fairness                   flashsale.StoredFairness
	)
	err := row.Scan(&sale.ID, &sale.Name, &start, &end, &sale.Mode, &sale.Admission, &ttl, &createdAt,
		&fairness.WaitingRoom, &fairness.QueueSeed, &fairness.Challenge, &fairness.Limits,
		&fairness.Lottery, &fairness.LotterySeed, &sale.Paused)
	if err != nil {
		return nil, err
	}
	if err := fairness.Decode(&sale); err != nil {
		return nil, err
	}
	sale.StartTime, sale.EndTime = fromMicros(start), fromMicros(end)
	sale.ReservationTTL = time.Duration(ttl) * time.Microsecond
	sale.CreatedAt = fromMicros(createdAt)
	return &sale, nil
}

// saleItems returns the items that match where, by sale, in each sale's
// order.
func saleItems(ctx context.Context, tx *sql.Tx, where string, args ...any) (map[string][]flashsale.Item, error) {
	rows, err := tx.QueryContext(ctx, `SELECT item_id, sale_id, product_id, name, original_price, sale_price,
		currency, total_quantity, per_user_limit
		FROM flash_sale_items `+where+` ORDER BY sale_id, position`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := make(map[string][]flashsale.Item)
	for rows.Next() {
		var it flashsale.Item
		err := rows.Scan(&it.ID, &it.SaleID, &it.ProductID, &it.Name, &it.OriginalPrice, &it.SalePrice,
			&it.Currency, &it.TotalQuantity, &it.PerUserLimit)
		if err != nil {
			return nil, err
		}
		items[it.SaleID] = append(items[it.SaleID], it)
	}
	return items, rows.Err()
}
