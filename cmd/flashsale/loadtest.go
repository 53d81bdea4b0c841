package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/flashsale/flashsale/auth"
	"github.com/flashsale/flashsale/loadtest"
)

// loadtestCommand drives a running service over HTTP, or with --embedded an
// embedded-mode server it starts in this process, and exits non-zero when
// an invariant is violated.
func loadtestCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flashsale loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	build := loadtest.RegisterFlags(fs)
	embedded := fs.Bool("embedded", false, "start an embedded-mode server in this process and drive it")
	secret := fs.String("jwt-secret", getenv("FLASHSALE_JWT_SECRET"), "the service's HS256 secret, to mint user tokens ($FLASHSALE_JWT_SECRET)")
	jsonPath := fs.String("json", "", "write the JSON report to this file")
	htmlPath := fs.String("html", "", "write the HTML report to this file")
	serverLimits := fs.String("embedded-rate-limit-order-user", "1/s,10/m", "with --embedded: the server's per-user place-order limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := build()
	if err != nil {
		return err
	}
	if *embedded {
		if *secret == "" {
			if *secret, err = auth.GenerateSecret(); err != nil {
				return err
			}
		}
		dataDir, err := os.MkdirTemp("", "flashsale-loadtest-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
		env := map[string]string{
			"FLASHSALE_ADDR": "127.0.0.1:0", "FLASHSALE_DATA_DIR": dataDir, "FLASHSALE_JWT_SECRET": *secret,
			// Every simulated shopper comes from 127.0.0.1: a per-IP limit
			// would measure one shopper, not the herd.
			"FLASHSALE_RATE_LIMIT_IP": "off", "FLASHSALE_RATE_LIMIT_ORDER_USER": *serverLimits,
			// The generator is the users' proxy: each user's own address
			// in X-Forwarded-For reaches the risk score, which would
			// otherwise see every shopper behind one address.
			"FLASHSALE_TRUSTED_PROXIES": "127.0.0.1/32,::1/128",
			"FLASHSALE_LOG_LEVEL":       "error",
			// So that the embedded server can be profiled where it runs.
			"FLASHSALE_PPROF_ADDR": getenv("FLASHSALE_PPROF_ADDR"),
		}
		// The server's log and the generator's progress share stderr.
		stderr = &lockedWriter{w: stderr}
		url, stop, err := startEmbedded(ctx, func(k string) string { return env[k] }, stderr)
		if err != nil {
			return err
		}
		defer stop()
		cfg.BaseURL = url
		given := false
		fs.Visit(func(f *flag.Flag) { given = given || f.Name == "forwarded-for" })
		if !given {
			cfg.ForwardedFor = true
		}
	}
	if cfg.BaseURL == "" {
		return errors.New("loadtest: give -url of a running service, or --embedded")
	}
	if *secret == "" {
		return errors.New("loadtest: set FLASHSALE_JWT_SECRET (or --jwt-secret) to the service's secret")
	}
	authenticator, err := auth.NewHS256([]byte(*secret))
	if err != nil {
		return err
	}
	cfg.MintToken = func(user string, admin bool) (string, error) {
		return authenticator.Mint(user, admin, 24*time.Hour)
	}
	report, err := loadtest.Run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if err := loadtest.WriteText(stdout, report); err != nil {
		return err
	}
	for path, write := range map[string]func(io.Writer, *loadtest.Report) error{*jsonPath: loadtest.WriteJSON, *htmlPath: loadtest.WriteHTML} {
		if path == "" {
			continue
		}
		if err := writeFile(path, report, write); err != nil {
			return err
		}
	}
	if !report.OK() {
		return fmt.Errorf("loadtest: %d invariant violations", len(report.Violations))
	}
	return nil
}

func writeFile(path string, r *loadtest.Report, write func(io.Writer, *loadtest.Report) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startEmbedded runs 'flashsale serve' in this process and returns its URL
// and a function that shuts it down gracefully.
func startEmbedded(ctx context.Context, getenv func(string) string, stderr io.Writer) (string, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	out := &lineWatcher{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"flashsale", "serve"}, getenv, out, stderr) }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-done:
			cancel()
			return "", nil, fmt.Errorf("embedded server: %w", err)
		case <-deadline:
			cancel()
			return "", nil, errors.New("embedded server did not start within 30 s")
		case <-time.After(10 * time.Millisecond):
		}
		if url := out.url(); url != "" {
			return url, func() { cancel(); <-done }, nil
		}
	}
}

// lockedWriter lets goroutines share a writer that is not safe for
// concurrent use (a test's buffer), each write whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
