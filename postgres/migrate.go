package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the schema's pending migrations to the database at url,
// in the first schema of its search_path. Open calls it; it is exported for
// `flashsale migrate`, which migrates before a deployment.
//
// Instances that start together migrate one after another: each waits for
// the others' migrations to end, then finds nothing left to do.
func Migrate(ctx context.Context, url string) error {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return migrate(ctx, cfg)
}

func migrate(ctx context.Context, cfg *pgxpool.Config) error {
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	// goose's own session locker covers the migrations but not the
	// creation of its version table, which instances that start together
	// race on (goose retries that after a second). An advisory lock held
	// by a session of its own covers the whole of Up. Its key is the
	// schema's, so that the schemas of one database (a test run each)
	// migrate in parallel.
	lock, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	// Ending the session releases the lock, whatever happened.
	defer lock.Close(context.WithoutCancel(ctx))
	_, err = lock.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended('flashsale migrations ' || current_schema(), 0))`)
	if err != nil {
		return fmt.Errorf("postgres: lock the schema for migrations: %w", err)
	}

	db := stdlib.OpenDB(*cfg.ConnConfig)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
