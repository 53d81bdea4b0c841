package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale"
)

// CreateSale stores a sale with its items, all or nothing: its statements
// share a savepoint. The items' SaleID is the sale's.
func (s *Store) CreateSale(ctx context.Context, sale *flashsale.Sale) error {
	fairness, err := flashsale.EncodeFairness(sale)
	if err != nil {
		return fmt.Errorf("postgres: create sale %s: %w", sale.ID, err)
	}
	err = s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(`INSERT INTO flash_sales
			(sale_id, name, start_time, end_time, mode, admission, reservation_ttl, created_at, waiting_room, queue_seed, challenge, limits, lottery, lottery_seed)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			sale.ID, sale.Name, sale.StartTime, sale.EndTime,
			string(sale.Mode), string(sale.Admission), sale.ReservationTTL, sale.CreatedAt,
			fairness.WaitingRoom, fairness.QueueSeed, fairness.Challenge, fairness.Limits,
			fairness.Lottery, fairness.LotterySeed)
		for position, it := range sale.Items {
			b.Queue(`INSERT INTO flash_sale_items
				(item_id, sale_id, position, product_id, name, original_price, sale_price,
				 currency, total_quantity, per_user_limit)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				it.ID, sale.ID, position, it.ProductID, it.Name, int64(it.OriginalPrice), int64(it.SalePrice),
				it.Currency, it.TotalQuantity, it.PerUserLimit)
		}
	}})
	if err != nil {
		return fmt.Errorf("postgres: create sale %s: %w", sale.ID, err)
	}
	return nil
}

// Sale returns a sale with its items (sale_not_found).
func (s *Store) Sale(ctx context.Context, id string) (*flashsale.Sale, error) {
	sale, err := scanSale(s.readers.QueryRow(ctx, `SELECT `+saleColumns+` FROM flash_sales WHERE sale_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, flashsale.Errorf(flashsale.ESaleNotFound, "sale %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	// A sale's items are written with it; only a restock changes their
	// totals, and a total read a moment later than the sale is as good.
	items, err := s.saleItems(ctx, `WHERE sale_id = $1`, id)
	if err != nil {
		return nil, err
	}
	sale.Items = items[id]
	return sale, nil
}

// UpdateSale applies an operator's change in a transaction of its own, not
// through the committers: a rare write whose steps depend on what the
// first reads (the sale's end, locked until the commit).
func (s *Store) UpdateSale(ctx context.Context, c flashsale.SaleChange) (*flashsale.Sale, error) {
	if err := s.updateSale(ctx, c); err != nil {
		return nil, err
	}
	return s.Sale(ctx, c.SaleID)
}

func (s *Store) updateSale(ctx context.Context, c flashsale.SaleChange) error {
	tx, err := s.readers.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: update sale %s: %w", c.SaleID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The read pool's connections may not wait for the WAL flush; an
	// operator's change must (see recordDraw).
	if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', true)
		WHERE current_setting('synchronous_commit') = 'off'`); err != nil {
		return fmt.Errorf("postgres: update sale %s: %w", c.SaleID, err)
	}
	var end time.Time
	err = tx.QueryRow(ctx, `SELECT end_time FROM flash_sales WHERE sale_id = $1 FOR UPDATE`, c.SaleID).Scan(&end)
	if errors.Is(err, pgx.ErrNoRows) {
		return flashsale.Errorf(flashsale.ESaleNotFound, "sale %q not found", c.SaleID)
	}
	if err != nil {
		return fmt.Errorf("postgres: update sale %s: %w", c.SaleID, err)
	}
	if !c.At.Before(end) {
		return flashsale.ChangeOfEndedSale()
	}
	if _, err := tx.Exec(ctx, `UPDATE flash_sales SET paused = coalesce($2, paused), end_time = coalesce($3, end_time)
		WHERE sale_id = $1`, c.SaleID, c.Paused, c.EndTime); err != nil {
		return fmt.Errorf("postgres: update sale %s: %w", c.SaleID, err)
	}
	for itemID, add := range c.Restock {
		tag, err := tx.Exec(ctx, `UPDATE flash_sale_items SET total_quantity = total_quantity + $3
			WHERE item_id = $1 AND sale_id = $2`, itemID, c.SaleID, add)
		if err != nil {
			return fmt.Errorf("postgres: restock item %s: %w", itemID, err)
		}
		if tag.RowsAffected() == 0 {
			return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", itemID, c.SaleID)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: update sale %s: %w: %w", c.SaleID, flashsale.ErrWriteInDoubt, err)
	}
	return nil
}

// Sales returns every sale, earliest start first.
func (s *Store) Sales(ctx context.Context) ([]*flashsale.Sale, error) {
	rows, err := s.readers.Query(ctx, `SELECT `+saleColumns+` FROM flash_sales ORDER BY start_time, sale_id`)
	if err != nil {
		return nil, err
	}
	sales, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*flashsale.Sale, error) { return scanSale(row) })
	if err != nil {
		return nil, err
	}
	// Every sale listed was committed with its items, so this later read
	// finds them all; the items of a sale created in between are read
	// and left out.
	items, err := s.saleItems(ctx, ``)
	if err != nil {
		return nil, err
	}
	for _, sale := range sales {
		sale.Items = items[sale.ID]
	}
	return sales, nil
}

const saleColumns = `sale_id, name, start_time, end_time, mode, admission, reservation_ttl, created_at, waiting_room, queue_seed, challenge, limits, lottery, lottery_seed, paused`

func scanSale(row pgx.Row) (*flashsale.Sale, error) {
	var sale flashsale.Sale
	var fairness flashsale.StoredFairness
	err := row.Scan(&sale.ID, &sale.Name, &sale.StartTime, &sale.EndTime, &sale.Mode, &sale.Admission,
		&sale.ReservationTTL, &sale.CreatedAt, &fairness.WaitingRoom, &fairness.QueueSeed, &fairness.Challenge, &fairness.Limits,
		&fairness.Lottery, &fairness.LotterySeed, &sale.Paused)
	if err != nil {
		return nil, err
	}
	if err := fairness.Decode(&sale); err != nil {
		return nil, err
	}
	return &sale, nil
}

// saleItems returns the items that match where, by sale, in each sale's
// order.
func (s *Store) saleItems(ctx context.Context, where string, args ...any) (map[string][]flashsale.Item, error) {
	rows, err := s.readers.Query(ctx, `SELECT item_id, sale_id, product_id, name, original_price, sale_price,
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
