package notify_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/sqlite"
)

// start is the fake clock's first reading.
var start = time.Date(2026, time.June, 1, 12, 0, 0, 0, time.UTC)

func newClock() *testclock.Clock { return testclock.New(start) }

// shop is a SQLite store owing its notifications to channels, with a sale
// of one item.
type shop struct {
	t     *testing.T
	store *sqlite.Store
	sale  *flashsale.Sale
}

func newShop(t *testing.T, channels ...string) *shop {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "flashsale.db"), sqlite.WithNotificationChannels(channels...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	id := uuid.NewString()
	sale := &flashsale.Sale{
		ID: id, Name: "Summer sale", StartTime: start.Add(-time.Hour), EndTime: start.Add(time.Hour),
		Mode: flashsale.ModeFCFS, Admission: flashsale.AdmissionDirect, ReservationTTL: 10 * time.Minute, CreatedAt: start,
		Items: []flashsale.Item{{
			ID: uuid.NewString(), SaleID: id, ProductID: "phone-x", Name: "Phone X",
			OriginalPrice: 99_900, SalePrice: 49_900, Currency: "USD", TotalQuantity: 1000, PerUserLimit: 5,
		}},
	}
	if err := store.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	return &shop{t: t, store: store, sale: sale}
}

// reserve creates a reservation of one unit for user at start, which
// writes one order.reserved notification, and returns the order.
func (s *shop) reserve(user string) *flashsale.Order {
	s.t.Helper()
	o := &flashsale.Order{
		ID: uuid.NewString(), SaleID: s.sale.ID, ItemID: s.sale.Items[0].ID, UserID: user, Quantity: 1,
		Status: flashsale.OrderReserved, UnitPrice: 49_900, Currency: "USD",
		ReservedAt: start, ExpiresAt: start.Add(10 * time.Minute), UpdatedAt: start,
	}
	if err := s.store.CreateOrder(s.t.Context(), o); err != nil {
		s.t.Fatal(err)
	}
	return o
}

// notifications returns every notification of user.
func (s *shop) notifications(user string) []flashsale.Notification {
	s.t.Helper()
	n, err := s.store.NotificationsAfter(s.t.Context(), user, "", 1000)
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// delivery returns a notification's state on channel.
func (s *shop) delivery(id, channel string) flashsale.DeliveryState {
	s.t.Helper()
	states, err := s.store.Deliveries(s.t.Context(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, d := range states {
		if d.Channel == channel {
			return d
		}
	}
	s.t.Fatalf("notification %s is not owed to %s", id, channel)
	return flashsale.DeliveryState{}
}

// run starts a dispatcher and returns a function that stops it and waits
// for it to return.
func run(t *testing.T, cfg notify.Config) (stop func()) {
	t.Helper()
	d, err := notify.NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("the dispatcher did not stop within 10 s")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// recorder is a channel that keeps what it delivers and answers with fail
// (nil: success) for each delivery, by how many it has seen of that id.
type recorder struct {
	name string
	fail func(ctx context.Context, n flashsale.Notification, seen int) error

	mu   sync.Mutex
	got  []flashsale.Notification
	seen map[string]int
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Deliver(ctx context.Context, n flashsale.Notification) error {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = make(map[string]int)
	}
	r.seen[n.ID]++
	seen := r.seen[n.ID]
	r.got = append(r.got, n)
	r.mu.Unlock()
	if r.fail != nil {
		return r.fail(ctx, n, seen)
	}
	return nil
}

// ids returns the distinct ids delivered, sorted.
func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id := range r.seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *recorder) attempts(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func idsOf(ns []flashsale.Notification) []string {
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	slices.Sort(ids)
	return ids
}

var errReceiverDown = errors.New("receiver down")

// countingStore is a shop's store whose claims of due deliveries are
// counted, so that a test lets the dispatcher look a number of times
// rather than sleeping. It embeds the store whole: the dispatcher finds
// its outbox signal too.
type countingStore struct {
	*sqlite.Store
	claims atomic.Int64
}

func (s *countingStore) ClaimDeliveries(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]flashsale.Delivery, error) {
	s.claims.Add(1)
	return s.Store.ClaimDeliveries(ctx, channel, now, lease, limit)
}

// afterPolls returns once the dispatcher has looked for due deliveries n
// more times.
func (s *countingStore) afterPolls(t *testing.T, n int64) {
	t.Helper()
	target := s.claims.Load() + n
	testenv.Eventually(t, time.Minute, "the dispatcher to poll", func() bool { return s.claims.Load() >= target })
}
