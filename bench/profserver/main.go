// Command profserver is 'flashsale serve' in embedded mode with
// net/http/pprof on a second, loopback-only address, for profiling the
// service under the benchmark scripts' load:
//
//	go run ./bench/profserver -addr 127.0.0.1:18080 -pprof 127.0.0.1:16060 -data-dir /tmp/prof
//	go tool pprof -top 'http://127.0.0.1:16060/debug/pprof/profile?seconds=10'
//	curl 'http://127.0.0.1:16060/debug/pprof/goroutine?debug=1'
//
// It wires the hot path as cmd/flashsale/serve.go does (memory inventory,
// SQLite store, payment simulator, http.NewServer with limits and
// shedding) with serve's defaults, because 'flashsale serve' has no pprof
// endpoint. It leaves out what the benchmarks do not exercise: the
// notification dispatcher and its channels, and the event streams (order
// events are still written to the store's outbox, as in serve). Settings
// are flags here, not FLASHSALE_* variables, except FLASHSALE_JWT_SECRET.
// Once serve has a pprof listener of its own, this program can go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	rpprof "runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flashsale/flashsale/auth"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/sqlite"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "API listen address")
	pprofAddr := flag.String("pprof", "127.0.0.1:16060", "pprof listen address")
	dataDir := flag.String("data-dir", "", "data folder (default: a temporary one)")
	orderUser := flag.String("rate-limit-order-user", "off", "per-user place-order limit, as FLASHSALE_RATE_LIMIT_ORDER_USER")
	ipLimit := flag.String("rate-limit-ip", "off", "per-IP limit, as FLASHSALE_RATE_LIMIT_IP")
	throttle := flag.String("throttle", "off", "as FLASHSALE_THROTTLE")
	maxInflight := flag.Int("max-inflight", 4096, "as FLASHSALE_MAX_INFLIGHT (0: off)")
	shedWait := flag.Duration("shed-wait", 20*time.Millisecond, "as FLASHSALE_SHED_WAIT")
	invConcurrency := flag.Int("inventory-concurrency", 256, "as FLASHSALE_INVENTORY_CONCURRENCY (0: no bound)")
	invWait := flag.Duration("inventory-wait", 50*time.Millisecond, "as FLASHSALE_INVENTORY_WAIT")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	mutexFraction := flag.Int("mutex-fraction", 0, "runtime.SetMutexProfileFraction (0: off)")
	blockRate := flag.Int("block-rate", 0, "runtime.SetBlockProfileRate in ns (0: off)")
	flag.Parse()
	if err := run(*addr, *pprofAddr, *dataDir, *orderUser, *ipLimit, *throttle, *maxInflight, *shedWait,
		*invConcurrency, *invWait, *cpuProfile, *mutexFraction, *blockRate); err != nil {
		log.Fatal(err)
	}
}

func run(addr, pprofAddr, dataDir, orderUser, ipLimit, throttleSpec string, maxInflight int, shedWait time.Duration,
	invConcurrency int, invWait time.Duration, cpuProfile string, mutexFraction, blockRate int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runtime.SetMutexProfileFraction(mutexFraction)
	runtime.SetBlockProfileRate(blockRate)
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		if err := rpprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { rpprof.StopCPUProfile(); f.Close() }()
	}

	secret := os.Getenv("FLASHSALE_JWT_SECRET")
	if secret == "" {
		return errors.New("set FLASHSALE_JWT_SECRET")
	}
	authenticator, err := auth.NewHS256([]byte(secret))
	if err != nil {
		return err
	}
	userPolicy, err := ratelimit.ParsePolicy(orderUser)
	if err != nil {
		return fmt.Errorf("-rate-limit-order-user: %w", err)
	}
	ipPolicy, err := ratelimit.ParsePolicy(ipLimit)
	if err != nil {
		return fmt.Errorf("-rate-limit-ip: %w", err)
	}
	throttle, err := http.ParseThrottle(throttleSpec)
	if err != nil {
		return fmt.Errorf("-throttle: %w", err)
	}
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "flashsale-profserver-"); err != nil {
			return err
		}
		defer os.RemoveAll(dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	store, err := sqlite.Open(ctx, filepath.Join(dataDir, "flashsale.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	if invConcurrency == 0 {
		invConcurrency = -1 // checkout: negative is no bound, zero its default
	}
	service, err := checkout.New(checkout.Config{
		Inventory: memory.NewInventory(), Store: store, Payments: paysim.New(paysim.Options{}),
		MaxPaymentAttempts: 3, PaymentTimeout: 10 * time.Second,
		InventoryConcurrency: invConcurrency, InventoryWait: invWait, Logger: logger,
	})
	if err != nil {
		return err
	}
	if err := service.Rebuild(ctx); err != nil {
		return err
	}
	handler := http.NewServer(http.Deps{
		Checkout: service,
		Verify: func(token string) (http.Identity, error) {
			claims, err := authenticator.Verify(token)
			return http.Identity{UserID: claims.UserID, Admin: claims.Admin}, err
		},
		Limits:   &http.Limits{Limiter: ratelimit.NewMemory(), IP: ipPolicy, OrderUser: userPolicy, Throttle: throttle},
		Shedding: http.NewShedder(maxInflight, shedWait),
		Ready:    func(r *nethttp.Request) error { return store.Ping(r.Context()) },
		Registry: prometheus.NewRegistry(),
		Logger:   logger,
	})

	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	go service.RunTimeouts(background, 250*time.Millisecond, 30*time.Second)

	pprofMux := nethttp.NewServeMux()
	pprofMux.HandleFunc("/debug/pprof/", pprof.Index)
	pprofMux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	pprofMux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	pprofMux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	pprofListener, err := net.Listen("tcp", pprofAddr)
	if err != nil {
		return err
	}
	go func() { _ = nethttp.Serve(pprofListener, pprofMux) }()

	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &nethttp.Server{
		Handler: handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: log.New(io.Discard, "", 0),
	}
	fmt.Printf("flashsale listening on http://%s (embedded mode, data in %s); pprof on http://%s/debug/pprof/\n",
		listener.Addr(), dataDir, pprofListener.Addr())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(shutdown)
	}()
	if err := server.Serve(listener); err != nil && !errors.Is(err, nethttp.ErrServerClosed) {
		return err
	}
	return nil
}
