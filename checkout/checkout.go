// Package checkout runs the purchase flow: it coordinates the hot inventory
// (who gets a unit), the durable order store (what happened to each order)
// and the payment provider. It is the same code in both deployments; only
// the adapters it is given differ.
//
// Two rules keep the books straight:
//   - A reservation is acknowledged only once the store has committed it,
//     or, with a Journal, once the inventory's journal holding its order
//     is on disk.
//   - A unit goes back to stock only after its release is durable: the
//     store's conditional write decides every state change, and the
//     inventory follows it. A rebuild from the store therefore never finds
//     more units claimed than exist.
package checkout

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// Config wires a Service.
type Config struct {
	Inventory flashsale.Inventory
	Store     flashsale.OrderStore
	Payments  flashsale.PaymentProvider
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxPaymentAttempts is how many declined charges an order survives
	// before it fails and its units return to stock (default 3).
	MaxPaymentAttempts int
	// PaymentTimeout bounds one charge (default 10 s). A charge whose
	// outcome is unknown by then is settled with the provider before
	// anything is released.
	PaymentTimeout time.Duration
	// OrphanGrace is how long a reservation may sit in the inventory with
	// no order in the store (its commit failed or is in flight on another
	// instance) before it is released (default 30 s).
	OrphanGrace time.Duration
	// StoreTimeout bounds each call of a shopper's request to the store,
	// the commit of a reservation included (default 2 s; the commit gets
	// at most half the orphan grace). A request whose store did not answer
	// in time answers 503.
	StoreTimeout time.Duration
	// InventoryConcurrency bounds the reservations in flight to the
	// inventory at once (0: no bound). A request that
	// finds no slot within InventoryWait (default 50 ms) answers 503
	// overloaded and reserves nothing. Sold-out answers never wait for a
	// slot: they are decided before it.
	InventoryConcurrency int
	InventoryWait        time.Duration
	// ReactionTime is how soon after a shopper could first have seen a
	// button (its opening, or the shopper's first signed-in fetch of the
	// sale's page after it) a press counts as faster than a person: the
	// risk score's reaction signal (default DefaultReactionTime).
	ReactionTime time.Duration
	// TimeoutLease elects the instance that scans the expiry index; nil
	// when this instance is the only one.
	TimeoutLease Lease
	// Journal, when set, acknowledges reservations from the inventory's own
	// journal instead of the store's commit (flashsale.OrderJournal); it
	// must journal into Inventory's state and persist into the store, and
	// Store must then be JournaledStore over it, as it must wherever the
	// inventory is shared with instances that journal.
	Journal flashsale.OrderJournal
	// Outbox records the notifications no order change carries (a queued
	// request refused); nil: none are written. It is given apart from
	// Store, whose outbox the service would otherwise have to find behind
	// whatever wraps it.
	Outbox flashsale.Outbox
	// Entries keeps the entries and draws of lottery sales; nil: such
	// sales cannot be created.
	Entries flashsale.EntryStore
	// OrderQueue carries the requests of sales in queued admission; nil:
	// such sales cannot be created.
	OrderQueue flashsale.OrderQueue
	// WaitingRoom keeps the lines of sales with a waiting room, whose
	// admitted shoppers carry tokens from Admissions; nil: such sales
	// cannot be created.
	WaitingRoom flashsale.WaitingRoom
	Admissions  Admissions
	// Broker wakes the event streams of the shoppers the waiting room
	// admits, so that they hear of it at once; nil: at their next poll.
	Broker flashsale.Broker
	// Challenges issues and checks proof-of-work challenges, whose
	// solutions Once spends; nil: sales that ask for challenges cannot be
	// created.
	Challenges Challenges
	// Once spends challenges' solutions and remembers the payment
	// provider's events delivered; nil: events are each applied (which is
	// idempotent, only dearer).
	Once   flashsale.OnceLedger
	Logger *slog.Logger
}

