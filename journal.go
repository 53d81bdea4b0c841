package flashsale

import "context"

// OrderJournal is the other way to acknowledge a reservation durably: the
// inventory writes the new order into a journal of its own in the same
// atomic step as the reservation, and acknowledges once that journal is on
// disk, before the order store has the order. A persister moves journaled
// orders into the store moments later. Redis implements it with a stream per
// item and WAITAOF (package redis); docs/BENCHMARKS.md compares it with
// acknowledging after the store's group commit.
type OrderJournal interface {
	JournalDrain
	// ReserveJournaled is Inventory.Reserve that also journals order when
	// the reservation is new; order must describe exactly that reservation.
	// It returns once the journal entry is durable, or ErrWriteInDoubt
	// (wrapped) when the reservation was made but its durability could not
	// be confirmed in time.
	ReserveJournaled(ctx context.Context, req ReserveRequest, order *Order) (Reservation, error)
}

// JournalDrain moves journaled orders into the store. While an order is
// only in the journal the store does not know it, so a reader that finds no
// order, or is about to take a reservation without one for an orphan, asks
// the drain to Persist and looks again. Every reader of a deployment that
// journals, or ever did, needs it, whichever way it acknowledges itself.
type JournalDrain interface {
	// Persist writes into the store every order journaled before the call.
	// It returns nil only when all of them are in the store.
	Persist(ctx context.Context) error
}
