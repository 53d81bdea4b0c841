// Package sqlite is the embedded mode's durable store: a flashsale.OrderStore
// in one SQLite file, with the pure Go driver modernc.org/sqlite.
//
// One connection writes, through a group committer that shares each
// commit (and its fsync) among every write waiting for one; a pool of
// read-only connections reads beside it, which WAL mode allows. Commits
// are synchronous=FULL: an acknowledged write survives a crash of the
// process and a loss of power.
//
// Times are stored as unix microseconds UTC: a time comes back in UTC,
// truncated to the microsecond, as PostgreSQL would return it.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Store is a flashsale.OrderStore and flashsale.Outbox in a SQLite file.
type Store struct {
	path    string
	writer  *sql.DB // holds the committer's one connection
	readers *sql.DB
	commits *committer
	// channels are the delivery channels every notification is owed to,
	// insertDeliveries the statement that records the debt, and
	// channelList the channels as a JSON array, for the statements that
	// owe many notifications at once.
	channels         []string
	insertDeliveries string
	channelList      string
	drawStep         int
	notified         broadcast
	closeOnce        sync.Once
	closeErr         error
}

var _ flashsale.OrderStore = (*Store)(nil)

// Option tunes a Store.
type Option func(*config)

type config struct {
	maxBatch int
	channels []string
	drawStep int
}

// WithMaxBatch bounds the writes that share one commit (default 512). A
// bound keeps a commit, and so the wait of its first write, short; 1
// turns group commit off, which only a benchmark wants.
func WithMaxBatch(n int) Option {
	return func(c *config) { c.maxBatch = max(n, 1) }
}

// WithNotificationChannels names the delivery channels (notify.Channel
// names) that every notification the store writes is owed to. Without it
// notifications are still written, for the event streams, but owed to no
// channel.
func WithNotificationChannels(names ...string) Option {
	return func(c *config) { c.channels = slices.Clone(names) }
}

// WithDrawStep sets how many entries of a lottery's draw one write ranks
// (default 2,000, about a tenth of a second of the writer on the
// project's VM, during which reservations wait).
func WithDrawStep(n int) Option {
	return func(c *config) { c.drawStep = max(n, 1) }
}

// busyTimeout is how long a connection waits for a lock another process
// holds (a migration, a backup) before it reports SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Open opens the store in the file at path, creating it if needed, and
// applies pending migrations.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{maxBatch: 512, drawStep: 1000}
	for _, opt := range opts {
		opt(&cfg)
	}
	channelList, err := json.Marshal(cfg.channels)
	if err != nil {
		return nil, err
	}

	// The writer's page cache holds the hot pages of every table and
	// index a write touches (orders, the outbox); SQLite's default of 2
	// MiB made it read pages back from the file in the middle of commits.
	writer, err := sql.Open("sqlite", dsn(path, "_txlock=immediate", "_pragma=cache_size(-65536)"))
	if err != nil {
		return nil, err
	}
	// Only one writer at a time can hold SQLite's write lock; one
	// connection makes that the committer, not lock contention.
	writer.SetMaxOpenConns(1)
	if err := checkWAL(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	if err := Migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	conn, err := writer.Conn(ctx)
	if err != nil {
		writer.Close()
		return nil, err
	}

	readers, err := sql.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
	if err != nil {
		conn.Close()
		writer.Close()
		return nil, err
	}
	readConns := max(4, runtime.GOMAXPROCS(0))
	readers.SetMaxOpenConns(readConns)
	readers.SetMaxIdleConns(readConns)

	s := &Store{path: path, writer: writer, readers: readers,
		channels: cfg.channels, insertDeliveries: insertDeliveries(len(cfg.channels)), channelList: string(channelList),
		drawStep: cfg.drawStep}
	s.commits = newCommitter(conn, cfg.maxBatch, s.notified.fire)
	return s, nil
}

// dsn names the file with the pragmas every connection needs, so that
// each connection the pools open gets them.
func dsn(path string, extra ...string) string {
	u := url.URL{Scheme: "file", OmitHost: true, Path: path}
	query := "_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)" +
		// Each write's savepoint journals the pages it changes; in memory,
		// not in a temporary file, that costs no system calls.
		"&_pragma=temp_store(MEMORY)"
	for _, e := range extra {
		query += "&" + e
	}
	return u.String() + "?" + query
}

// checkWAL refuses a file system on which SQLite fell back from WAL mode:
// readers would then block the writer.
func checkWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("sqlite: the database is in journal mode %q, not WAL", mode)
	}
	return nil
}

// Close lets every queued write commit, then closes the database. Writes
// submitted afterwards fail. Closing again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.commits.close(), s.readers.Close(), s.writer.Close())
	})
	return s.closeErr
}

// Ping checks that the read pool answers and that the committer still
// commits: an empty write goes through a transaction of its own.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.readers.PingContext(ctx); err != nil {
		return err
	}
	return s.commits.do(ctx, func(context.Context, *writeConn) error { return nil })
}

// micros is how the store keeps a time.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros keeps the zero time, which means "not yet", as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: !t.IsZero()}
}

func fromNullMicros(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return fromMicros(us.Int64)
}

// constraintCode returns the extended SQLite result code of a constraint
// violation, or 0 when err is not one.
func constraintCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return e.Code()
	}
	return 0
}
