package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flashsale/flashsale"
)

// QueueOptions configure an OrderQueue.
type QueueOptions struct {
	// Name starts the stream's, consumer's and bucket's names, so that
	// deployments can share a NATS cluster ("flashsale" when empty).
	// Letters, digits, - and _ only.
	Name string
	// Capacity is the most requests the queue holds (default 100,000); one
	// more is ErrQueueFull.
	Capacity int64
	// Retention is how long outcomes stay readable (default 24 h).
	Retention time.Duration
	// MaxAttempts is how many times a request whose settling failed for a
	// transient reason is tried before it is settled as unavailable
	// (default 5).
	MaxAttempts int
	// AckWait is how long a request taken by a worker that went silent
	// stays with it before another worker gets it (default 30 s). A worker
	// still settling a request says so every third of it.
	AckWait time.Duration
	// CallTimeout bounds each call a shopper's request makes of the queue
	// (queueing a request, reading its outcome), as FLASHSALE_REDIS_TIMEOUT
	// bounds Redis's (default 1 s): without it a NATS server that stopped
	// answering holds the request for JetStream's own 5 s.
	CallTimeout time.Duration
	Logger      *slog.Logger
}

// OrderQueue is the JetStream flashsale.OrderQueue.
type OrderQueue struct {
	js          jetstream.JetStream
	subject     string
	consumer    jetstream.Consumer
	outcomes    jetstream.KeyValue
	maxAttempts int
	ackWait     time.Duration
	callTimeout time.Duration
	nc          *natsgo.Conn
	log         *slog.Logger
}

var _ flashsale.OrderQueue = (*OrderQueue)(nil)

// dedupWindow is how long JetStream remembers request ids it stored; a
// copy arriving later is still caught, by the outcome it finds.
const dedupWindow = 10 * time.Minute

// NewOrderQueue creates the stream, consumer and bucket, or updates them to
// opts, so every instance may call it at start.
func NewOrderQueue(ctx context.Context, nc *natsgo.Conn, opts QueueOptions) (*OrderQueue, error) {
	if opts.Name == "" {
		opts.Name = "flashsale"
	}
	if opts.Capacity <= 0 {
		opts.Capacity = 100_000
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("order queue: %w", err)
	}
	subject := opts.Name + ".order_requests"
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     opts.Name + "_order_requests",
		Subjects: []string{subject},
		// A request leaves the stream when a worker acknowledges it.
		Retention: jetstream.WorkQueuePolicy,
		MaxMsgs:   opts.Capacity,
		// Full means refuse the newcomer, never drop a queued request.
		Discard:    jetstream.DiscardNew,
		Duplicates: dedupWindow,
		Storage:    jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("order queue: stream: %w", err)
	}
	consumer, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   opts.Name + "_order_workers",
		AckPolicy: jetstream.AckExplicitPolicy,
		// A worker that took a request and died gives it back after this.
		AckWait: opts.AckWait,
	})
	if err != nil {
		return nil, fmt.Errorf("order queue: consumer: %w", err)
	}
	outcomes, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  opts.Name + "_order_requests",
		TTL:     opts.Retention,
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("order queue: outcome bucket: %w", err)
	}
	return &OrderQueue{js: js, subject: subject, consumer: consumer, outcomes: outcomes,
		maxAttempts: opts.MaxAttempts, ackWait: opts.AckWait, callTimeout: opts.CallTimeout, nc: nc, log: opts.Logger}, nil
}

// record is a request with its outcome as the bucket keeps it.
type record struct {
	Request flashsale.OrderRequest `json:"request"`
	Outcome *outcome               `json:"outcome,omitempty"`
}

type outcome struct {
	OrderID      string    `json:"order_id,omitempty"`
	Created      bool      `json:"created,omitempty"`
	ErrorCode    string    `json:"error_code,omitempty"`
	ErrorMessage string    `json:"error_message,omitempty"`
	ErrorField   string    `json:"error_field,omitempty"`
	RetryAfterMS int64     `json:"retry_after_ms,omitempty"`
	SettledAt    time.Time `json:"settled_at"`
}

