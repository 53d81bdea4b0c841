package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/auth"
)

// The token command writes the account's claims a sale's limits read.
func TestTokenWithAccountClaims(t *testing.T) {
	var out bytes.Buffer
	before := time.Now()
	args := []string{"flashsale", "token", "--user", "alice", "--phone", "+15550100", "--phone-verified", "--account-age", "720h"}
	if err := run(context.Background(), args, testEnv(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewHS256([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	age := before.Sub(c.Account.CreatedAt)
	if c.UserID != "alice" || c.Account.Phone != "+15550100" || !c.Account.PhoneVerified || age < 719*time.Hour || age > 721*time.Hour {
		t.Fatalf("claims %+v (account age %s)", c, age)
	}
	for _, bad := range [][]string{{"--phone-verified"}, {"--account-age", "-1h"}} {
		if err := run(context.Background(), append([]string{"flashsale", "token", "--user", "a"}, bad...), testEnv(""), io.Discard, io.Discard); err == nil {
			t.Errorf("token %v accepted", bad)
		}
	}
}
