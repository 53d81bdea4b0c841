package checkout_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/memory"
)

// The deterministic simulation of the purchase flow (issue 17): the
// checkout service over the in-process inventory and store, a clock that
// only the simulation moves, and a seeded scheduler that picks each step
// (a press, a payment, a cancel, time passing, the expiry scan, the
// sweep, the provider's notification of a charge, old or new, delivered
// once or again, a restart of the service) and the faults injected into it (a
// commit that fails, a commit in doubt that happened or not, a charge
// that times out before or after the provider charged, a provider that
// does not answer its look-up). After every step it checks what must
// hold at every instant; at the end, with the faults stopped and time run
// out, what must hold once everything is settled.
//
//	go test -run Sim ./checkout -sim.seeds=1000000   # on demand
//	go test -run Sim ./checkout -sim.seed=123 -v     # replay one seed
var (
	simSeeds = flag.Int("sim.seeds", 2000, "how many seeds the simulation runs")
	simSeed  = flag.Int64("sim.seed", -1, "run this one seed only")
)

// Each seed runs in a synctest bubble: the service's own waits (a commit
// awaited, a charge's timeout) pass in the bubble's time, at once and the
// same way on every run.
func TestSimulation(t *testing.T) {
	if *simSeed >= 0 {
		synctest.Test(t, func(t *testing.T) { simulate(t, uint64(*simSeed), true) })
		return
	}
	for seed := range uint64(*simSeeds) {
		synctest.Test(t, func(t *testing.T) {
			if !simulate(t, seed, false) {
				t.Fatalf("seed %d failed: replay it with go test -run Sim ./checkout -sim.seed=%d -v", seed, seed)
			}
		})
		if t.Failed() {
			return
		}
	}
}

// The rules a step may never break, whatever the faults, written out as
// the transitions of the documented order graph.
var simAllowed = map[[2]flashsale.OrderStatus]bool{
	{flashsale.OrderReserved, flashsale.OrderPaying}:      true,
	{flashsale.OrderReserved, flashsale.OrderExpired}:     true,
	{flashsale.OrderReserved, flashsale.OrderCancelled}:   true,
	{flashsale.OrderPaying, flashsale.OrderConfirmed}:     true,
	{flashsale.OrderPaying, flashsale.OrderReserved}:      true,
	{flashsale.OrderPaying, flashsale.OrderPaymentFailed}: true,
	{flashsale.OrderPaying, flashsale.OrderExpired}:       true,
}

// sim is one seed's world.
type sim struct {
	t       testing.TB
	verbose bool
	rng     *rand.Rand
	clock   *testclock.Clock
	store   *simStore
	pay     *simProvider
	once    *memory.OnceLedger // the fleet's, kept across restarts
	inv     *memory.Inventory
	svc     *checkout.Service
	sale    *flashsale.Sale
	orders  []string // every order id a shopper was given
	users   int
	failed  bool
}

const (
	simStock = 5
	simUsers = 12
	simSteps = 120
	simTTL   = 10 * time.Second
)

// simulate runs one seed and reports whether every check held.
func simulate(t testing.TB, seed uint64, verbose bool) bool {
	ctx := context.Background()
	s := &sim{t: t, verbose: verbose, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		clock: testclock.New(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)), users: simUsers}
	s.store = &simStore{OrderStore: memory.NewStore(), transitions: map[string][]flashsale.OrderStatus{}}
	s.pay = &simProvider{charges: map[string]*simCharge{}}
	s.once = memory.NewOnceLedger()
	s.start()
	var err error
	s.sale, err = s.svc.CreateSale(ctx, &flashsale.Sale{Name: "sim", StartTime: s.clock.Now().Add(-time.Minute),
		EndTime: s.clock.Now().Add(time.Hour), ReservationTTL: simTTL,
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD",
			TotalQuantity: simStock, PerUserLimit: 1}}})
	if err != nil {
		t.Fatalf("seed %d: create sale: %v", seed, err)
	}
	for step := range simSteps {
		s.injectFaults()
		what := s.step(ctx)
		s.logf("seed %d step %d: %s", seed, step, what)
		s.checkAlways(fmt.Sprintf("seed %d step %d (%s)", seed, step, what))
		if s.failed {
			return false
		}
	}
	s.settle(ctx)
	s.checkSettled(fmt.Sprintf("seed %d settled", seed))
	return !s.failed
}