func recordOutcome(o flashsale.OrderRequestOutcome) *outcome {
	r := &outcome{OrderID: o.OrderID, Created: o.Created, SettledAt: o.SettledAt}
	if o.Error != nil {
		r.ErrorCode, r.ErrorMessage, r.ErrorField = o.Error.Code, o.Error.Message, o.Error.Field
		r.RetryAfterMS = o.Error.RetryAfter.Milliseconds()
	}
	return r
}

func (r *outcome) settled() *flashsale.OrderRequestOutcome {
	o := &flashsale.OrderRequestOutcome{OrderID: r.OrderID, Created: r.Created, SettledAt: r.SettledAt}
	if r.ErrorCode != "" {
		o.Error = &flashsale.Error{Code: r.ErrorCode, Message: r.ErrorMessage, Field: r.ErrorField,
			RetryAfter: time.Duration(r.RetryAfterMS) * time.Millisecond}
	}
	return o
}

// Enqueue publishes the request with its id as JetStream's message id, so
// a repeated publish within the dedup window stores nothing, then records
// it as waiting.
func (q *OrderQueue) Enqueue(ctx context.Context, r flashsale.OrderRequest) error {
	ctx, cancel := context.WithTimeout(ctx, q.callTimeout)
	defer cancel()
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ack, err := q.js.Publish(ctx, q.subject, data, jetstream.WithMsgID(r.ID))
	if err != nil {
		if full(err) {
			return flashsale.ErrQueueFull
		}
		return unavailable("queue order request "+r.ID, err)
	}
	if ack.Duplicate {
		return nil
	}
	waiting, err := json.Marshal(record{Request: r})
	if err != nil {
		return err
	}
	// A worker quicker than this has already recorded the outcome.
	if _, err := q.outcomes.Create(ctx, r.ID, waiting); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return unavailable("record order request "+r.ID, err)
	}
	return nil
}

// Ping checks that the NATS server answers within ctx: a round trip, not
// the connection's state, which stays "connected" until its pings fail
// minutes after a server went silent. A connection that missed the round
// trip is not trusted again: it is replaced at once rather than when its
// own pings give up, since what it sent meanwhile may never have arrived
// whole (a proxy that drops bytes leaves the server reading the next
// commands as the rest of a lost one).
func (q *OrderQueue) Ping(ctx context.Context) error {
	if err := q.nc.FlushWithContext(ctx); err != nil {
		if ctx.Err() != nil && q.nc.IsConnected() {
			if rerr := q.nc.ForceReconnect(); rerr != nil {
				q.log.Warn("order queue: reconnect", "err", rerr)
			}
		}
		return unavailable("nats", err)
	}
	return nil
}

// full reports the stream's refusal of a message over its capacity.
func full(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == storeFailed && apiErr.Description == "maximum messages exceeded"
}

// storeFailed is JetStream's JSStreamStoreFailedF, the error of a message
// the stream would not store (over a limit with the discard-new policy).
const storeFailed jetstream.ErrorCode = 10077

// Request returns the request and its outcome, nil while it waits.
func (q *OrderQueue) Request(ctx context.Context, id string) (flashsale.OrderRequest, *flashsale.OrderRequestOutcome, error) {
	rec, err := q.read(ctx, id)
	if err != nil {
		return flashsale.OrderRequest{}, nil, err
	}
	if rec.Outcome == nil {
		return rec.Request, nil, nil
	}
	return rec.Request, rec.Outcome.settled(), nil
}

func (q *OrderQueue) read(ctx context.Context, id string) (record, error) {
	ctx, cancel := context.WithTimeout(ctx, q.callTimeout)
	defer cancel()
	entry, err := q.outcomes.Get(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrInvalidKey):
		return record{}, flashsale.ErrUnknownRequest
	case err != nil:
		return record{}, unavailable("read order request "+id, err)
	}
	var rec record
	if err := json.Unmarshal(entry.Value(), &rec); err != nil {
		return record{}, fmt.Errorf("order request %s: %w", id, err)
	}
	return rec, nil
}

