// Package deployment opens the adapters of one kind of deployment and
// wires them into the purchase flow, in one place for 'flashsale serve',
// 'flashsale reconcile' and the tests that run the real server over every
// kind. What a kind is made of is decided here and nowhere else.
package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/nats"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/postgres"
	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/sqlite"
)

// Kind names a deployment.
type Kind string

const (
	// Embedded is one process: the inventory in memory, orders in SQLite.
	Embedded Kind = "embedded"
	// Distributed is a fleet: the inventory in Redis, orders in
	// PostgreSQL, a reservation acknowledged once PostgreSQL has it.
	Distributed Kind = "distributed"
	// DistributedRedisAck is Distributed with reservations acknowledged
	// once Redis's AOF holds their journaled order (FLASHSALE_ACK=redis).
	DistributedRedisAck Kind = "distributed-redis-ack"
)

// Kinds are every kind, in the order tests run them.
var Kinds = []Kind{Embedded, Distributed, DistributedRedisAck}

// Queue names for Config.Queue.
const (
	QueueNone   = ""
	QueueMemory = "memory"
	QueueNATS   = "nats"
)

// Config is what a deployment is opened with. Fields a kind does not use
// are ignored.
type Config struct {
	Kind Kind
	// DataDir holds the embedded kind's SQLite file.
	DataDir      string
	RedisURL     string
	RedisPrefix  string
	RedisTimeout time.Duration
	PostgresURL  string
	// AckReplicas is how many Redis replicas must also hold a journaled
	// order before it is acknowledged (DistributedRedisAck).
	AckReplicas int
	// Queue carries queued admission's requests: QueueMemory (in this
	// process: one instance only), QueueNATS (NATSURL, or else a NATS
	// server embedded in this process with its data in NATSDir) or
	// QueueNone (queued sales are refused).
	Queue         string
	NATSURL       string
	NATSDir       string
	QueueName     string
	QueueCapacity int64
	// Channels are the notification channels, given the broker that
	// wakes every instance's event streams; nil: none.
	Channels func(broker flashsale.Broker) ([]notify.Channel, error)
	Logger   *slog.Logger
}

// Store is what a deployment's store offers: orders and their outbox,
// lottery entries and draws, the admins' audit log.
type Store interface {
	flashsale.OrderStore
	flashsale.Outbox
	flashsale.EntryStore
	flashsale.AuditLog
}

// Deployment is an opened deployment's adapters.
type Deployment struct {
	Kind Kind
	// Description ends the "listening on" line.
	Description string
	Inventory   flashsale.Inventory
	Store       Store
	// Broker wakes the event streams of every instance.
	Broker flashsale.Broker
	// Channels deliver the notifications the store owes them.
	Channels []notify.Channel
	// HotState and TimeoutLease are nil in the embedded kind, whose
	// inventory is rebuilt at every start and whose one process leads
	// alone.
	HotState     checkout.HotState
	TimeoutLease checkout.Lease
	// Limiter keeps the rate limits the fleet shares: in this process in
	// the embedded kind, in Redis (falling back to this process while
	// Redis is away) in the distributed kinds.
	Limiter    ratelimit.Limiter
	OrderQueue flashsale.OrderQueue
	// WaitingRoom keeps the sales' lines: in this process in the embedded
	// kind (a restart empties them), in Redis in the distributed kinds.
	WaitingRoom flashsale.WaitingRoom
	// Once spends solved challenges, in this process or in Redis.
	Once flashsale.OnceLedger
	// Metrics are what the deployment's own parts expose: Redis failing,
	// the limits gone local, the journal's backlog.
	Metrics []prometheus.Collector

	// journal moves journaled orders into the store; in the distributed
	// kinds always, since instances that journal (or did before a change
	// of configuration) share the inventory. It also acknowledges
	// reservations when acknowledging is set.
	journal       *redis.Journal
	acknowledging bool
	run           func(ctx context.Context)
	subscribed    func() bool
	ping          func(ctx context.Context) error
	close         func() error
}

// Open connects the deployment cfg names. hub wakes this process's event
// streams; in a fleet a Redis broker feeds it what the other instances
// publish.
func Open(ctx context.Context, cfg Config, hub *notify.Hub) (*Deployment, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Channels == nil {
		cfg.Channels = func(flashsale.Broker) ([]notify.Channel, error) { return nil, nil }
	}
	switch cfg.Kind {
	case Embedded:
		return openEmbedded(ctx, cfg, hub)
	case Distributed, DistributedRedisAck:
		return openDistributed(ctx, cfg, hub)
	}
	return nil, fmt.Errorf("unknown deployment kind %q", cfg.Kind)
}

