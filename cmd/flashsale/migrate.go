package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/postgres"
	"github.com/flashsale/flashsale/sqlite"
)

// migrate applies the store's migrations and exits; serve applies them too,
// so this is for operators who migrate before they deploy: the PostgreSQL
// database of distributed mode when a URL is given, else the embedded
// mode's SQLite file.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flashsale migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", orDefault(getenv("FLASHSALE_DATA_DIR"), "./data"), "embedded mode's data folder ($FLASHSALE_DATA_DIR)")
	postgresURL := fs.String("postgres-url", getenv("FLASHSALE_POSTGRES_URL"), "PostgreSQL URL of distributed mode ($FLASHSALE_POSTGRES_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *postgresURL != "" {
		if err := postgres.Migrate(ctx, *postgresURL); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "migrated %s\n", deployment.RedactURL(*postgresURL))
		return nil
	}
	if err := os.MkdirAll(*dataDir, 0o750); err != nil {
		return err
	}
	path := filepath.Join(*dataDir, "flashsale.db")
	store, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	if err := store.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %s\n", path)
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
