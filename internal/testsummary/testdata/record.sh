#!/usr/bin/env bash
# Records the go test -json streams the tests of testsummary read: it
# writes a throwaway module (one package per case: a pass, a fail, skips
# with and without reasons, skipped subtests, a panic, build failures, a
# package without tests, a timeout) into a temporary directory, runs the
# real go test -json on it, and writes one stream per case here. The
# streams are kept as they are; run this again only to see what a newer
# Go writes (then look at what changed, and update the tests' lines).
#
#   internal/testsummary/testdata/record.sh
set -uo pipefail
out=$(cd "$(dirname "$0")" && pwd)
mod=$(mktemp -d)
trap 'rm -rf "$mod"' EXIT
cd "$mod"

cat > go.mod <<'EOF'
module example.com/tsgen

go 1.26.0
EOF
mkdir -p pass fail skip subskip panic buildfail notests timeout vetfail depfail/dep

cat > pass/pass.go <<'EOF'
package pass

func Add(a, b int) int { return a + b }
EOF
cat > pass/pass_test.go <<'EOF'
package pass

import "testing"

func TestAdd(t *testing.T) {
	t.Log("a log line that a passing test prints")
	if Add(1, 2) != 3 {
		t.Fatal("1+2 != 3")
	}
}

func TestAddTable(t *testing.T) {
	for _, c := range []struct {
		name       string
		a, b, want int
	}{{"zero", 0, 0, 0}, {"one", 1, 0, 1}} {
		t.Run(c.name, func(t *testing.T) {
			if got := Add(c.a, c.b); got != c.want {
				t.Errorf("Add(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
			}
		})
	}
}
EOF

cat > fail/fail_test.go <<'EOF'
package fail

import (
	"fmt"
	"testing"
)

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) {
	t.Log("before the check")
	t.Errorf("total = %d, want %d\nsecond line of the message", 41, 42)
}

func TestSubFails(t *testing.T) {
	t.Run("ok", func(t *testing.T) { t.Log("a passing subtest's log") })
	t.Run("bad", func(t *testing.T) {
		fmt.Println("printed to stdout by the subtest")
		t.Fatal("the bad case failed")
	})
}
EOF

cat > skip/skip_test.go <<'EOF'
package skip

import (
	"os"
	"testing"
)

func TestRuns(t *testing.T) {}

func TestNeedsRedis(t *testing.T) {
	if os.Getenv("TSGEN_REDIS_URL") == "" {
		t.Skip("TSGEN_REDIS_URL is not set and Redis does not answer at redis://localhost:6379")
	}
}

func TestSkipMultiline(t *testing.T) {
	t.Skipf("no Chromium:\nset TSGEN_CHROME or install chromium")
}

func TestLogThenSkip(t *testing.T) {
	t.Log("probing the server")
	t.Skip("the server is too old")
}

func TestSkipNoMessage(t *testing.T) {
	t.SkipNow()
}

func TestParallelSkip(t *testing.T) {
	t.Parallel()
	t.Skip("parallel test skipped")
}

func TestParallelPass(t *testing.T) {
	t.Parallel()
}
EOF

cat > subskip/subskip_test.go <<'EOF'
package subskip

import "testing"

func TestDeployments(t *testing.T) {
	for _, kind := range []string{"embedded", "distributed"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "distributed" {
				t.Skip("no PostgreSQL at postgres://localhost:5432")
			}
			t.Run("buy", func(t *testing.T) {})
		})
	}
}

func TestNestedSkip(t *testing.T) {
	t.Run("outer", func(t *testing.T) {
		t.Run("inner", func(t *testing.T) {
			t.Skip("inner skipped two levels down")
		})
	})
}

func TestWholeSkip(t *testing.T) {
	t.Skip("skipped before any subtest")
	t.Run("never", func(t *testing.T) {})
}
EOF

cat > panic/panic_test.go <<'EOF'
package panic

import (
	"testing"
	"time"
)

func TestBefore(t *testing.T) {}

func TestParallelWaits(t *testing.T) {
	t.Parallel()
	t.Log("waiting in parallel")
	time.Sleep(2 * time.Second)
}

func TestPanics(t *testing.T) {
	t.Log("about to index")
	var m map[string][]int
	_ = m["x"][3]
}

func TestAfter(t *testing.T) {}
EOF

cat > buildfail/buildfail.go <<'EOF'
package buildfail

func Half(n int) int { return n / 2 }
EOF
cat > buildfail/buildfail_test.go <<'EOF'
package buildfail

import "testing"

func TestHalf(t *testing.T) {
	var s string = Half(4)
	_ = s
}
EOF

cat > vetfail/vetfail_test.go <<'EOF'
package vetfail

import (
	"fmt"
	"testing"
)

func TestPrintf(t *testing.T) {
	fmt.Printf("%d\n", "not a number")
}
EOF
cat > depfail/dep/dep.go <<'EOF'
package dep

func Broken() int { return "x" }
EOF
cat > depfail/depfail_test.go <<'EOF'
package depfail

import (
	"testing"

	"example.com/tsgen/depfail/dep"
)

func TestUsesDep(t *testing.T) { _ = dep.Broken() }
EOF

cat > notests/notests.go <<'EOF'
package notests

func X() {}
EOF

cat > timeout/timeout_test.go <<'EOF'
package timeout

import (
	"testing"
	"time"
)

func TestQuick(t *testing.T) {}

func TestHangs(t *testing.T) {
	t.Log("waiting for a reply that never comes")
	time.Sleep(30 * time.Second)
}
EOF

record() { # file, go test arguments...
	local file=$1
	shift
	go test -race -count=1 -json "$@" > "$out/$file"
	echo "$file: go test exited $?, $(wc -l < "$out/$file") events"
}
record pass.json ./pass
record fail.json ./fail
record skip.json ./skip
record subtest-skip.json ./subskip
record panic.json ./panic
record build-failure.json ./buildfail
record vet-and-dependency-failure.json ./vetfail ./depfail/...
record no-test-files.json ./notests
record setup-failure.json ./nosuchpkg
record timeout.json -timeout 3s ./timeout
record all.json -timeout 15s ./...

# A killed run: go test and its test binary killed (as a CI job's time
# limit kills them) while TestHangs runs, so the stream just ends.
set -m
go test -race -count=1 -json ./timeout > "$out/killed.json" &
pid=$!
for _ in $(seq 60); do
	grep -q 'waiting for a reply' "$out/killed.json" && break
	sleep 0.5
done
kill -KILL -- -"$pid"
wait "$pid"
echo "killed.json: go test exited $?, $(wc -l < "$out/killed.json") events"
