package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

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

// backends are the adapters of one deployment: embedded (memory and
// SQLite, one process) or distributed (Redis and PostgreSQL, a fleet).
type backends struct {
	// description ends the "listening on" line.
	description string
	inventory   flashsale.Inventory
	store       orderStore
	broker      flashsale.Broker
	// channels deliver the notifications the store owes them.
	channels []notify.Channel
	// hotState and timeoutLease are nil in embedded mode, whose inventory
	// is rebuilt at every start and whose one process leads alone.
	hotState     checkout.HotState
	timeoutLease checkout.Lease
	// limiter keeps the rate limits the fleet shares: in this process in
	// embedded mode, in Redis in distributed mode.
	limiter ratelimit.Limiter
	// journal acknowledges reservations from Redis (FLASHSALE_ACK=redis);
	// nil: the store's commit does.
	journal flashsale.OrderJournal
	// drain moves journaled orders into the store when a reader misses
	// one: in distributed mode always, since instances that journal (or
	// did before a change of configuration) share the inventory; nil in
	// embedded mode.
	drain flashsale.JournalDrain
	// orderQueue carries queued admission's requests; nil in distributed
	// mode without NATS, where queued sales are refused.
	orderQueue flashsale.OrderQueue
	// run holds work that lives as long as the server (the broker's and
	// the inventory's subscriptions).
	run   func(ctx context.Context)
	ping  func(ctx context.Context) error
	close func() error
	// metrics are what the deployment's own parts expose: Redis failing,
	// the limits gone local, the journal's backlog.
	metrics []prometheus.Collector
}

// orderStore is what serve needs of a store: orders and their outbox.
type orderStore interface {
	flashsale.OrderStore
	flashsale.Outbox
}

// distributed reports whether the configuration asks for Redis and
// PostgreSQL, and refuses half of it.
func (c *config) distributed() (bool, error) {
	switch {
	case c.RedisURL == "" && c.PostgresURL == "" && c.Ack == "redis":
		return false, errors.New("FLASHSALE_ACK=redis needs distributed mode (FLASHSALE_REDIS_URL and FLASHSALE_POSTGRES_URL)")
	case c.RedisURL == "" && c.PostgresURL == "":
		return false, nil
	case c.RedisURL == "":
		return false, errors.New("distributed mode needs both FLASHSALE_REDIS_URL and FLASHSALE_POSTGRES_URL; FLASHSALE_REDIS_URL is not set")
	case c.PostgresURL == "":
		return false, errors.New("distributed mode needs both FLASHSALE_REDIS_URL and FLASHSALE_POSTGRES_URL; FLASHSALE_POSTGRES_URL is not set")
	}
	return true, nil
}

// openBackends connects the deployment the configuration names. hub wakes
// this process's event streams; the broker that feeds it decides the
// notification channels, whose names the store needs.
func openBackends(ctx context.Context, cfg *config, log *slog.Logger, hub *notify.Hub) (*backends, error) {
	distributed, err := cfg.distributed()
	if err != nil {
		return nil, err
	}
	if distributed {
		return openDistributed(ctx, cfg, log, hub)
	}
	return openEmbedded(ctx, cfg, log, hub)
}

func openEmbedded(ctx context.Context, cfg *config, log *slog.Logger, hub *notify.Hub) (*backends, error) {
	channels, err := notificationChannels(cfg, log, hub)
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
	var queue flashsale.OrderQueue
	closeQueue := func() {}
	if cfg.Queue == "memory" && cfg.NATSURL == "" {
		queue = memory.NewOrderQueue(memory.QueueOptions{Capacity: int(cfg.QueueCapacity)})
	} else if queue, closeQueue, err = openQueue(ctx, cfg, log, filepath.Join(cfg.DataDir, "nats")); err != nil {
		store.Close()
		return nil, err
	}
	return &backends{
		description: "embedded mode, data in " + cfg.DataDir,
		inventory:   memory.NewInventory(),
		store:       store,
		broker:      hub,
		channels:    channels,
		orderQueue:  queue,
		limiter:     ratelimit.NewMemory(),
		run:         func(context.Context) {},
		ping:        store.Ping,
		close: sync.OnceValue(func() error {
			closeQueue()
			return store.Close()
		}),
	}, nil
}

// openQueue connects queued admission's order queue: to FLASHSALE_NATS_URL
// when set, else to a NATS server embedded in this process that keeps its
// data in embeddedDir, or, in distributed mode (embeddedDir empty), to
// none: an embedded queue would not be shared by the fleet.
func openQueue(ctx context.Context, cfg *config, log *slog.Logger, embeddedDir string) (flashsale.OrderQueue, func(), error) {
	var conn *natsgo.Conn
	var closeConn func()
	switch {
	case cfg.NATSURL != "":
		nc, err := nats.Connect(cfg.NATSURL)
		if err != nil {
			return nil, nil, err
		}
		conn, closeConn = nc, nc.Close
	case embeddedDir != "":
		server, err := nats.StartEmbedded(embeddedDir)
		if err != nil {
			return nil, nil, err
		}
		conn, closeConn = server.Conn(), server.Close
	default:
		return nil, func() {}, nil
	}
	queue, err := nats.NewOrderQueue(ctx, conn, nats.QueueOptions{Name: cfg.QueueName, Capacity: cfg.QueueCapacity, Logger: log})
	if err != nil {
		closeConn()
		return nil, nil, err
	}
	return queue, closeConn, nil
}

func openDistributed(ctx context.Context, cfg *config, log *slog.Logger, hub *notify.Hub) (*backends, error) {
	client, err := redis.Connect(cfg.RedisURL, redis.ClientOptions{CallTimeout: cfg.RedisTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	broker := redis.NewBroker(client, cfg.RedisPrefix, hub, log)
	channels, err := notificationChannels(cfg, log, broker)
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
	queue, closeQueue, err := openQueue(ctx, cfg, log, "")
	if err != nil {
		store.Close()
		client.Close()
		return nil, err
	}
	host, _ := os.Hostname()
	holder := host + "/" + uuid.NewString()
	journal, err := redis.NewJournal(inventory, redis.JournalOptions{Store: store, Consumer: holder, Replicas: cfg.AckReplicas, Logger: log})
	if err == nil && cfg.Ack == "redis" {
		err = journal.CheckAcknowledgements(ctx)
	}
	if err != nil {
		closeQueue()
		store.Close()
		client.Close()
		return nil, err
	}
	acknowledging := cfg.Ack == "redis"
	// While Redis is away the limits hold per instance, not nowhere.
	limiter := ratelimit.WithFallback(redis.NewLimiter(client, cfg.RedisPrefix), ratelimit.NewMemory())
	b := &backends{
		description:  "distributed mode, Redis " + redactURL(cfg.RedisURL) + ", PostgreSQL " + redactURL(cfg.PostgresURL),
		inventory:    inventory,
		store:        store,
		broker:       broker,
		channels:     channels,
		hotState:     inventory,
		timeoutLease: redis.NewLease(client, cfg.RedisPrefix, "timeouts", holder),
		orderQueue:   queue,
		limiter:      limiter,
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
		ping: func(ctx context.Context) error {
			if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
				return fmt.Errorf("redis: %w", err)
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
	b.drain = journal
	b.metrics = distributedMetrics(client, limiter, journal, acknowledging)
	if acknowledging {
		b.journal = journal
		b.description += ", reservations acknowledged from Redis's AOF"
	}
	return b, nil
}

// redactURL is a server address fit for a log: each URL of a comma list
// without its password, and a key=value connection string not at all.
func redactURL(s string) string {
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
