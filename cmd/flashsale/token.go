package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/flashsale/flashsale"
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
	phone := fs.String("phone", "", "the account's phone number (claim phone_number), for sales with limits")
	verified := fs.Bool("phone-verified", false, "the phone number is verified (claim phone_number_verified)")
	age := fs.Duration("account-age", 0, "how old the account is (claim account_created_at), e.g. 720h for 30 days")
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
	case *age < 0:
		return errors.New("token: --account-age must not be negative")
	case *verified && *phone == "":
		return errors.New("token: --phone-verified needs --phone")
	}
	a, err := auth.NewHS256([]byte(*secret))
	if err != nil {
		return err
	}
	claims := auth.Claims{UserID: *user, Admin: *admin,
		Account: flashsale.Account{Phone: *phone, PhoneVerified: *verified}}
	if *age > 0 {
		claims.Account.CreatedAt = time.Now().Add(-*age)
	}
	t, err := a.MintClaims(claims, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t)
	return nil
}
