package challenge_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/challenge"
	"github.com/flashsale/flashsale/internal/testenv"
)

// altchaLib is the version of ALTCHA's JavaScript library the test solves
// with, as its widget does in a browser.
const altchaLib = "altcha-lib@2.8.0"

// A challenge solved by ALTCHA's own library is accepted: the format is
// ALTCHA's, so its widget and libraries work with the service as they are.
func TestALTCHALibrarySolvesOurChallenges(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not installed (Debian: apt-get install nodejs npm)")
	}
	modules := altchaModules(t)
	issuer := challenge.NewIssuer([]byte("fleet secret"))
	now := time.Now()
	// Paced: ALTCHA's libraries take the salt's parameters as they come.
	c, err := issuer.Issue("sale-1", "alice", 20_000, now.Add(time.Second), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	asJSON, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/solve.mjs")
	if err != nil {
		t.Fatal(err)
	}
	// ESM resolves packages from the script's folder up: run a copy that
	// sits beside node_modules.
	local := filepath.Join(filepath.Dir(modules), "solve.mjs")
	body, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(local, body, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, local, string(asJSON))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s could not solve the challenge: %v", altchaLib, err)
	}
	if _, ok := issuer.Check(strings.TrimSpace(string(out)), "sale-1", "alice", now); !ok {
		t.Fatalf("the solution %s made with %s is refused", out, altchaLib)
	}
}

// altchaModules installs the library once per machine, in the user's
// cache, and returns its node_modules folder.
func altchaModules(t *testing.T) string {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		testenv.Missing(t, "npm is not installed (Debian: apt-get install npm)")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "flashsale", strings.ReplaceAll(altchaLib, "@", "-"))
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "altcha-lib", "package.json")); err == nil {
		return modules
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	install := exec.CommandContext(t.Context(), npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", dir, altchaLib)
	if out, err := install.CombinedOutput(); err != nil {
		testenv.Missing(t, "npm could not install %s: %v\n%s", altchaLib, err, out)
	}
	return modules
}
