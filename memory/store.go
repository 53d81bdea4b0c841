package memory

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// Store is an in-process flashsale.OrderStore: every sale, order and
// payment in maps behind one lock, lost with the process. It is the
// stores' behaviour without their I/O, for what must run thousands of
// times a second (the deterministic simulation of the purchase flow), and
// it passes storetest.Run like the durable ones.
//
// It keeps no notification outbox, and no lottery entries.
type Store struct {
	data *storeData
	// closed is this handle's: a reopened store (Reopen) shares the data,
	// as a restarted process shares the database.
	closed bool
	mu     sync.Mutex // guards closed
}

// storeData is what outlives a handle.
type storeData struct {
	mu       sync.Mutex
	sales    map[string]*flashsale.Sale
	items    map[string]*flashsale.Item // item id -> item, as stored
	orders   map[string]*flashsale.Order
	payments map[string][]flashsale.Payment // order id -> attempts, oldest first
	// keys are the users' idempotency keys: user id, key -> order id.
	keys map[[2]string]string
	// audit are the admin actions, in the order they were recorded.
	audit []flashsale.AuditEntry
}

var (
	_ flashsale.OrderStore = (*Store)(nil)
	_ flashsale.AuditLog   = (*Store)(nil)
)

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{data: &storeData{
		sales: map[string]*flashsale.Sale{}, items: map[string]*flashsale.Item{},
		orders: map[string]*flashsale.Order{}, payments: map[string][]flashsale.Payment{},
		keys: map[[2]string]string{},
	}}
}

// Reopen returns a new handle on the data of s, as a process restarted on
// the same database would get: s may be closed.
func (s *Store) Reopen() *Store { return &Store{data: s.data} }

var errClosed = errors.New("memory: the store is closed")

// lock takes the data's lock unless the handle is closed or ctx is done:
// a call whose context ended before it began writes nothing, as a
// database's would.
func (s *Store) lock(ctx context.Context) (*storeData, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	s.data.mu.Lock()
	return s.data, nil
}

// stored is t as every store keeps it: microseconds, UTC.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

func storedOrder(o *flashsale.Order) *flashsale.Order {
	c := *o
	c.ReservedAt, c.ExpiresAt, c.ConfirmedAt, c.UpdatedAt = stored(o.ReservedAt), stored(o.ExpiresAt), stored(o.ConfirmedAt), stored(o.UpdatedAt)
	return &c
}

func copyOrder(o *flashsale.Order) *flashsale.Order {
	c := *o
	return &c
}

// copySale is a deep copy: a caller may change what it is given.
func copySale(sale *flashsale.Sale) *flashsale.Sale {
	c := *sale
	c.Items = slices.Clone(sale.Items)
	if sale.WaitingRoom != nil {
		w := *sale.WaitingRoom
		c.WaitingRoom = &w
	}
	if sale.Challenge != nil {
		ch := *sale.Challenge
		c.Challenge = &ch
	}
	if sale.Limits != nil {
		l := *sale.Limits
		c.Limits = &l
	}
	if sale.Lottery != nil {
		l := *sale.Lottery
		c.Lottery = &l
	}
	return &c
}

// CreateSale stores a sale with its items, all or nothing.
func (s *Store) CreateSale(ctx context.Context, sale *flashsale.Sale) error {
	d, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, ok := d.sales[sale.ID]; ok {
		return errors.New("memory: sale " + sale.ID + " exists")
	}
	seen := make(map[string]bool, len(sale.Items))
	for _, it := range sale.Items {
		if _, ok := d.items[it.ID]; ok || seen[it.ID] {
			return errors.New("memory: item " + it.ID + " exists")
		}
		seen[it.ID] = true
	}
	c := copySale(sale)
	c.StartTime, c.EndTime, c.CreatedAt = stored(c.StartTime), stored(c.EndTime), stored(c.CreatedAt)
	c.ReservationTTL = c.ReservationTTL.Truncate(time.Microsecond)
	if c.Lottery != nil {
		c.Lottery.EntriesOpen, c.Lottery.EntriesClose = stored(c.Lottery.EntriesOpen), stored(c.Lottery.EntriesClose)
	}
	for i := range c.Items {
		c.Items[i].SaleID = c.ID
		d.items[c.Items[i].ID] = &c.Items[i]
	}
	d.sales[c.ID] = c
	return nil
}