func openEmbedded(ctx context.Context, cfg Config, hub *notify.Hub) (*Deployment, error) {
	channels, err := cfg.Channels(hub)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "flashsale.db"), sqlite.WithNotificationChannels(notify.Names(channels)...))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	queue, closeQueue, err := openQueue(ctx, cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	return &Deployment{
		Kind:        Embedded,
		Description: "embedded mode, data in " + cfg.DataDir,
		Inventory:   memory.NewInventory(),
		Store:       store,
		Broker:      hub,
		Channels:    channels,
		OrderQueue:  queue,
		WaitingRoom: memory.NewWaitingRoom(),
		Once:        memory.NewOnceLedger(),
		Limiter:     ratelimit.NewMemory(),
		run:         func(context.Context) {},
		subscribed:  func() bool { return true },
		ping:        store.Ping,
		close: sync.OnceValue(func() error {
			closeQueue()
			return store.Close()
		}),
	}, nil
}

// openQueue connects queued admission's order queue as cfg.Queue says.
func openQueue(ctx context.Context, cfg Config) (flashsale.OrderQueue, func(), error) {
	switch cfg.Queue {
	case QueueNone:
		return nil, func() {}, nil
	case QueueMemory:
		return memory.NewOrderQueue(memory.QueueOptions{Capacity: int(cfg.QueueCapacity)}), func() {}, nil
	case QueueNATS:
	default:
		return nil, nil, fmt.Errorf("unknown order queue %q", cfg.Queue)
	}
	var conn *natsgo.Conn
	var closeConn func()
	if cfg.NATSURL != "" {
		nc, err := nats.Connect(cfg.NATSURL)
		if err != nil {
			return nil, nil, err
		}
		conn, closeConn = nc, nc.Close
	} else {
		server, err := nats.StartEmbedded(cfg.NATSDir)
		if err != nil {
			return nil, nil, err
		}
		conn, closeConn = server.Conn(), server.Close
	}
	queue, err := nats.NewOrderQueue(ctx, conn, nats.QueueOptions{Name: cfg.QueueName, Capacity: cfg.QueueCapacity,
		CallTimeout: cfg.RedisTimeout, Logger: cfg.Logger})
	if err != nil {
		closeConn()
		return nil, nil, err
	}
	return queue, closeConn, nil
}

