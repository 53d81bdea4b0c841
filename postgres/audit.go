package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/flashsale/flashsale"
)

var _ flashsale.AuditLog = (*Store)(nil)

// RecordAudit records an admin action; a repeat of its id changes nothing.
func (s *Store) RecordAudit(ctx context.Context, e flashsale.AuditEntry) error {
	err := s.commits.do(ctx, &write{queue: func(b *pgx.Batch) {
		b.Queue(`INSERT INTO audit_log (audit_id, sale_id, admin, action, at, request, before, after)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (audit_id) DO NOTHING`,
			e.ID, e.SaleID, e.Admin, e.Action, e.At, string(e.Request), string(e.Before), string(e.After))
	}})
	if err != nil {
		return fmt.Errorf("postgres: record audit %s: %w", e.ID, err)
	}
	return nil
}

// AuditEntries returns a sale's admin actions, newest first.
func (s *Store) AuditEntries(ctx context.Context, saleID string, limit int) ([]flashsale.AuditEntry, error) {
	rows, err := s.readers.Query(ctx, `SELECT audit_id, sale_id, admin, action, at, request, before, after
		FROM audit_log WHERE sale_id = $1 ORDER BY at DESC, audit_id DESC LIMIT $2`, saleID, max(limit, 0))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (flashsale.AuditEntry, error) {
		var (
			e                      flashsale.AuditEntry
			request, before, after string
		)
		err := row.Scan(&e.ID, &e.SaleID, &e.Admin, &e.Action, &e.At, &request, &before, &after)
		e.At = e.At.UTC()
		e.Request, e.Before, e.After = rawJSON(request), rawJSON(before), rawJSON(after)
		return e, err
	})
}

// rawJSON is stored JSON text as a value, nil when empty.
func rawJSON(text string) []byte {
	if text == "" {
		return nil
	}
	return []byte(text)
}