func (s *sim) logf(format string, args ...any) {
	if s.verbose {
		s.t.Logf(format, args...)
	}
}

func (s *sim) errorf(format string, args ...any) {
	s.t.Errorf(format, args...)
	s.failed = true
}

// start runs a service over the world's store and provider, with an
// inventory rebuilt from the store: a new process.
func (s *sim) start() {
	s.inv = memory.NewInventory()
	svc, err := checkout.New(checkout.Config{Inventory: s.inv, Store: s.store, Payments: s.pay, Now: s.clock.Now,
		PaymentTimeout: time.Second, OrphanGrace: 2 * time.Second, Once: s.once})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := svc.Rebuild(context.Background()); err != nil {
		s.t.Fatal(err)
	}
	s.svc = svc
}

// injectFaults arms the faults of the next step, each with a small
// chance.
func (s *sim) injectFaults() {
	s.store.arm(s.rng)
	s.pay.arm(s.rng)
}

// step picks and runs one thing that happens; it returns what.
func (s *sim) step(ctx context.Context) string {
	user := func() string { return fmt.Sprintf("user-%d", s.rng.IntN(s.users)) }
	switch r := s.rng.IntN(100); {
	case r < 35:
		u := user()
		sub, err := s.svc.SubmitOrder(ctx, checkout.PlaceOrder{UserID: u, SaleID: s.sale.ID, ItemID: s.sale.Items[0].ID, Quantity: 1})
		if err == nil && sub.Order != nil && !slices.Contains(s.orders, sub.Order.ID) {
			s.orders = append(s.orders, sub.Order.ID)
		}
		return fmt.Sprintf("%s presses: %v", u, errOr(err, "reserved"))
	case r < 60 && len(s.orders) > 0:
		id := s.orders[s.rng.IntN(len(s.orders))]
		o, err := s.store.OrderStore.Order(ctx, id)
		if err != nil {
			return "pay of an unknown order"
		}
		tokens := []string{"ok", "ok", "ok", "declined"}
		_, err = s.svc.Pay(ctx, checkout.Pay{UserID: o.UserID, OrderID: id, Token: tokens[s.rng.IntN(len(tokens))], Method: "card"})
		return fmt.Sprintf("%s pays %s: %v", o.UserID, id[len(id)-8:], errOr(err, "ok"))
	case r < 68 && len(s.orders) > 0:
		id := s.orders[s.rng.IntN(len(s.orders))]
		o, err := s.store.OrderStore.Order(ctx, id)
		if err != nil {
			return "cancel of an unknown order"
		}
		_, err = s.svc.Cancel(ctx, o.UserID, id)
		return fmt.Sprintf("%s cancels %s: %v", o.UserID, id[len(id)-8:], errOr(err, "ok"))
	case r < 82:
		d := time.Duration(s.rng.IntN(int(simTTL/time.Millisecond))) * time.Millisecond / 2
		s.clock.Advance(d)
		return fmt.Sprintf("%s pass", d)
	case r < 88:
		n, err := s.svc.ExpireDue(ctx)
		return fmt.Sprintf("expiry scan: %d expired, %v", n, errOr(err, "ok"))
	case r < 93:
		return fmt.Sprintf("follower: %v", errOr(s.svc.FollowUp(ctx), "ok"))
	case r < 96:
		return fmt.Sprintf("sweep: %v", errOr(s.svc.Sweep(ctx), "ok"))
	case r < 98:
		ev := s.pay.event(s.rng)
		if ev == nil {
			return "no charge for the provider to tell of"
		}
		outcome, _, err := s.svc.PaymentEvent(ctx, *ev)
		return fmt.Sprintf("provider tells of %s (%s): %s %v", ev.IdempotencyKey[len(ev.IdempotencyKey)-10:], ev.ID[len(ev.ID)-1:], outcome, errOr(err, "ok"))
	default:
		s.start()
		return "restart"
	}
}

