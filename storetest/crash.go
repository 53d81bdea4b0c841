package storetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/flashsale/flashsale"
)

// crashChildEnv carries the store's address and the sale to the process
// KillWhileWriting starts.
const crashChildEnv = "FLASHSALE_STORETEST_CRASH_CHILD"

// Opener opens the store at address (a file, a URL).
type Opener func(tb testing.TB, address string) flashsale.OrderStore

// KillWhileWriting is the crash test every store runs: a process killed
// while it writes must lose no acknowledged order. It creates a sale in
// the store at address, starts this test binary's test named child (whose
// body is WriteUntilKilled), which creates orders as fast as it can and
// prints each id once CreateOrder returned, and kills it without warning,
// with commits in flight, once it has acknowledged 2,000. It returns the
// acknowledged ids, for the caller to find in the reopened store along
// with whatever else its store promises (an intact file, ...).
func KillWhileWriting(t *testing.T, child, address string, open Opener) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a process")
	}
	s := open(t, address)
	sale := newSale()
	if err := s.CreateSale(t.Context(), sale); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^"+child+"$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+address+"|"+sale.ID)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const acknowledged = 2000
	var ids []string
	lines := bufio.NewScanner(stdout)
	for len(ids) < acknowledged && lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			ids = append(ids, id)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(ids) < acknowledged {
		t.Fatalf("the child acknowledged %d orders before it ended, want %d", len(ids), acknowledged)
	}
	return ids
}

// WriteUntilKilled is the body of the child test of KillWhileWriting: it
// writes until it is killed. Run any other way, it skips.
func WriteUntilKilled(t *testing.T, open Opener) {
	env := os.Getenv(crashChildEnv)
	if env == "" {
		t.Skip("run by KillWhileWriting")
	}
	address, saleID, _ := strings.Cut(env, "|")
	s := open(t, address)
	sale, err := s.Sale(context.Background(), saleID)
	if err != nil {
		t.Fatal(err)
	}
	var print sync.Mutex
	var writers sync.WaitGroup
	for range 64 {
		writers.Go(func() {
			for {
				o := newOrder(&sale.Items[0], user(0), now)
				if err := s.CreateOrder(context.Background(), o); err != nil {
					fmt.Fprintln(os.Stderr, "create order:", err)
					os.Exit(1)
				}
				print.Lock()
				fmt.Printf("acked %s\n", o.ID)
				print.Unlock()
			}
		})
	}
	writers.Wait()
}
