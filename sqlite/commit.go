package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// errClosed answers writes submitted after Close.
var errClosed = errors.New("sqlite: store is closed")

// A write is one caller's operation, run by the committer inside its own
// savepoint of a shared transaction.
type write struct {
	apply func(ctx context.Context, conn *writeConn) error
	state atomic.Int32
	done  chan error // buffered: the committer never waits for the caller
}

// A write's state decides, without a lock, whether a caller that gives up
// still can: a write taken into a batch has its result, whatever the
// caller's context says.
const (
	writeQueued int32 = iota
	writeTaken
	writeAbandoned
)

// committer is the group commit: the only user of the writer connection.
// Durability with synchronous=FULL costs an fsync per commit; sharing one
// commit among every write waiting for it turns a few hundred fsyncs into
// one, while each write still succeeds or fails on its own thanks to its
// savepoint.
type committer struct {
	conn     *writeConn
	maxBatch int
	// notificationsCommitted is called after a commit that wrote
	// notifications.
	notificationsCommitted func()

	mu     sync.Mutex
	queue  []*write
	closed bool
	wake   chan struct{} // capacity 1: a pending wake-up is never lost
	exited chan struct{}
	// closeErr is the connection's, set before exited closes.
	closeErr error
}

func newCommitter(conn *sql.Conn, maxBatch int, notificationsCommitted func()) *committer {
	c := &committer{
		conn:                   &writeConn{conn: conn, statements: make(map[string]*sql.Stmt)},
		maxBatch:               maxBatch,
		notificationsCommitted: notificationsCommitted,
		wake:                   make(chan struct{}, 1),
		exited:                 make(chan struct{}),
	}
	go c.run()
	return c
}

// do queues apply and waits for its commit. A caller whose ctx ends while
// the write is still queued gets ctx's error and the write never runs; once
// the write is in a batch, the caller waits for the batch, whose outcome
// is the write's.
func (c *committer) do(ctx context.Context, apply func(ctx context.Context, conn *writeConn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &write{apply: apply, done: make(chan error, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}

	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		if w.state.CompareAndSwap(writeQueued, writeAbandoned) {
			return ctx.Err()
		}
		return <-w.done
	}
}

// close stops accepting writes, lets the committer run every queued one,
// and waits for it to finish and release the connection.
func (c *committer) close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-c.exited
	return c.closeErr
}

func (c *committer) run() {
	defer close(c.exited)
	for {
		batch, closed := c.next()
		if len(batch) == 0 && closed {
			c.closeErr = c.conn.close()
			return
		}
		c.commit(batch)
	}
}

// next waits for writes and takes as many as are queued, up to maxBatch:
// no timer holds a write back, the batch is whatever queued up while the
// previous commit was running.
func (c *committer) next() (batch []*write, closed bool) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 || c.closed {
			n := min(len(c.queue), c.maxBatch)
			batch = c.queue[:n:n]
			c.queue = c.queue[n:]
			closed = c.closed
			c.mu.Unlock()
			return batch, closed
		}
		c.mu.Unlock()
		<-c.wake
	}
}

// commit runs a batch in one transaction. Its context is not any caller's:
// a write in a batch is carried through whatever happens to its caller.
func (c *committer) commit(batch []*write) {
	taken := batch[:0]
	for _, w := range batch {
		if w.state.CompareAndSwap(writeQueued, writeTaken) {
			taken = append(taken, w)
		}
	}
	if len(taken) == 0 {
		return
	}
	ctx := context.Background()
	results := make([]error, len(taken))
	c.conn.wroteNotifications = false
	err := c.transaction(ctx, func() error {
		for i, w := range taken {
			var err error
			if results[i], err = c.applyInSavepoint(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
	for i, w := range taken {
		if err != nil {
			w.done <- err
		} else {
			w.done <- results[i]
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
func (c *committer) applyInSavepoint(ctx context.Context, w *write) (result, broken error) {
	if _, err := c.conn.ExecContext(ctx, "SAVEPOINT write"); err != nil {
		return nil, fmt.Errorf("sqlite: savepoint: %w", err)
	}
	result = w.apply(ctx, c.conn)
	if result != nil {
		if _, err := c.conn.ExecContext(ctx, "ROLLBACK TO write"); err != nil {
			return nil, fmt.Errorf("sqlite: roll back a failed write (%v): %w", result, err)
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
