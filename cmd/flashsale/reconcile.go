package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/deployment"
	"github.com/flashsale/flashsale/notify"
	"github.com/flashsale/flashsale/paysim"
)

// reconcile compares Redis with PostgreSQL for one sale or all of them,
// repairs the drift that can be repaired order by order while sales go on,
// and prints what it found and changed as JSON, one report per sale. It
// exits non-zero when an item is still inconsistent afterwards.
func reconcile(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flashsale reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{LogLevel: "warn"}
	fs.StringVar(&cfg.RedisURL, "redis-url", getenv("FLASHSALE_REDIS_URL"), "Redis URL ($FLASHSALE_REDIS_URL)")
	fs.StringVar(&cfg.PostgresURL, "postgres-url", getenv("FLASHSALE_POSTGRES_URL"), "PostgreSQL URL ($FLASHSALE_POSTGRES_URL)")
	fs.StringVar(&cfg.RedisPrefix, "redis-prefix", orDefault(getenv("FLASHSALE_REDIS_PREFIX"), "fs"), "start of every Redis key ($FLASHSALE_REDIS_PREFIX)")
	saleID := fs.String("sale", "", "the sale to reconcile (default: every sale)")
	fs.DurationVar(&cfg.OrphanGrace, "orphan-grace", 0, "release reservations with no order older than this ($FLASHSALE_ORPHAN_GRACE; default 30s, as serve)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if grace := getenv("FLASHSALE_ORPHAN_GRACE"); grace != "" && cfg.OrphanGrace == 0 {
		var err error
		if cfg.OrphanGrace, err = time.ParseDuration(grace); err != nil {
			return fmt.Errorf("FLASHSALE_ORPHAN_GRACE: %w", err)
		}
	}
	if kind, err := cfg.kind(); err != nil || kind == deployment.Embedded {
		return errors.Join(err, errors.New("reconcile compares Redis with PostgreSQL: set FLASHSALE_REDIS_URL and FLASHSALE_POSTGRES_URL "+
			"(an embedded server's inventory lives in its process: POST /admin/flash-sales/{sale_id}/reconcile to it)"))
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	deployed, err := cfg.deployment(log)
	if err != nil {
		return err
	}
	// Reconcile queues nothing: no connection to NATS.
	deployed.Queue = deployment.QueueNone
	backends, err := deployment.Open(ctx, deployed, notify.NewHub())
	if err != nil {
		return err
	}
	defer backends.Close()
	// Orders only journaled are no orphans: the deployment's store moves
	// them in before anything is compared.
	service, err := backends.Service(ctx, checkout.Config{
		// Reconcile charges nothing; a service needs a provider all the same.
		Payments: paysim.New(paysim.Options{}), Logger: log,
		OrphanGrace: cfg.OrphanGrace,
	})
	if err != nil {
		return err
	}

	saleIDs := []string{*saleID}
	if *saleID == "" {
		sales, err := service.Sales(ctx)
		if err != nil {
			return err
		}
		saleIDs = saleIDs[:0]
		for _, s := range sales {
			saleIDs = append(saleIDs, s.ID)
		}
	}
	out := json.NewEncoder(stdout)
	out.SetIndent("", "  ")
	var inconsistent []string
	for _, id := range saleIDs {
		report, err := service.Reconcile(ctx, id)
		if err != nil {
			return fmt.Errorf("sale %s: %w", id, err)
		}
		if err := out.Encode(report); err != nil {
			return err
		}
		for _, item := range report.Items {
			if !item.Consistent {
				inconsistent = append(inconsistent, item.ItemID)
			}
		}
	}
	if len(inconsistent) > 0 {
		return fmt.Errorf("items still inconsistent after the repair (where Redis lacked live orders the fleet is rebuilding it; run reconcile again once it has): %v",
			inconsistent)
	}
	return nil
}