// Sale returns a sale with its items (sale_not_found).
func (s *Store) Sale(ctx context.Context, id string) (*flashsale.Sale, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	sale, ok := d.sales[id]
	if !ok {
		return nil, flashsale.Errorf(flashsale.ESaleNotFound, "sale %q not found", id)
	}
	return copySale(sale), nil
}

// Sales returns every sale, earliest start first.
func (s *Store) Sales(ctx context.Context) ([]*flashsale.Sale, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	sales := make([]*flashsale.Sale, 0, len(d.sales))
	for _, sale := range d.sales {
		sales = append(sales, copySale(sale))
	}
	slices.SortFunc(sales, func(a, b *flashsale.Sale) int {
		return cmp.Or(a.StartTime.Compare(b.StartTime), cmp.Compare(a.ID, b.ID))
	})
	return sales, nil
}

// UpdateSale applies an operator's change under the lock.
func (s *Store) UpdateSale(ctx context.Context, c flashsale.SaleChange) (*flashsale.Sale, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	sale, ok := d.sales[c.SaleID]
	if !ok {
		return nil, flashsale.Errorf(flashsale.ESaleNotFound, "sale %q not found", c.SaleID)
	}
	if !c.At.Before(sale.EndTime) {
		return nil, flashsale.ChangeOfEndedSale()
	}
	for itemID := range c.Restock {
		if it, ok := d.items[itemID]; !ok || it.SaleID != c.SaleID {
			return nil, flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", itemID, c.SaleID)
		}
	}
	if c.Paused != nil {
		sale.Paused = *c.Paused
	}
	if c.EndTime != nil {
		sale.EndTime = stored(*c.EndTime)
	}
	for itemID, add := range c.Restock {
		d.items[itemID].TotalQuantity += add
	}
	return copySale(sale), nil
}

// CreateOrder records a new order; an order whose ID is stored is a retry
// and succeeds without change. An order counted under a phone or an
// address is held to its sale's limits first.
func (s *Store) CreateOrder(ctx context.Context, o *flashsale.Order) error {
	d, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if _, ok := d.orders[o.ID]; ok {
		return nil
	}
	if err := d.insertable(o); err != nil {
		return err
	}
	if o.Identities != (flashsale.Identities{}) {
		var limits flashsale.PurchaseLimits
		if l := d.sales[o.SaleID].Limits; l != nil {
			limits = *l
		}
		phone, address := d.heldUnder(o)
		if err := flashsale.IdentityRefusal(o.Identities, o.Quantity, flashsale.IdentityHolds{
			PerPhone: limits.PerPhone, PhoneHeld: phone, PerAddress: limits.PerAddress, AddressHeld: address}); err != nil {
			return err
		}
	}
	d.insert(o)
	return nil
}

// insertable refuses an order of an item not in its sale, or with a key
// the user gave another order.
func (d *storeData) insertable(o *flashsale.Order) error {
	if it, ok := d.items[o.ItemID]; !ok || it.SaleID != o.SaleID {
		return flashsale.Errorf(flashsale.EItemNotFound, "item %q is not part of sale %q", o.ItemID, o.SaleID)
	}
	if o.IdempotencyKey != "" {
		if _, taken := d.keys[[2]string{o.UserID, o.IdempotencyKey}]; taken {
			return flashsale.Errorf(flashsale.EIdempotencyKeyReused, "the Idempotency-Key was used for another order")
		}
	}
	return nil
}

func (d *storeData) insert(o *flashsale.Order) {
	c := storedOrder(o)
	d.orders[c.ID] = c
	if c.IdempotencyKey != "" {
		d.keys[[2]string{c.UserID, c.IdempotencyKey}] = c.ID
	}
}

// heldUnder is the units the sale's other reserved, paying and confirmed
// orders hold under o's phone and o's address.
func (d *storeData) heldUnder(o *flashsale.Order) (phone, address int64) {
	for _, other := range d.orders {
		if other.ID == o.ID || other.SaleID != o.SaleID || !other.Status.HoldsStock() {
			continue
		}
		if o.PhoneKey != "" && other.PhoneKey == o.PhoneKey {
			phone += other.Quantity
		}
		if o.AddressKey != "" && other.AddressKey == o.AddressKey {
			address += other.Quantity
		}
	}
	return phone, address
}