func errOr(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

// checkAlways checks what holds at every instant: the inventory's counts
// add up, and it never holds more units sold or claimed than the store's
// orders hold, nor more than the stock.
func (s *sim) checkAlways(when string) {
	ctx := context.Background()
	stock, err := s.inv.Stock(ctx, s.sale.Items[0].ID)
	if err != nil {
		s.errorf("%s: stock: %v", when, err)
		return
	}
	if !stock.Consistent() || stock.Total != simStock {
		s.errorf("%s: inventory %+v breaks available + reserved + sold == total", when, stock)
	}
	claims, err := s.store.OrderStore.Claims(ctx, s.sale.Items[0].ID)
	if err != nil {
		s.errorf("%s: claims: %v", when, err)
		return
	}
	held := claims.Stock()
	if held.Sold > simStock || held.Sold+held.Reserved > simStock {
		s.errorf("%s: oversold: the store's orders hold %+v of %d", when, held, simStock)
	}
	// A unit sold in the store is sold in the inventory too, or on its
	// way: the inventory follows the store, never runs ahead of it.
	if stock.Sold > held.Sold {
		s.errorf("%s: the inventory sold %d units, the store's orders %d", when, stock.Sold, held.Sold)
	}
	for id, path := range s.store.snapshotTransitions() {
		for i := 1; i < len(path); i++ {
			if !simAllowed[[2]flashsale.OrderStatus{path[i-1], path[i]}] {
				s.errorf("%s: order %s moved %s -> %s, off the documented graph", when, id, path[i-1], path[i])
			}
		}
	}
}

// settle stops the faults and lets time and the service's scans run out
// every reservation and every unsettled payment.
func (s *sim) settle(ctx context.Context) {
	s.store.disarm()
	s.pay.disarm()
	for range 4 {
		s.clock.Advance(simTTL + 10*time.Second)
		if _, err := s.svc.ExpireDue(ctx); err != nil {
			s.errorf("settling: expiry scan: %v", err)
		}
		if _, err := s.svc.ReleaseOrphans(ctx); err != nil {
			s.errorf("settling: orphans: %v", err)
		}
		if err := s.svc.Sweep(ctx); err != nil {
			s.errorf("settling: sweep: %v", err)
		}
		if err := s.svc.FollowUp(ctx); err != nil {
			s.errorf("settling: follower: %v", err)
		}
	}
}

// checkSettled checks what holds once everything is settled: a charged
// shopper is a confirmed shopper and the other way round, a released unit
// was not charged, and the inventory and the store agree.
func (s *sim) checkSettled(when string) {
	ctx := context.Background()
	charged := s.pay.succeeded()
	confirmed := 0
	for _, id := range s.store.orderIDs() {
		o, err := s.store.OrderStore.Order(ctx, id)
		if err != nil {
			s.errorf("%s: order %s: %v", when, id, err)
			continue
		}
		switch {
		case o.Status == flashsale.OrderConfirmed:
			confirmed++
			if !charged[o.ID] {
				s.errorf("%s: order %s is confirmed without a charge", when, o.ID)
			}
		case o.Status.Pending():
			s.errorf("%s: order %s is still %s after the settling", when, o.ID, o.Status)
		case charged[o.ID]:
			s.errorf("%s: order %s was charged and is %s: a charged shopper without the unit", when, o.ID, o.Status)
		}
	}
	for id := range charged {
		if o, err := s.store.OrderStore.Order(ctx, id); err != nil || o.Status != flashsale.OrderConfirmed {
			s.errorf("%s: the charge of order %s did not confirm it (%v)", when, id, err)
		}
	}
	stock, err := s.inv.Stock(ctx, s.sale.Items[0].ID)
	if err != nil {
		s.errorf("%s: stock: %v", when, err)
		return
	}
	if stock.Sold != int64(confirmed) || stock.Reserved != 0 {
		s.errorf("%s: the inventory holds %+v, the store %d confirmed and nothing reserved", when, stock, confirmed)
	}
}

// simStore is the store with the faults the scheduler arms: the next
// CreateOrder or Transition fails (writing nothing), or is in doubt
// (written or not, the caller cannot tell). It records every transition
// that happened.
type simStore struct {
	flashsale.OrderStore
	mu          sync.Mutex
	fault       string // "", "fail", "doubt-written", "doubt-lost"
	transitions map[string][]flashsale.OrderStatus
	created     []string
}

func (st *simStore) arm(rng *rand.Rand) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch r := rng.IntN(100); {
	case r < 4:
		st.fault = "fail"
	case r < 7:
		st.fault = "doubt-written"
	case r < 10:
		st.fault = "doubt-lost"
	default:
		st.fault = ""
	}
}

