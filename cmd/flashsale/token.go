package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/flashsale/flashsale/auth"
)

// token mints a JWT signed with FLASHSALE_JWT_SECRET, for development and
// for driving a running service from scripts.
func token(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flashsale token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "user id (the token's sub)")
	admin := fs.Bool("admin", false, "grant the admin role")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	secret := fs.String("jwt-secret", getenv("FLASHSALE_JWT_SECRET"), "HS256 secret ($FLASHSALE_JWT_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *user == "":
		return errors.New("token: --user is required")
	case *secret == "":
		return errors.New("token: set FLASHSALE_JWT_SECRET (or --jwt-secret) to the secret the service uses")
	case *ttl <= 0:
		return errors.New("token: --ttl must be positive")
	}
	a, err := auth.NewHS256([]byte(*secret))
	if err != nil {
		return err
	}
	t, err := a.Mint(*user, *admin, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t)
	return nil
}
