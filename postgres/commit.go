package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/groupcommit"
)

// batchTimeout bounds a batch from its connection to its commit, so that
// a database that stopped answering fails the writes instead of holding
// their callers, and Close, forever. A commit that times out may still
// have happened: the writes' callers get an error either way, as with any
// write whose answer was lost.
const batchTimeout = 30 * time.Second

// A write is one caller's operation, run by a committer in a transaction
// it shares with other writes, inside a savepoint of its own when one of
// them fails (see transaction).
type write struct {
	// queue adds the write's statements to a batch. The statements'
	// callbacks keep what the write answers; they run on the committer's
	// goroutine, before its caller hears the outcome.
	queue func(b *pgx.Batch)
	// order, when set, is a new order's row of the statement that
	// inserts a batch's new orders together (see Store.queueCreateOrders):
	// a batch without savepoints queues that once for all of them instead
	// of each one's queue.
	order []any
	// result is the write's own outcome: the database's error of one of
	// its statements, after which its savepoint was rolled back.
	result error
	// row names the row the write contends for with writes of other
	// instances (empty: none to speak of). A batch runs its writes in the
	// order of their rows, so that batches meeting on the same rows wait
	// for each other in one order instead of deadlocking: each deadlock
	// costs the server's deadlock_timeout (a second) to break, and a batch
	// that met a few hundred of them outlasted batchTimeout.
	row string
}

// committer is the group commit. Durability costs a WAL flush per commit
// and a round trip per statement; one transaction for every write waiting,
// its statements sent in one pipeline, turns hundreds of each into a few,
// while each write still succeeds or fails on its own. Several committers may run batches at once, each on a
// connection of its own; they share one queue.
type committer struct {
	pool        *pgxpool.Pool
	writes      *groupcommit.Queue[*write]
	queueOrders func(b *pgx.Batch, writes []*write)
	running     sync.WaitGroup
}

func newCommitter(pool *pgxpool.Pool, maxBatch, committers int, queueOrders func(*pgx.Batch, []*write)) *committer {
	c := &committer{pool: pool, writes: groupcommit.New[*write](maxBatch), queueOrders: queueOrders}
	for range committers {
		c.running.Go(c.run)
	}
	return c
}

// do queues w and waits for its commit (see groupcommit.Queue.Do). What
// w's callbacks hand back through variables they captured is read only
// after do returns nil or the write's own error: after a write in doubt
// (a caller that left a running batch) the committer may still be writing
// them.
func (c *committer) do(ctx context.Context, w *write) error {
	return c.writes.Do(ctx, w)
}

// close stops accepting writes, lets the committers run every queued one,
// and waits for them to finish.
func (c *committer) close() {
	c.writes.Close()
	c.running.Wait()
}

func (c *committer) run() {
	for {
		batch, _ := c.writes.Next()
		if len(batch) == 0 {
			return
		}
		c.commit(batch)
	}
}

// commit runs a batch in one transaction. Its context is not any caller's:
// a write in a batch is carried through whatever happens to its caller.
func (c *committer) commit(batch []*groupcommit.Write[*write]) {
	writes := make([]*write, len(batch))
	for i, w := range batch {
		writes[i] = w.Op
	}
	// Writes in one batch are concurrent callers': any order is one they
	// could have come in.
	slices.SortStableFunc(writes, func(a, b *write) int { return strings.Compare(a.row, b.row) })
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	err := c.transaction(ctx, writes)
	for _, w := range batch {
		if err != nil {
			w.Finish(err)
		} else {
			w.Finish(w.Op.result)
		}
	}
}

// transaction runs the writes in one transaction and commits it. It
// returns an error when the transaction as a whole failed, which is then
// every write's; a write that failed on its own has its result set.
//
// Most batches have no write the database refuses, and run without
// savepoints: a savepoint costs two statements per write and a
// subtransaction, and past 64 subtransactions in one transaction every
// snapshot taken in the database gets slower. A batch with a refused write
// is rolled back and runs again with a savepoint per write, so that only
// that write fails. Every write's statements and callbacks run again then,
// which they allow: their callbacks only keep what they read.
func (c *committer) transaction(ctx context.Context, writes []*write) error {
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Release()
	err = c.attempt(ctx, conn, writes, false)
	if errors.Is(err, errRefused) {
		err = c.attempt(ctx, conn, writes, true)
	}
	return err
}

// errRefused is a batch run without savepoints that the database refused
// a statement of.
var errRefused = errors.New("a statement was refused")

// attempt runs the writes in a transaction of their own on conn, with or
// without a savepoint each, and commits it.
func (c *committer) attempt(ctx context.Context, conn *pgxpool.Conn, writes []*write, savepoints bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	// After a commit the rollback does nothing; after a failure, when the
	// connection still works, it leaves it clean for the next batch.
	defer tx.Rollback(ctx)

	for pending := writes; len(pending) > 0; {
		ran, err := c.pipeline(ctx, tx, pending, savepoints)
		if err == nil {
			break
		}
		var failed *pgconn.PgError
		switch {
		case !errors.As(err, &failed):
			return fmt.Errorf("postgres: %w", err)
		case !savepoints:
			return errRefused
		}
		// A statement the database refused stopped the pipeline: the
		// writes before it ran, the writes after it did not. Only that
		// statement's write fails; the others carry on.
		if err := rollBackWrite(ctx, tx); err != nil {
			return fmt.Errorf("postgres: roll back a failed write (%v): %w", failed, err)
		}
		pending[ran].result = failed
		pending = pending[ran+1:]
	}
	if err := tx.Commit(ctx); err != nil {
		// The COMMIT was sent: the server may have committed it and lost
		// only its answer.
		return fmt.Errorf("postgres: commit: %w: %w", flashsale.ErrWriteInDoubt, err)
	}
	return nil
}

// pipeline sends the writes' statements in one round trip, each write
// between a savepoint and its release when savepoints is set, and returns
// how many writes ran to their release. When it fails, writes[ran] is the
// write it stopped in.
//
// Without savepoints the batch stands or falls as a whole, and its new
// orders share one statement, sent last. With them, each new order has
// the statement to itself (its queue), so that a refused one fails alone.
//
// A savepoint name may be reused: each write releases its savepoint before
// the next one sets it, so "write" always names the current write's.
func (c *committer) pipeline(ctx context.Context, tx pgx.Tx, writes []*write, savepoints bool) (ran int, err error) {
	b := &pgx.Batch{}
	var orders []*write
	for _, w := range writes {
		switch {
		case !savepoints && w.order != nil:
			orders = append(orders, w)
		case !savepoints:
			w.queue(b)
		default:
			b.Queue("SAVEPOINT write")
			w.queue(b)
			b.Queue("RELEASE SAVEPOINT write").Exec(func(pgconn.CommandTag) error {
				ran++
				return nil
			})
		}
	}
	if len(orders) > 0 {
		c.queueOrders(b, orders)
	}
	err = tx.SendBatch(ctx, b).Close()
	return ran, err
}

// rollBackWrite undoes the failed write's statements and drops its
// savepoint, so that savepoints do not pile up in a batch with failures.
// It is one simple-protocol query: in the aborted transaction the server
// would not even prepare the RELEASE, as a pipeline would have it do.
func rollBackWrite(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write", pgx.QueryExecModeSimpleProtocol)
	return err
}
