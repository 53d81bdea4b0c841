package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// keepStatistics analyzes each table a sale grows by thousands of rows a
// second once a fifth of it (and at least a thousand rows) has changed
// since its last ANALYZE, looking every period until ctx ends.
//
// The planner's statistics are autovacuum's to keep, but autovacuum looks
// at most once a minute (autovacuum_naptime), and a sale takes these tables
// from empty to tens of thousands of rows in seconds. Planned on the empty
// tables' statistics, each claim of due deliveries read and sorted every
// pending one (5 ms a claim, bench run with auto_explain), and each entry
// of a lottery read every entry of its item (the generic plan took the
// item's index, not the one of item and user: 84 entries a second at
// 130,000 entries, BenchmarkLotteryDraw with autovacuum off). An ANALYZE
// also has every connection plan its statements again.
func keepStatistics(ctx context.Context, pool *pgxpool.Pool, period time.Duration) {
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		err := analyzeChanged(ctx, pool)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			slog.Warn("postgres: keeping the busy tables' statistics; autovacuum is left to it", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
	}
}

// analyzeChanged analyzes the busy tables that changed enough. Every
// instance of a fleet looks; the one that takes the schema's advisory lock
// analyzes, the others leave it to that one, so a table is not analyzed
// by every instance at once.
func analyzeChanged(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var mine bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.flashsale.analyze'))`).Scan(&mine); err != nil || !mine {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT relname FROM pg_stat_user_tables
		WHERE schemaname = current_schema()
			AND relname IN ('orders', 'notifications', 'notification_deliveries', 'lottery_entries')
			AND n_mod_since_analyze > greatest(1000, n_live_tup / 5)`)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		return err
	}
	// The plans these statistics are for choose between an index and a
	// scan by how many rows match: a sample of 3,000 rows (300 times the
	// target) tells that as well as the default 30,000 does, for a tenth
	// of the work. At the default, the ANALYZEs of a rush cost PostgreSQL
	// a fifth of its CPU per order (pg_stat_statements, bench/profile.sh).
	if _, err := tx.Exec(ctx, "SET LOCAL default_statistics_target = 10"); err != nil {
		return err
	}
	for _, table := range tables {
		if _, err := tx.Exec(ctx, "ANALYZE "+pgx.Identifier{table}.Sanitize()); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}
