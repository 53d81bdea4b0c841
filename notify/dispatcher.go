// Package notify delivers the order store's notifications: to the
// console, by email, to webhooks and to live event streams.
//
// The store writes each notification in the transaction of the order
// change it describes (flashsale.Outbox); a Dispatcher claims what is due
// on each channel under a lease, delivers it, and marks it delivered or
// schedules a retry with exponential backoff. A dispatcher that dies
// mid-batch loses nothing: its claims come due again when their leases
// end, and another dispatcher delivers them. Delivery is at least once;
// every message carries the notification's stable id, by which receivers
// deduplicate.
//
// Why an outbox table of our own and not River (riverqueue/river): the
// crux is the same-transaction requirement. Both stores write through a
// group committer that runs many callers' writes in one transaction, each
// in its own savepoint: SQLite over one raw connection (BEGIN IMMEDIATE,
// SAVEPOINT, no *sql.Tx to hand a library), PostgreSQL as one pgx
// pipeline per batch whose statements are queued up front and answered
// in callbacks. River's InsertTx wants a driver transaction and runs its
// own round trips inside it, so it would either break the pipeline (one
// round trip per job insert inside every batch) or leave the transaction
// (and with it the guarantee). Our outbox is one INSERT ... in the
// savepoint in either store, five short statements behind a port both
// stores implement, and one dispatcher for both deployments. The outbox
// also has to answer what a job queue does not: a user's events in commit
// order after an event id, for SSE resume. River would be the choice for
// general background jobs on PostgreSQL; notifications do not need them.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flashsale/flashsale"
)

// Channel delivers notifications one way: the console, email, a webhook,
// event streams; push or SMS providers fit behind it too. Deliver must
// honour ctx's deadline. An error is retried with backoff unless it is
// Permanent.
type Channel interface {
	// Name identifies the channel in the store's delivery records: it must
	// stay the same across restarts, and differ between channels.
	Name() string
	Deliver(ctx context.Context, n flashsale.Notification) error
}

// Permanent marks an error that no retry can cure (a recipient the mail
// server rejects): the delivery is given up at once.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Names returns the channels' names, for the store's
// WithNotificationChannels.
func Names(channels []Channel) []string {
	names := make([]string, len(channels))
	for i, ch := range channels {
		names[i] = ch.Name()
	}
	return names
}

// Backoff spaces the attempts of a failing delivery: the n-th retry waits
// Initial * 2^(n-1), at most Max, jittered down by up to half so that
// deliveries that failed together do not retry together. After Attempts
// attempts the delivery is given up.
type Backoff struct {
	Initial  time.Duration
	Max      time.Duration
	Attempts int
}

// Delay returns how long to wait after the given failed attempt (1 for the
// first), before jitter.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// jittered returns a random wait in [Delay/2, Delay].
func (b Backoff) jittered(attempt int) time.Duration {
	d := b.Delay(attempt)
	return d/2 + rand.N(d/2+1)
}

// Config wires a Dispatcher.
type Config struct {
	Outbox   flashsale.Outbox
	Channels []Channel
	// Now is the clock claims and retries are timed by; time.Now when nil.
	Now func() time.Time
	// PollInterval is how often a channel looks for due deliveries when
	// nothing wakes it (default 1 s). A store that is a
	// flashsale.OutboxSignal wakes it at each commit of notifications;
	// the poll then only times retries and other processes' writes.
	PollInterval time.Duration
	// BatchSize is how many deliveries a channel claims at once (default
	// 64), and Concurrency how many of them it delivers at the same time
	// (default 8). Each batch costs the store two writes, a claim and a
	// mark, whatever its size: in a rush, large batches keep the outbox's
	// share of the store's commits small.
	BatchSize   int
	Concurrency int
	// DeliveryTimeout bounds one delivery (default 10 s).
	DeliveryTimeout time.Duration
	// Lease is how long a claim is the claimer's alone (default 2 min). It
	// must cover a batch: BatchSize / Concurrency deliveries one after
	// another, each up to DeliveryTimeout, with one more to spare. A claim
	// whose dispatcher died is delivered again when it ends.
	Lease time.Duration
	// Retry spaces the attempts of a failing delivery (default 1 s
	// doubling to 30 min, given up after 20 attempts, about 5 hours).
	Retry Backoff
	// Registry, when set, gets the delivery counters.
	Registry prometheus.Registerer
	Logger   *slog.Logger
}

// Dispatcher delivers the outbox's notifications on each channel. Each
// channel runs on its own, so a receiver that fails or hangs delays only
// its own channel, and never an order: orders only write the outbox.
type Dispatcher struct {
	cfg      Config
	signal   flashsale.OutboxSignal // nil when the store offers none
	outcomes *prometheus.CounterVec
}