// Service is the purchase flow. It is safe for concurrent use.
type Service struct {
	inventory      flashsale.Inventory
	soldOut        flashsale.SoldOutSignal // nil when the inventory offers none
	store          flashsale.OrderStore
	journal        flashsale.OrderJournal // nil: the store's commit is the acknowledgement
	outbox         flashsale.Outbox       // nil: no notification of refused requests
	payments       flashsale.PaymentProvider
	now            func() time.Time
	maxAttempts    int
	paymentTimeout time.Duration
	orphanGrace    time.Duration
	storeTimeout   time.Duration
	reactionTime   time.Duration
	inventoryGate  inventoryGate
	timeoutLease   Lease
	queue          flashsale.OrderQueue
	room           flashsale.WaitingRoom // nil: no sale has a waiting room
	entries        flashsale.EntryStore  // nil: no sale is a lottery
	admissions     Admissions
	broker         flashsale.Broker // nil: no stream is woken
	challenges     Challenges       // nil: no sale asks for challenges
	once           flashsale.OnceLedger
	log            *slog.Logger

	// paused is set while the inventory's state is lost and rebuilt.
	paused atomic.Bool
	// leading is set while this instance runs the expiry index scan.
	leading atomic.Bool
	sales   sync.Map // sale id -> *cachedSale
	items   sync.Map // item id -> *itemCounters
	commits commitTracker
	// holdings answer a double click before any limit is spent.
	holdings holdings
	// admissionRates estimate a waiting shopper's wait.
	admissionRates admissionRates
	// risks are the risk scores' memory of each sale.
	risks risks
	// lined are the sales with a waiting room, lotteries the lottery
	// sales, as last read for the leader's tick.
	lined, lotteries cachedSales
	// debts are the inventory steps this instance owes (see follow.go).
	debts   debts
	repairs Repairs
	// durable are the live reservations the orphan scan found in the
	// store, so that it looks each up once.
	durable struct {
		mu     sync.Mutex
		orders map[string]bool
	}
}

// New returns a Service over the given adapters, used as they are given.
func New(cfg Config) (*Service, error) {
	if cfg.Inventory == nil || cfg.Store == nil || cfg.Payments == nil {
		return nil, errors.New("checkout: Inventory, Store and Payments are required")
	}
	if (cfg.WaitingRoom == nil) != (cfg.Admissions == nil) {
		return nil, errors.New("checkout: a WaitingRoom needs Admissions, and Admissions a WaitingRoom")
	}
	if cfg.Challenges != nil && cfg.Once == nil {
		return nil, errors.New("checkout: Challenges need a OnceLedger to spend their solutions")
	}
	s := &Service{
		inventory:      cfg.Inventory,
		store:          cfg.Store,
		payments:       cfg.Payments,
		maxAttempts:    cfg.MaxPaymentAttempts,
		paymentTimeout: cfg.PaymentTimeout,
		orphanGrace:    cfg.OrphanGrace,
		storeTimeout:   cfg.StoreTimeout,
		inventoryGate:  newInventoryGate(cfg.InventoryConcurrency, cfg.InventoryWait),
		timeoutLease:   cfg.TimeoutLease,
		queue:          cfg.OrderQueue,
		room:           cfg.WaitingRoom,
		entries:        cfg.Entries,
		admissions:     cfg.Admissions,
		broker:         cfg.Broker,
		challenges:     cfg.Challenges,
		once:           cfg.Once,
		outbox:         cfg.Outbox,
		log:            cfg.Logger,
		reactionTime:   cmp.Or(cfg.ReactionTime, DefaultReactionTime),
	}
	s.soldOut, _ = cfg.Inventory.(flashsale.SoldOutSignal)
	clock := cfg.Now
	if clock == nil {
		clock = time.Now
	}
	// Every instant the service records is in whole microseconds, the
	// precision every store keeps: an order shows the same reserved_at in
	// its 201 as in every later read.
	s.now = func() time.Time { return clock().Truncate(time.Microsecond) }
	if s.maxAttempts <= 0 {
		s.maxAttempts = 3
	}
	if s.paymentTimeout <= 0 {
		s.paymentTimeout = 10 * time.Second
	}
	if s.orphanGrace <= 0 {
		s.orphanGrace = 30 * time.Second
	}
	if s.storeTimeout <= 0 {
		s.storeTimeout = 2 * time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.journal = cfg.Journal
	// The service's own rule, not wiring: every call it makes of the store
	// has a deadline, and a transition that failed is in doubt.
	s.store = boundedStore{OrderStore: cfg.Store, timeout: s.storeTimeout, doubt: s.doubt}
	return s, nil
}

// Now is the service's clock, for callers that render server_time.
func (s *Service) Now() time.Time { return s.now().UTC() }

// Rebuild loads every item of every sale from the durable store into the
// inventory. Embedded mode calls it at start, before serving, since its
// inventory lives in memory; it is also how a lost hot store is restored.
func (s *Service) Rebuild(ctx context.Context) error {
	sales, err := s.store.Sales(ctx)
	if err != nil {
		return err
	}
	for _, sale := range sales {
		s.remember(sale)
		for i := range sale.Items {
			if err := s.loadItem(ctx, &sale.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) loadItem(ctx context.Context, item *flashsale.Item) error {
	snap, err := s.store.Claims(ctx, item.ID)
	if err != nil {
		return err
	}
	return s.inventory.Load(ctx, snap)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// detached keeps a step that must finish (a commit, a compensation) from
// being abandoned halfway because the client went away.
func detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}
