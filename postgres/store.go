// Package postgres is the distributed mode's durable store: a
// flashsale.OrderStore and its flashsale.Outbox in PostgreSQL, through pgx.
//
// Writes go through group committers that share each commit (and its WAL
// flush) among every write waiting for one; reads go straight to a pool of
// their own. A write is acknowledged only after PostgreSQL answered its
// COMMIT, so with the server's default synchronous_commit=on an
// acknowledged write survives a crash of this process and of the server.
//
// Times are timestamptz: a time comes back in UTC, truncated to the
// microsecond, as the embedded store returns it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flashsale/flashsale"
)

// Store is a flashsale.OrderStore and flashsale.Outbox in PostgreSQL.
type Store struct {
	url     string
	readers *pgxpool.Pool
	writers *pgxpool.Pool // one connection per committer
	commits *committer
	// channels are the delivery channels every notification is owed to.
	channels  []string
	drawStep  int
	closeOnce sync.Once
	// stopStatistics ends keepStatistics, which stopped when it returns.
	stopStatistics func()
}

var _ flashsale.OrderStore = (*Store)(nil)

// Option tunes a Store.
type Option func(*config)

type config struct {
	maxBatch   int
	committers int
	channels   []string
	drawStep   int
}

// WithDrawStep sets how many entries of a lottery's draw one transaction
// ranks (default 10,000, about a third of a second on the project's VM,
// for which every user's event stream may wait: see NotificationsAfter).
func WithDrawStep(n int) Option {
	return func(c *config) { c.drawStep = max(n, 1) }
}

// WithMaxBatch bounds the writes that share one commit (default 512). A
// bound keeps a commit, and so the wait of its first write, short; 1
// turns group commit off, which only a benchmark wants.
func WithMaxBatch(n int) Option {
	return func(c *config) { c.maxBatch = max(n, 1) }
}

// WithCommitters sets how many batches may be in flight at once, each in
// a transaction on a connection of its own (default 2: while one batch
// waits for its commit, the next one runs; BenchmarkCreateOrder has the
// figures).
func WithCommitters(n int) Option {
	return func(c *config) { c.committers = max(n, 1) }
}

// WithNotificationChannels names the delivery channels (notify.Channel
// names) that every notification the store writes is owed to. Without it
// notifications are still written, for the event streams, but owed to no
// channel.
func WithNotificationChannels(names ...string) Option {
	return func(c *config) { c.channels = slices.Clone(names) }
}

// Open connects to the database at url (a postgres:// URL or key=value
// string, with pgxpool's pool_* settings if wanted), applies pending
// migrations and starts the committers.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg := config{maxBatch: 512, committers: 2, drawStep: 2000}
	for _, opt := range opts {
		opt(&cfg)
	}

	readConfig, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	readConfig.AfterConnect = scanTimesInUTC
	if err := migrate(ctx, readConfig); err != nil {
		return nil, err
	}
	// Writes have a pool of their own, a connection per committer, kept
	// open, so that a burst of reads never makes a commit wait for a
	// connection.
	writeConfig := readConfig.Copy()
	writeConfig.MaxConns = int32(cfg.committers)
	writeConfig.MinConns = writeConfig.MaxConns
	writeConfig.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := scanTimesInUTC(ctx, conn); err != nil {
			return err
		}
		return commitDurably(ctx, conn)
	}

	readers, err := pgxpool.NewWithConfig(ctx, readConfig)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	writers, err := pgxpool.NewWithConfig(ctx, writeConfig)
	if err != nil {
		readers.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	statsCtx, stopStats := context.WithCancel(context.Background())
	var statsDone sync.WaitGroup
	statsDone.Go(func() { keepStatistics(statsCtx, readers, 2*time.Second) })
	s := &Store{
		url:      url,
		readers:  readers,
		writers:  writers,
		channels: cfg.channels,
		drawStep: cfg.drawStep,
		stopStatistics: func() {
			stopStats()
			statsDone.Wait()
		},
	}
	s.commits = newCommitter(writers, cfg.maxBatch, cfg.committers, s.queueCreateOrders)
	return s, nil
}

// scanTimesInUTC makes timestamptz values scan in UTC rather than in the
// process's local zone, the store's promise for every time it returns.
func scanTimesInUTC(_ context.Context, conn *pgx.Conn) error {
	conn.TypeMap().RegisterType(&pgtype.Type{
		Name:  "timestamptz",
		OID:   pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
	return nil
}

// commitDurably makes the connection's commits wait for the WAL flush when
// the server's default does not: an acknowledged write must survive a
// crash of the server. A stronger setting (remote_apply, for synchronous
// standbys) is left as it is.
func commitDurably(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', false)
		WHERE current_setting('synchronous_commit') = 'off'`)
	return err
}

// Close lets every queued write commit, then closes the pools. Writes
// submitted afterwards fail. Closing again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopStatistics()
		s.commits.close()
		s.writers.Close()
		s.readers.Close()
	})
	return nil
}

// Ping checks that the read pool answers and that the committers still
// commit: an empty write goes through a transaction.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.readers.Ping(ctx); err != nil {
		return err
	}
	return s.commits.do(ctx, &write{queue: func(*pgx.Batch) {}})
}

// violated returns the name of the constraint err violates when err is
// the database's error of that class (pgerrcode's 23503, 23505, ...).
func violated(err error, code string) (constraint string, ok bool) {
	var e *pgconn.PgError
	if errors.As(err, &e) && e.Code == code {
		return e.ConstraintName, true
	}
	return "", false
}

// SQLSTATE codes the store maps to domain errors.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

// nullTime keeps the zero time, which means "not yet", as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