// Work fetches at most rate requests a second, in batches every 100 ms (or
// one every 1/rate s below 10 a second), and settles each batch's
// requests concurrently, so that their commits share group commits.
func (q *OrderQueue) Work(ctx context.Context, rate int, settle func(context.Context, flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error)) error {
	if rate <= 0 {
		return fmt.Errorf("order queue: rate %d is not positive", rate)
	}
	interval, batch := 100*time.Millisecond, rate/10
	if rate < 10 {
		interval, batch = time.Second/time.Duration(rate), 1
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		batchCtx, cancel := context.WithTimeout(ctx, interval)
		msgs, err := q.consumer.Fetch(batch, jetstream.FetchContext(batchCtx))
		if err == nil {
			var settling sync.WaitGroup
			for msg := range msgs.Messages() {
				settling.Go(func() { q.handle(ctx, msg, settle) })
			}
			settling.Wait()
			err = msgs.Error()
		}
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			q.log.Warn("order queue: fetch", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// handle settles one request and records its outcome before acknowledging
// it: a worker that dies in between leaves it to another, which finds the
// outcome and only acknowledges.
func (q *OrderQueue) handle(ctx context.Context, msg jetstream.Msg, settle func(context.Context, flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error)) {
	var r flashsale.OrderRequest
	if err := json.Unmarshal(msg.Data(), &r); err != nil || r.ID == "" {
		q.log.Error("order queue: dropping a malformed request", "err", err, "data", string(msg.Data()))
		_ = msg.Term()
		return
	}
	if rec, err := q.read(ctx, r.ID); err == nil && rec.Outcome != nil {
		_ = msg.Ack()
		return
	}
	result, err := q.settleHolding(ctx, msg, r, settle)
	if err != nil {
		meta, merr := msg.Metadata()
		if merr == nil && meta.NumDelivered < uint64(q.maxAttempts) {
			q.log.Warn("order queue: request will be retried", "request_id", r.ID, "attempt", meta.NumDelivered, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		q.log.Error("order queue: giving up on a request", "request_id", r.ID, "err", err)
		result = flashsale.GivenUp(time.Now().UTC())
	}
	settled, err := json.Marshal(record{Request: r, Outcome: recordOutcome(result)})
	if err != nil {
		q.log.Error("order queue: encoding an outcome", "request_id", r.ID, "err", err)
		_ = msg.Nak()
		return
	}
	if _, err := q.outcomes.Put(ctx, r.ID, settled); err != nil {
		q.log.Warn("order queue: recording an outcome; the request will be retried", "request_id", r.ID, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if err := msg.Ack(); err != nil {
		q.log.Warn("order queue: ack (the request comes back and finds its outcome)", "request_id", r.ID, "err", err)
	}
}

// settleHolding settles the request while telling the server, every third
// of the ack wait, that this worker still has it, so that a slow settle (a
// store that stalls) is not handed to a second worker meanwhile.
func (q *OrderQueue) settleHolding(ctx context.Context, msg jetstream.Msg, r flashsale.OrderRequest, settle func(context.Context, flashsale.OrderRequest) (flashsale.OrderRequestOutcome, error)) (flashsale.OrderRequestOutcome, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		ticker := time.NewTicker(q.ackWait / 3)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				if err := msg.InProgress(); err != nil {
					q.log.Warn("order queue: extending a request's ack wait", "request_id", r.ID, "err", err)
				}
			}
		}
	}()
	return settle(ctx, r)
}

// unavailable is a failure to reach NATS: a 503 the client retries.
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second, Err: fmt.Errorf("%s: %w", op, err),
		Message: "the order queue cannot be reached right now; nothing was queued, please retry"}
}
