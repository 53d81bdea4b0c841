package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/groupcommit"
)

// apply is one write: it runs on the writer connection, in a transaction
// it shares with other writes, inside a savepoint of its own when one of
// them fails (see commit).
type apply func(ctx context.Context, conn *writeConn) error

// committer is the group commit: the only user of the writer connection.
// Durability with synchronous=FULL costs an fsync per commit; sharing one
// commit among every write waiting for it turns a few hundred fsyncs into
// one, while each write still succeeds or fails on its own.
type committer struct {
	conn   *writeConn
	writes *groupcommit.Queue[apply]
	// notificationsCommitted is called after a commit that wrote
	// notifications.
	notificationsCommitted func()
	exited                 chan struct{}
	// closeErr is the connection's, set before exited closes.
	closeErr error
}

func newCommitter(conn *sql.Conn, maxBatch int, notificationsCommitted func()) *committer {
	c := &committer{
		conn:                   &writeConn{conn: conn, statements: make(map[string]*sql.Stmt)},
		writes:                 groupcommit.New[apply](maxBatch),
		notificationsCommitted: notificationsCommitted,
		exited:                 make(chan struct{}),
	}
	go c.run()
	return c
}

// do queues the write and waits for its commit (see groupcommit.Queue.Do).
// What the write hands back through variables it captured is read only
// after do returns nil or the write's own error: after a write in doubt
// (a caller that left a running batch) the committer may still be writing
// them.
func (c *committer) do(ctx context.Context, write apply) error {
	return c.writes.Do(ctx, write)
}

// close stops accepting writes, lets the committer run every queued one,
// and waits for it to finish and release the connection.
func (c *committer) close() error {
	c.writes.Close()
	<-c.exited
	return c.closeErr
}

func (c *committer) run() {
	defer close(c.exited)
	for {
		batch, _ := c.writes.Next()
		if len(batch) == 0 {
			c.closeErr = c.conn.close()
			return
		}
		c.commit(batch)
	}
}

// errWriteFailed stops a batch run without savepoints at its first failing
// write.
var errWriteFailed = errors.New("a write of the batch failed")

// commit runs a batch in one transaction. Its context is not any caller's:
// a write in a batch is carried through whatever happens to its caller.
func (c *committer) commit(batch []*groupcommit.Write[apply]) {
	ctx := context.Background()
	results := make([]error, len(batch))
	c.conn.wroteNotifications = false
	// Most batches have no write that fails, and run without savepoints,
	// which cost three statements a write (a ninth of the server's CPU
	// under reservations). A batch with a failing write is rolled back and
	// runs again with a savepoint per write, so that only that write
	// fails; its writes run twice then, which they allow: they only keep
	// what they read.
	err := c.transaction(ctx, func() error {
		for _, w := range batch {
			if err := w.Op(ctx, c.conn); err != nil {
				return errWriteFailed
			}
		}
		return nil
	})
	if errors.Is(err, errWriteFailed) {
		err = c.transaction(ctx, func() error {
			for i, w := range batch {
				var err error
				if results[i], err = c.applyInSavepoint(ctx, w.Op); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for i, w := range batch {
		if err != nil {
			w.Finish(diskFull(err))
		} else {
			w.Finish(diskFull(results[i]))
		}
	}
	if err == nil && c.conn.wroteNotifications {
		c.notificationsCommitted()
	}
}

// transaction runs body between BEGIN IMMEDIATE and COMMIT, and rolls back
// when body or the commit fails, so the connection is always left outside
// a transaction for the next batch.
func (c *committer) transaction(ctx context.Context, body func() error) error {
	if _, err := c.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	err := body()
	if err == nil {
		if _, err = c.conn.ExecContext(ctx, "COMMIT"); err != nil {
			err = fmt.Errorf("sqlite: commit: %w", err)
		}
	}
	if err != nil {
		// SQLite may already have rolled back (after an I/O error, say);
		// the ROLLBACK then fails harmlessly.
		_, _ = c.conn.ExecContext(ctx, "ROLLBACK")
	}
	return err
}

// applyInSavepoint runs one write inside a savepoint and returns the
// write's own result. A failed write is rolled back alone; only when that
// rollback fails is the transaction itself broken, which fails the batch.
func (c *committer) applyInSavepoint(ctx context.Context, write apply) (result, broken error) {
	if _, err := c.conn.ExecContext(ctx, "SAVEPOINT write"); err != nil {
		return nil, fmt.Errorf("sqlite: savepoint: %w", err)
	}
	result = write(ctx, c.conn)
	if result != nil {
		if _, err := c.conn.ExecContext(ctx, "ROLLBACK TO write"); err != nil {
			// SQLite may have rolled the whole transaction back (a full
			// disk does), taking the savepoint: the write's own error
			// tells why, and leads.
			return nil, fmt.Errorf("sqlite: roll back a failed write: %w (then: %w)", result, err)
		}
	}
	if _, err := c.conn.ExecContext(ctx, "RELEASE write"); err != nil {
		return nil, fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	return result, nil
}

// writeConn is the writer connection as writes use it. Statements are
// prepared once and kept: parsing SQL cost a fifth of the committer's time
// in BenchmarkCreateOrder. Only the committer's goroutine uses it.
type writeConn struct {
	conn       *sql.Conn
	statements map[string]*sql.Stmt
	// wroteNotifications is set by a write of the current batch that
	// inserted notifications. A write rolled back after setting it makes
	// a dispatcher look for work in vain, which is harmless.
	wroteNotifications bool
}

func (c *writeConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.ExecContext(ctx, args...)
}

func (c *writeConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

func (c *writeConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	stmt, err := c.prepared(ctx, query)
	if err != nil {
		// Only a *sql.Row can carry the error to Scan: the query run
		// unprepared fails the same way.
		return c.conn.QueryRowContext(ctx, query, args...)
	}
	return stmt.QueryRowContext(ctx, args...)
}

func (c *writeConn) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if stmt, ok := c.statements[query]; ok {
		return stmt, nil
	}
	stmt, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.statements[query] = stmt
	return stmt, nil
}

func (c *writeConn) close() error {
	for _, stmt := range c.statements {
		stmt.Close()
	}
	return c.conn.Close()
}

// diskFull turns a write that found no room on the disk into a refusal to
// retry: SQLite rolled its transaction back, so nothing of it was saved,
// and a caller may try again once space returns, as after any passing
// fault of a store. Other errors pass as they are.
func diskFull(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_FULL {
		return &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: 5 * time.Second, Err: err,
			Message: "the store's disk is full, so nothing was saved; please retry"}
	}
	return err
}