func openDistributed(ctx context.Context, cfg Config, hub *notify.Hub) (*Deployment, error) {
	log := cfg.Logger
	client, err := redis.Connect(cfg.RedisURL, redis.ClientOptions{CallTimeout: cfg.RedisTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	broker := redis.NewBroker(client, cfg.RedisPrefix, hub, log)
	channels, err := cfg.Channels(broker)
	if err != nil {
		client.Close()
		return nil, err
	}
	store, err := postgres.Open(ctx, cfg.PostgresURL, postgres.WithNotificationChannels(notify.Names(channels)...))
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	inventory := redis.NewInventory(client, redis.Options{KeyPrefix: cfg.RedisPrefix, Logger: log})
	queue, closeQueue, err := openQueue(ctx, cfg)
	if err != nil {
		store.Close()
		client.Close()
		return nil, err
	}
	host, _ := os.Hostname()
	holder := host + "/" + uuid.NewString()
	acknowledging := cfg.Kind == DistributedRedisAck
	journal, err := redis.NewJournal(inventory, redis.JournalOptions{Store: store, Consumer: holder, Replicas: cfg.AckReplicas, Logger: log})
	if err == nil && acknowledging {
		err = journal.CheckAcknowledgements(ctx)
	}
	if err != nil {
		closeQueue()
		store.Close()
		client.Close()
		return nil, err
	}
	// While Redis is away the limits hold per instance, not nowhere.
	limiter := ratelimit.WithFallback(redis.NewLimiter(client, cfg.RedisPrefix), ratelimit.NewMemory())
	d := &Deployment{
		Kind:          cfg.Kind,
		Description:   "distributed mode, Redis " + RedactURL(cfg.RedisURL) + ", PostgreSQL " + RedactURL(cfg.PostgresURL),
		Inventory:     inventory,
		Store:         store,
		Broker:        broker,
		Channels:      channels,
		HotState:      inventory,
		TimeoutLease:  redis.NewLease(client, cfg.RedisPrefix, "timeouts", holder),
		OrderQueue:    queue,
		WaitingRoom:   redis.NewWaitingRoom(client, cfg.RedisPrefix),
		Once:          redis.NewOnceLedger(client, cfg.RedisPrefix),
		Limiter:       limiter,
		Metrics:       distributedMetrics(client, limiter, journal, acknowledging),
		journal:       journal,
		acknowledging: acknowledging,
		run: func(ctx context.Context) {
			var running sync.WaitGroup
			// The sold-out flags' restock subscription: without it no item
			// is ever flagged and every sold-out answer asks Redis.
			running.Go(func() { inventory.Run(ctx) })
			if acknowledging {
				// Every instance that journals persists, so the journal
				// drains while any one is alive, whatever its roles.
				running.Go(func() { journal.Run(ctx) })
			}
			broker.Run(ctx)
			running.Wait()
		},
		subscribed: func() bool { return inventory.Subscribed() && broker.Subscribed() },
		ping: func(ctx context.Context) error {
			if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
				return fmt.Errorf("redis: %w", err)
			}
			// An order queue that stopped answering makes queued sales
			// fail: the balancer must send their shoppers elsewhere.
			if q, ok := queue.(interface{ Ping(context.Context) error }); ok {
				if err := q.Ping(ctx); err != nil {
					return err
				}
			}
			return store.Ping(ctx)
		},
		close: sync.OnceValue(func() error {
			closeQueue()
			err := store.Close()
			client.Close()
			return err
		}),
	}
	if acknowledging {
		d.Description += ", reservations acknowledged from Redis's AOF"
	}
	return d, nil
}

// Service is the purchase flow over the deployment: cfg's own settings
// with the deployment's adapters. The waiting room comes with the
// admission tokens' signer, and the ledger of spent challenges with the
// challenges' issuer, which cfg gives (they hold the fleet's secret):
// without them, sales with a waiting room or challenges are refused. The
// embedded kind's inventory lives in this process, empty at every start,
// and is rebuilt from the store before the service is returned.
func (d *Deployment) Service(ctx context.Context, cfg checkout.Config) (*checkout.Service, error) {
	cfg.Inventory = d.Inventory
	cfg.Store = d.Store
	cfg.Outbox = d.Store
	cfg.Entries = d.Store
	cfg.OrderQueue = d.OrderQueue
	cfg.TimeoutLease = d.TimeoutLease
	if cfg.Admissions != nil {
		cfg.WaitingRoom, cfg.Broker = d.WaitingRoom, d.Broker
	}
	if cfg.Challenges != nil {
		cfg.Once = d.Once
	}
	if d.journal != nil {
		// An order may be journaled and not yet in the store: readers that
		// miss one have the journal persisted and look again.
		cfg.Store = checkout.JournaledStore(d.Store, d.journal, cfg.Logger)
	}
	if d.acknowledging {
		cfg.Journal = d.journal
	}
	service, err := checkout.New(cfg)
	if err != nil {
		return nil, err
	}
	if d.HotState == nil {
		if err := service.Rebuild(ctx); err != nil {
			return nil, fmt.Errorf("rebuild inventory from the store: %w", err)
		}
	}
	return service, nil
}

// Run runs what lives as long as the server: the broker's and the
// inventory's subscriptions, the journal's persister. It returns when ctx
// ends.
func (d *Deployment) Run(ctx context.Context) { d.run(ctx) }

// Subscribed reports whether Run's subscriptions are confirmed: from then
// on every instance's events and restocks reach this one.
func (d *Deployment) Subscribed() bool { return d.subscribed() }

// Ping checks that the deployment's servers answer.
func (d *Deployment) Ping(ctx context.Context) error { return d.ping(ctx) }

// Close closes every connection; it may be called more than once.
func (d *Deployment) Close() error { return d.close() }

// RedactURL is a server address fit for a log: each URL of a comma list
// without its password, and a key=value connection string not at all.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, part := range parts {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		switch {
		case err == nil && u.Host != "":
			parts[i] = u.Redacted()
		case err == nil && !strings.ContainsAny(part, "= "):
			parts[i] = part // a bare host:port seed
		default:
			parts[i] = "(connection string)"
		}
	}
	return strings.Join(parts, ",")
}

// distributedMetrics are the gauges and counters of the distributed
// deployment's parts, read at each scrape.
func distributedMetrics(client rueidis.Client, limiter *ratelimit.Fallback, journal *redis.Journal, acknowledging bool) []prometheus.Collector {
	metrics := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flashsale_redis_failing",
			Help: "1 while Redis has failed the last calls: calls fail at once and one probe at a time checks whether it is back.",
		}, func() float64 {
			if redis.Failing(client) {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "flashsale_rate_limit_local_decisions_total",
			Help: "Rate-limit decisions this instance made alone because the fleet's shared limiter (Redis) did not answer: the limits then hold per instance.",
		}, func() float64 { return float64(limiter.FellBack()) }),
	}
	if acknowledging {
		metrics = append(metrics, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "flashsale_journal_backlog",
			Help: "Reservations acknowledged from Redis's AOF and not yet in PostgreSQL (FLASHSALE_ACK=redis), as last counted: the persisters' lag.",
		}, func() float64 { return float64(journal.Backlog()) }))
	}
	return metrics
}
