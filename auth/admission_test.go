package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/auth"
)

func TestAdmissionTokens(t *testing.T) {
	signer := auth.NewAdmissionSigner([]byte("secret-of-the-fleet"))
	now := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	token := signer.Mint("sale-1", "alice", now.Add(10*time.Minute))
	if !signer.Check(token, "sale-1", "alice", now) {
		t.Fatal("a fresh token for its own user and sale does not check")
	}
	if !auth.NewAdmissionSigner([]byte("secret-of-the-fleet")).Check(token, "sale-1", "alice", now) {
		t.Fatal("another instance with the same secret refuses the token")
	}
	tampered := []byte(token)
	tampered[len(tampered)-1] ^= 1
	for name, c := range map[string]struct {
		token, sale, user string
		at                time.Time
		signer            *auth.AdmissionSigner
	}{
		"expired":                 {token, "sale-1", "alice", now.Add(10 * time.Minute), signer},
		"another user's":          {token, "sale-1", "bob", now, signer},
		"another sale's":          {token, "sale-2", "alice", now, signer},
		"another secret's":        {token, "sale-1", "alice", now, auth.NewAdmissionSigner([]byte("another secret"))},
		"tampered":                {string(tampered), "sale-1", "alice", now, signer},
		"with a later expiry":     {strings.Replace(token, ".", ".9", 1), "sale-1", "alice", now, signer},
		"empty":                   {"", "sale-1", "alice", now, signer},
		"garbage":                 {"a1.x.y", "sale-1", "alice", now, signer},
		"unsigned":                {"a1.9999999999.", "sale-1", "alice", now, signer},
		"the same bytes shifted":  {signer.Mint("sale-1a", "lice", now.Add(time.Hour)), "sale-1", "alice", now, signer},
		"an expiry with a zero":   {strings.Replace(token, "a1.", "a1.0", 1), "sale-1", "alice", now, signer},
		"a bearer token's format": {"eyJhbGciOiJIUzI1NiJ9.e30.sig", "sale-1", "alice", now, signer},
	} {
		if c.signer.Check(c.token, c.sale, c.user, c.at) {
			t.Errorf("%s token checks", name)
		}
	}
}

func FuzzAdmissionCheckNeverAdmitsWhatWasNotMinted(f *testing.F) {
	signer := auth.NewAdmissionSigner([]byte("secret"))
	now := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	minted := signer.Mint("sale", "alice", now.Add(time.Minute))
	f.Add(minted, "sale", "alice")
	f.Add("a1.1900000000.AAAA", "sale", "alice")
	f.Fuzz(func(t *testing.T, token, sale, user string) {
		if signer.Check(token, sale, user, now) && !(token == minted && sale == "sale" && user == "alice") {
			t.Fatalf("%q checks for sale %q, user %q without being minted for them", token, sale, user)
		}
	})
}