// NewDispatcher checks cfg and fills in its defaults.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("notify: the dispatcher needs an Outbox")
	}
	seen := make(map[string]bool)
	for _, ch := range cfg.Channels {
		if ch.Name() == "" || seen[ch.Name()] {
			return nil, fmt.Errorf("notify: channel name %q is empty or given twice", ch.Name())
		}
		seen[ch.Name()] = true
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	defaults := []struct {
		value *time.Duration
		def   time.Duration
	}{
		{&cfg.PollInterval, time.Second}, {&cfg.DeliveryTimeout, 10 * time.Second}, {&cfg.Lease, 2 * time.Minute},
		{&cfg.Retry.Initial, time.Second}, {&cfg.Retry.Max, 30 * time.Minute},
	}
	for _, d := range defaults {
		if *d.value <= 0 {
			*d.value = d.def
		}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 64
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Retry.Attempts <= 0 {
		cfg.Retry.Attempts = 20
	}
	rounds := (cfg.BatchSize + cfg.Concurrency - 1) / cfg.Concurrency
	if need := time.Duration(rounds+1) * cfg.DeliveryTimeout; cfg.Lease < need {
		return nil, fmt.Errorf("notify: a lease of %v does not cover a batch of %d deliveries, %d at a time, of up to %v each; it needs at least %v",
			cfg.Lease, cfg.BatchSize, cfg.Concurrency, cfg.DeliveryTimeout, need)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{cfg: cfg}
	d.signal, _ = cfg.Outbox.(flashsale.OutboxSignal)
	d.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flashsale_notification_deliveries_total",
		Help: "Delivery attempts of notifications by channel and outcome (delivered, retry, given_up).",
	}, []string{"channel", "outcome"})
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(d.outcomes); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Run delivers until ctx ends, then lets the batches in flight finish
// (each delivery within DeliveryTimeout) and record their outcomes.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ch := range d.cfg.Channels {
		wg.Go(func() { d.runChannel(ctx, ch) })
	}
	wg.Wait()
}

func (d *Dispatcher) runChannel(ctx context.Context, ch Channel) {
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	for ctx.Err() == nil {
		var committed <-chan struct{}
		if d.signal != nil {
			committed = d.signal.NotificationsCommitted()
		}
		if d.dispatchBatch(ctx, ch) {
			continue // a full batch: more may be due
		}
		select {
		case <-ctx.Done():
		case <-committed:
		case <-poll.C:
		}
	}
}

// dispatchBatch claims, delivers and records one batch of ch, and reports
// whether the batch was full.
func (d *Dispatcher) dispatchBatch(ctx context.Context, ch Channel) (full bool) {
	batch, err := d.cfg.Outbox.ClaimDeliveries(ctx, ch.Name(), d.cfg.Now(), d.cfg.Lease, d.cfg.BatchSize)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Error("claim notifications", "channel", ch.Name(), "err", err)
		}
		return false
	}
	if len(batch) == 0 {
		return false
	}
	// A batch that is claimed is carried through a shutdown: its
	// deliveries are bounded by DeliveryTimeout and its outcomes are
	// recorded, so a restart does not wait for the lease.
	finish := context.WithoutCancel(ctx)
	var (
		mu        sync.Mutex
		delivered []string
		wg        sync.WaitGroup
		slots     = make(chan struct{}, d.cfg.Concurrency)
	)
	for _, delivery := range batch {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			err := d.deliver(finish, ch, delivery.Notification)
			if err == nil {
				mu.Lock()
				delivered = append(delivered, delivery.Notification.ID)
				mu.Unlock()
				return
			}
			d.recordFailure(finish, delivery, err)
		})
	}
	wg.Wait()
	if len(delivered) > 0 {
		rctx, cancel := context.WithTimeout(finish, d.cfg.DeliveryTimeout)
		defer cancel()
		if err := d.cfg.Outbox.MarkDelivered(rctx, ch.Name(), d.cfg.Now(), delivered...); err != nil {
			// Delivered but not recorded: they go again when the lease
			// ends, which receivers absorb by the event id.
			d.cfg.Logger.Error("mark notifications delivered", "channel", ch.Name(), "count", len(delivered), "err", err)
		}
		d.outcomes.WithLabelValues(ch.Name(), "delivered").Add(float64(len(delivered)))
	}
	return len(batch) == d.cfg.BatchSize
}

// deliver runs one delivery within DeliveryTimeout; a channel that panics
// fails the delivery, not the dispatcher.
func (d *Dispatcher) deliver(ctx context.Context, ch Channel, n flashsale.Notification) (err error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.DeliveryTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("channel %s panicked: %v", ch.Name(), v)
		}
	}()
	return ch.Deliver(ctx, n)
}

// recordFailure schedules the next attempt of a failed delivery, or gives
// it up when it is permanent or out of attempts.
func (d *Dispatcher) recordFailure(ctx context.Context, delivery flashsale.Delivery, cause error) {
	n := delivery.Notification
	failure := flashsale.FailedDelivery{
		Channel: delivery.Channel, NotificationID: n.ID, Attempt: delivery.Attempt, Error: cause.Error(),
	}
	log := d.cfg.Logger.With("channel", delivery.Channel, "notification_id", n.ID, "event", n.Event,
		"order_id", n.OrderID, "attempt", delivery.Attempt, "err", cause)
	outcome := "given_up"
	if isPermanent(cause) || delivery.Attempt >= d.cfg.Retry.Attempts {
		log.Error("notification given up")
	} else {
		outcome = "retry"
		failure.RetryAt = d.cfg.Now().Add(d.cfg.Retry.jittered(delivery.Attempt))
		log.Warn("notification not delivered; will retry", "retry_at", failure.RetryAt)
	}
	d.outcomes.WithLabelValues(delivery.Channel, outcome).Inc()
	rctx, cancel := context.WithTimeout(ctx, d.cfg.DeliveryTimeout)
	defer cancel()
	if err := d.cfg.Outbox.RecordFailedDelivery(rctx, failure); err != nil {
		// Unrecorded, the claim comes due again when its lease ends.
		log.Error("record failed delivery", "record_err", err)
	}
}