func (st *simStore) disarm() {
	st.mu.Lock()
	st.fault = ""
	st.mu.Unlock()
}

// take returns the armed fault and disarms it: one fault, one write.
func (st *simStore) take() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := st.fault
	st.fault = ""
	return f
}

var errSimWrite = errors.New("sim: the write failed")

func (st *simStore) CreateOrder(ctx context.Context, o *flashsale.Order) error {
	switch st.take() {
	case "fail":
		return errSimWrite
	case "doubt-lost":
		return flashsale.ErrWriteInDoubt
	case "doubt-written":
		if err := st.create(ctx, o); err != nil {
			return err
		}
		return flashsale.ErrWriteInDoubt
	}
	return st.create(ctx, o)
}

func (st *simStore) create(ctx context.Context, o *flashsale.Order) error {
	err := st.OrderStore.CreateOrder(ctx, o)
	if err == nil {
		st.mu.Lock()
		if _, seen := st.transitions[o.ID]; !seen {
			st.transitions[o.ID] = []flashsale.OrderStatus{o.Status}
			st.created = append(st.created, o.ID)
		}
		st.mu.Unlock()
	}
	return err
}

func (st *simStore) AbandonOrder(ctx context.Context, o *flashsale.Order) (*flashsale.Order, error) {
	stored, err := st.OrderStore.AbandonOrder(ctx, o)
	if err == nil {
		st.mu.Lock()
		if _, seen := st.transitions[stored.ID]; !seen {
			st.transitions[stored.ID] = []flashsale.OrderStatus{stored.Status}
			st.created = append(st.created, stored.ID)
		}
		st.mu.Unlock()
	}
	return stored, err
}

func (st *simStore) Transition(ctx context.Context, t flashsale.Transition) (*flashsale.Order, error) {
	fault := st.take()
	switch fault {
	case "fail":
		return nil, errSimWrite
	case "doubt-lost":
		return nil, flashsale.ErrWriteInDoubt
	}
	o, err := st.OrderStore.Transition(ctx, t)
	if err == nil {
		st.mu.Lock()
		st.transitions[o.ID] = append(st.transitions[o.ID], o.Status)
		st.mu.Unlock()
		if fault == "doubt-written" {
			return nil, flashsale.ErrWriteInDoubt
		}
	}
	return o, err
}

func (st *simStore) snapshotTransitions() map[string][]flashsale.OrderStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := make(map[string][]flashsale.OrderStatus, len(st.transitions))
	for id, path := range st.transitions {
		c[id] = slices.Clone(path)
	}
	return c
}

func (st *simStore) orderIDs() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.created)
}

