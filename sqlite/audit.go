package sqlite

import (
	"context"
	"fmt"

	"github.com/flashsale/flashsale"
)

var _ flashsale.AuditLog = (*Store)(nil)

// RecordAudit records an admin action; a repeat of its id changes nothing.
func (s *Store) RecordAudit(ctx context.Context, e flashsale.AuditEntry) error {
	return s.commits.do(ctx, func(ctx context.Context, conn *writeConn) error {
		_, err := conn.ExecContext(ctx, `INSERT INTO audit_log (audit_id, sale_id, admin, action, at, request, before, after)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (audit_id) DO NOTHING`,
			e.ID, e.SaleID, e.Admin, e.Action, micros(e.At), string(e.Request), string(e.Before), string(e.After))
		if err != nil {
			return fmt.Errorf("sqlite: record audit %s: %w", e.ID, err)
		}
		return nil
	})
}

// AuditEntries returns a sale's admin actions, newest first.
func (s *Store) AuditEntries(ctx context.Context, saleID string, limit int) ([]flashsale.AuditEntry, error) {
	rows, err := s.readers.QueryContext(ctx, `SELECT audit_id, sale_id, admin, action, at, request, before, after
		FROM audit_log WHERE sale_id = ? ORDER BY at DESC, audit_id DESC LIMIT ?`, saleID, max(limit, 0))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var entries []flashsale.AuditEntry
	for rows.Next() {
		var (
			e                      flashsale.AuditEntry
			at                     int64
			request, before, after string
		)
		if err := rows.Scan(&e.ID, &e.SaleID, &e.Admin, &e.Action, &at, &request, &before, &after); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		e.Request, e.Before, e.After = rawJSON(request), rawJSON(before), rawJSON(after)
		entries = append(entries, e)
	}
	return entries, rows.Err()
}

// rawJSON is stored JSON text as a value, nil when empty.
func rawJSON(text string) []byte {
	if text == "" {
		return nil
	}
	return []byte(text)
}