// AbandonOrder records o unless an order with its ID exists, and returns
// the order as stored.
func (s *Store) AbandonOrder(ctx context.Context, o *flashsale.Order) (*flashsale.Order, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if existing, ok := d.orders[o.ID]; ok {
		return copyOrder(existing), nil
	}
	if err := d.insertable(o); err != nil {
		return nil, err
	}
	d.insert(o)
	return copyOrder(d.orders[o.ID]), nil
}

// Order returns an order (order_not_found).
func (s *Store) Order(ctx context.Context, id string) (*flashsale.Order, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	o, ok := d.orders[id]
	if !ok {
		return nil, flashsale.Errorf(flashsale.EOrderNotFound, "order %q not found", id)
	}
	return copyOrder(o), nil
}

// OrderByIdempotencyKey returns the user's order created with the key.
func (s *Store) OrderByIdempotencyKey(ctx context.Context, userID, key string) (*flashsale.Order, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	id, ok := d.keys[[2]string{userID, key}]
	if !ok || key == "" {
		return nil, flashsale.Errorf(flashsale.EOrderNotFound, "no order of this user was created with this Idempotency-Key")
	}
	return copyOrder(d.orders[id]), nil
}

// Transition changes an order's state if it is in t.From and the deadline
// holds, with the payment it records, in one step under the lock.
func (s *Store) Transition(ctx context.Context, t flashsale.Transition) (*flashsale.Order, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	o, ok := d.orders[t.OrderID]
	if !ok {
		return nil, flashsale.Errorf(flashsale.EOrderNotFound, "order %q not found", t.OrderID)
	}
	at := stored(t.At)
	check := t
	check.At = at
	if !check.Allows(o) {
		return copyOrder(o), flashsale.ErrTransitionRefused
	}
	if t.Card != nil && t.Card.Limit > 0 {
		var held int64
		for _, other := range d.orders {
			if other.ID != o.ID && other.SaleID == o.SaleID && other.CardFingerprint == t.Card.Fingerprint &&
				(other.Status == flashsale.OrderPaying || other.Status == flashsale.OrderConfirmed) {
				held += other.Quantity
			}
		}
		if check.RefusedForCard(o, held) {
			return copyOrder(o), flashsale.ErrCardLimit
		}
	}
	o.Status, o.UpdatedAt = t.To, at
	if t.CountAttempt {
		o.PaymentAttempts++
	}
	if t.PaymentError != "" {
		o.LastPaymentError = t.PaymentError
	}
	if t.Card != nil && t.Card.Fingerprint != "" {
		o.CardFingerprint = t.Card.Fingerprint
	}
	if p := t.Payment; p != nil {
		c := *p
		c.OrderID, c.CreatedAt = o.ID, stored(p.CreatedAt)
		d.payments[o.ID] = append(d.payments[o.ID], c)
		if p.Status == flashsale.PaymentSucceeded && p.ID != "" {
			o.PaymentID = p.ID
		}
	}
	if t.To == flashsale.OrderConfirmed && o.ConfirmedAt.IsZero() {
		o.ConfirmedAt = at
	}
	return copyOrder(o), nil
}

// Payments returns an order's charge attempts, oldest first.
func (s *Store) Payments(ctx context.Context, orderID string) ([]flashsale.Payment, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	return slices.Clone(d.payments[orderID]), nil
}