// simProvider is a payment provider whose next charge the scheduler may
// make time out (charged or not) or whose look-up may fail. Token "ok"
// succeeds, any other declines.
type simProvider struct {
	mu      sync.Mutex
	fault   string // "", "timeout-uncharged", "timeout-charged", "lookup-fails", "outage-charged", "outage-uncharged"
	charges map[string]*simCharge
	keys    []string // the charges' keys in the order they were made
	n       int
}

type simCharge struct {
	orderID string
	result  flashsale.ChargeResult
}

func (p *simProvider) arm(rng *rand.Rand) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r := rng.IntN(100); {
	case r < 5:
		p.fault = "timeout-uncharged"
	case r < 10:
		p.fault = "timeout-charged"
	case r < 13:
		p.fault = "lookup-fails"
	case r < 16:
		p.fault = "outage-charged"
	case r < 18:
		p.fault = "outage-uncharged"
	default:
		p.fault = ""
	}
}

func (p *simProvider) disarm() {
	p.mu.Lock()
	p.fault = ""
	p.mu.Unlock()
}

var errSimTimeout = errors.New("sim: the provider did not answer")

func (p *simProvider) Charge(_ context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.charges[req.IdempotencyKey]; ok {
		return c.result, nil
	}
	result := flashsale.ChargeResult{Status: flashsale.PaymentDeclined, DeclineReason: "card_declined"}
	if req.Token == "ok" {
		p.n++
		result = flashsale.ChargeResult{Status: flashsale.PaymentSucceeded, PaymentID: fmt.Sprintf("pay_%d", p.n)}
	}
	switch p.fault {
	case "timeout-uncharged", "outage-uncharged":
		p.fault = outageLeft(p.fault)
		return flashsale.ChargeResult{}, errSimTimeout
	case "timeout-charged", "outage-charged":
		p.fault = outageLeft(p.fault)
		p.record(req, result)
		return flashsale.ChargeResult{}, errSimTimeout
	}
	p.record(req, result)
	return result, nil
}

// outageLeft is the fault left after a charge that timed out: in an
// outage the look-up that follows fails too, and the payment stays in
// paying until the sweep or the provider's event settles it.
func outageLeft(fault string) string {
	if strings.HasPrefix(fault, "outage") {
		return "lookup-fails"
	}
	return ""
}

func (p *simProvider) record(req flashsale.ChargeRequest, result flashsale.ChargeResult) {
	p.charges[req.IdempotencyKey] = &simCharge{orderID: req.OrderID, result: result}
	p.keys = append(p.keys, req.IdempotencyKey)
}

// event is the provider's notification of one of the charges made, any of
// them: an old attempt's, the latest's, one delivered before; nil when
// none was made.
func (p *simProvider) event(rng *rand.Rand) *flashsale.PaymentEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.keys) == 0 {
		return nil
	}
	key := p.keys[rng.IntN(len(p.keys))]
	return &flashsale.PaymentEvent{ID: fmt.Sprintf("evt-%s-%d", key, rng.IntN(2)), OrderID: p.charges[key].orderID, IdempotencyKey: key}
}

func (p *simProvider) Lookup(_ context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fault == "lookup-fails" {
		p.fault = ""
		return flashsale.ChargeResult{}, errSimTimeout
	}
	c, ok := p.charges[req.IdempotencyKey]
	if !ok {
		return flashsale.ChargeResult{}, flashsale.ErrNoCharge
	}
	return c.result, nil
}

func (p *simProvider) Fingerprint(context.Context, string) (string, error) { return "", nil }

func (p *simProvider) Refund(context.Context, string, string, flashsale.Money) (string, error) {
	return "", errors.New("sim: no refunds")
}

// succeeded is the orders with a successful charge.
func (p *simProvider) succeeded() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := map[string]bool{}
	for _, c := range p.charges {
		if c.result.Status == flashsale.PaymentSucceeded {
			ids[c.orderID] = true
		}
	}
	return ids
}
