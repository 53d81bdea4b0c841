// Command flashsale runs the flash sale service and its tools.
//
//	flashsale serve      run the service (embedded mode by default)
//	flashsale token      mint a development JWT
//	flashsale migrate    apply the database migrations
//	flashsale reconcile  compare Redis with PostgreSQL and repair drift
//	flashsale loadtest   drive a running service with a thundering herd
//	flashsale verify-draw  check a published draw from its public documents
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "flashsale:", err)
		os.Exit(1)
	}
}

const usage = `usage: flashsale <command> [flags]

commands:
  serve      run the service (embedded mode unless Redis/PostgreSQL URLs are set)
  token      mint a JWT for a user or an admin (needs FLASHSALE_JWT_SECRET)
  migrate    apply the database migrations and exit
  reconcile  compare Redis with PostgreSQL, repair drift, print what changed
  loadtest   drive a running service (or an embedded one) with a thundering herd
  verify-draw  recompute a sale's published draw (--queue: its waiting room's pre-queue) and say whether it matches
  version    print the build's version (module version, VCS revision and time)

Run 'flashsale <command> -h' for the command's flags.
`

// run is the whole program, so tests can start it with their own
// arguments, environment and output. Asking a command for its help
// (-h, --help) is a success: the help is the answer.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := command(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	command, rest := args[1], args[2:]
	switch command {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "token":
		return token(rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "reconcile":
		return reconcile(ctx, rest, getenv, stdout, stderr)
	case "loadtest":
		return loadtestCommand(ctx, rest, getenv, stdout, stderr)
	case "verify-draw":
		return verifyDraw(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "flashsale", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", command)
}