// Claims returns an item with its limits and the units its orders claim.
func (s *Store) Claims(ctx context.Context, itemID string) (flashsale.ItemSnapshot, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return flashsale.ItemSnapshot{}, err
	}
	defer d.mu.Unlock()
	it, ok := d.items[itemID]
	if !ok {
		return flashsale.ItemSnapshot{}, flashsale.Errorf(flashsale.EItemNotFound, "item %q not found", itemID)
	}
	sale := d.sales[it.SaleID]
	snap := flashsale.ItemSnapshot{SaleID: it.SaleID, ItemID: itemID, Total: it.TotalQuantity, PerUserLimit: it.PerUserLimit,
		StartTime: sale.StartTime, EndTime: sale.EndTime, SoldByUser: map[string]int64{}}
	var live []*flashsale.Order
	for _, o := range d.orders {
		switch {
		case o.ItemID != itemID:
		case o.Status.Sold():
			snap.SoldByUser[o.UserID] += o.Quantity
		case o.Status.Pending():
			live = append(live, o)
		}
	}
	slices.SortFunc(live, func(a, b *flashsale.Order) int {
		return cmp.Or(a.ReservedAt.Compare(b.ReservedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, o := range live {
		snap.Reservations = append(snap.Reservations, flashsale.Reservation{OrderID: o.ID, SaleID: o.SaleID, ItemID: o.ItemID,
			UserID: o.UserID, Quantity: o.Quantity, ReservedAt: o.ReservedAt, ExpiresAt: o.ExpiresAt})
	}
	return snap, nil
}

// DueReservations returns up to limit reserved orders whose deadline is at
// or before now, earliest deadline first.
func (s *Store) DueReservations(ctx context.Context, now time.Time, limit int) ([]*flashsale.Order, error) {
	return s.query(ctx, limit, func(o *flashsale.Order) bool {
		return o.Status == flashsale.OrderReserved && !o.ExpiresAt.After(now)
	}, func(o *flashsale.Order) time.Time { return o.ExpiresAt })
}

// StalePayments returns up to limit orders in paying whose last change is
// at or before before, oldest change first.
func (s *Store) StalePayments(ctx context.Context, before time.Time, limit int) ([]*flashsale.Order, error) {
	return s.query(ctx, limit, func(o *flashsale.Order) bool {
		return o.Status == flashsale.OrderPaying && !o.UpdatedAt.After(before)
	}, func(o *flashsale.Order) time.Time { return o.UpdatedAt })
}

// query returns up to limit orders that match, by the time by, then id.
func (s *Store) query(ctx context.Context, limit int, match func(*flashsale.Order) bool, by func(*flashsale.Order) time.Time) ([]*flashsale.Order, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var found []*flashsale.Order
	for _, o := range d.orders {
		if match(o) {
			found = append(found, copyOrder(o))
		}
	}
	slices.SortFunc(found, func(a, b *flashsale.Order) int {
		return cmp.Or(by(a).Compare(by(b)), cmp.Compare(a.ID, b.ID))
	})
	return found[:min(len(found), max(limit, 0))], nil
}

// SaleOrders returns a page of the sale's orders in id order.
func (s *Store) SaleOrders(ctx context.Context, q flashsale.OrderQuery) ([]*flashsale.Order, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var found []*flashsale.Order
	for _, o := range d.orders {
		if o.SaleID == q.SaleID && o.ID > q.After && (q.Status == "" || o.Status == q.Status) {
			found = append(found, copyOrder(o))
		}
	}
	slices.SortFunc(found, func(a, b *flashsale.Order) int { return cmp.Compare(a.ID, b.ID) })
	return found[:min(len(found), max(q.Limit, 0))], nil
}

// RecordAudit records an admin action; a repeat of its id changes nothing.
func (s *Store) RecordAudit(ctx context.Context, e flashsale.AuditEntry) error {
	d, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if slices.ContainsFunc(d.audit, func(a flashsale.AuditEntry) bool { return a.ID == e.ID }) {
		return nil
	}
	e.At = stored(e.At)
	d.audit = append(d.audit, e)
	return nil
}

// AuditEntries returns a sale's admin actions, newest first.
func (s *Store) AuditEntries(ctx context.Context, saleID string, limit int) ([]flashsale.AuditEntry, error) {
	d, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	var found []flashsale.AuditEntry
	for _, e := range d.audit {
		if e.SaleID == saleID {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b flashsale.AuditEntry) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(b.ID, a.ID))
	})
	return found[:min(len(found), max(limit, 0))], nil
}

// Ping answers unless the handle is closed.
func (s *Store) Ping(ctx context.Context) error {
	d, err := s.lock(ctx)
	if err != nil {
		return err
	}
	d.mu.Unlock()
	return nil
}

// Close makes every later call of this handle fail; the data stays for a
// reopened handle.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
