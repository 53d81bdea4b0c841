package flashsale

import (
	"context"
	"encoding/json"
	"time"
)

// AuditEntry is one admin action as the audit log keeps it: who (the
// admin token's sub), what (the route's action and the request's body),
// when, and the sale before and after, as the API showed them.
type AuditEntry struct {
	ID     string
	SaleID string
	Admin  string
	Action string
	At     time.Time
	// Request is the action's body; Before and After are the sale's view
	// before the action and the action's answer. Each is JSON, or empty.
	Request, Before, After json.RawMessage
}

// AuditLog keeps the admin actions, durably, and lists them per sale.
//
// Implementations: sqlite, postgres and memory, as part of their
// OrderStore. All pass storetest's audit scenario.
type AuditLog interface {
	// RecordAudit records e; recording an entry whose ID is recorded
	// changes nothing.
	RecordAudit(ctx context.Context, e AuditEntry) error
	// AuditEntries returns up to limit of a sale's entries, newest first.
	AuditEntries(ctx context.Context, saleID string, limit int) ([]AuditEntry, error)
}
