package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// durations matches the times in a report (a package's 1.055s, a test's
// (0.00s)), which differ between recordings of the same tests.
var durations = regexp.MustCompile(`\d+\.\d+s\b`)

// report summarizes the recorded stream testdata/name and returns the
// report's lines, with every duration written #s, and the exit status.
func report(t *testing.T, name string) ([]string, int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	status := summarize(f, &out)
	text := durations.ReplaceAllString(out.String(), "#s")
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n"), status
}

// TestReport reads streams of the real go test -json (testdata/record.sh
// recorded them from a throwaway module with a package per case) and
// checks the report's lines and exit status: the whole report, or where
// it is long (a stack trace) the lines it must have, in their order, and
// what it must not show.
func TestReport(t *testing.T) {
	summaryHead := []string{"", "== test summary"}
	cases := []struct {
		stream string
		status int
		exact  bool     // lines is the whole report, not lines in it
		lines  []string // in this order
		absent []string // found nowhere in the report
	}{{
		stream: "pass.json",
		exact:  true,
		lines: slices.Concat([]string{
			"ok  \texample.com/tsgen/pass\t#s",
		}, summaryHead, []string{
			"packages: 1 ok, 0 failed, 0 without test files",
			"tests: 4 passed, 0 failed, 0 skipped (subtests counted too)",
			"PASS",
		}),
	}, {
		stream: "fail.json",
		status: 1,
		exact:  true,
		lines: slices.Concat([]string{
			// Every line of the failed tests, none of the passing ones'
			// (TestSubFails/ok logged a line).
			"=== RUN   TestFails",
			"    fail_test.go:11: before the check",
			"    fail_test.go:12: total = 41, want 42",
			"        second line of the message",
			"--- FAIL: TestFails (#s)",
			"=== RUN   TestSubFails",
			"=== RUN   TestSubFails/bad",
			"printed to stdout by the subtest",
			"    fail_test.go:19: the bad case failed",
			"--- FAIL: TestSubFails/bad (#s)",
			"--- FAIL: TestSubFails (#s)",
			"FAIL\texample.com/tsgen/fail\t#s",
		}, summaryHead, []string{
			"packages: 0 ok, 1 failed, 0 without test files",
			"tests: 2 passed, 3 failed, 0 skipped (subtests counted too)",
			"failed:",
			"  example.com/tsgen/fail TestFails",
			"  example.com/tsgen/fail TestSubFails/bad",
			"  example.com/tsgen/fail TestSubFails",
			"FAIL",
		}),
	}, {
		stream: "skip.json",
		exact:  true,
		lines: slices.Concat([]string{
			"ok  \texample.com/tsgen/skip\t#s\t(5 skipped)",
		}, summaryHead, []string{
			"packages: 1 ok, 0 failed, 0 without test files",
			"tests: 2 passed, 0 failed, 5 skipped (subtests counted too)",
			"skipped:",
			"  example.com/tsgen/skip TestNeedsRedis (skip_test.go:12): TSGEN_REDIS_URL is not set and Redis does not answer at redis://localhost:6379",
			"  example.com/tsgen/skip TestSkipMultiline (skip_test.go:17): no Chromium:",
			"      set TSGEN_CHROME or install chromium",
			// It logged "probing the server" first: the reason is the last.
			"  example.com/tsgen/skip TestLogThenSkip (skip_test.go:22): the server is too old",
			"  example.com/tsgen/skip TestSkipNoMessage: (no message)",
			"  example.com/tsgen/skip TestParallelSkip (skip_test.go:31): parallel test skipped",
			"PASS",
		}),
	}, {
		stream: "subtest-skip.json",
		exact:  true,
		lines: slices.Concat([]string{
			"ok  \texample.com/tsgen/subskip\t#s\t(3 skipped)",
		}, summaryHead, []string{
			"packages: 1 ok, 0 failed, 0 without test files",
			"tests: 5 passed, 0 failed, 3 skipped (subtests counted too)",
			"skipped:",
			"  example.com/tsgen/subskip TestDeployments/distributed (subskip_test.go:9): no PostgreSQL at postgres://localhost:5432",
			"  example.com/tsgen/subskip TestNestedSkip/outer/inner (subskip_test.go:19): inner skipped two levels down",
			"  example.com/tsgen/subskip TestWholeSkip (subskip_test.go:25): skipped before any subtest",
			"PASS",
		}),
	}, {
		stream: "panic.json",
		status: 1,
		lines: slices.Concat([]string{
			"=== RUN   TestPanics",
			"    panic_test.go:17: about to index",
			"--- FAIL: TestPanics (#s)",
			"panic: runtime error: index out of range [3] with length 0 [recovered, repanicked]",
			"created by testing.(*T).Run in goroutine 1",
			"FAIL\texample.com/tsgen/panic\t#s",
		}, summaryHead, []string{
			"packages: 0 ok, 1 failed, 0 without test files",
			"tests: 1 passed, 1 failed, 0 skipped, 1 did not finish (subtests counted too)",
			"failed:",
			"  example.com/tsgen/panic TestPanics",
			// Paused for t.Parallel when TestPanics took the binary down.
			"  example.com/tsgen/panic TestParallelWaits (did not finish)",
			"FAIL",
		}),
		// It printed nothing of its own: only the summary names it.
		absent: []string{"=== PAUSE TestParallelWaits", "--- DID NOT FINISH"},
	}, {
		stream: "build-failure.json",
		status: 1,
		exact:  true,
		lines: slices.Concat([]string{
			"# example.com/tsgen/buildfail [example.com/tsgen/buildfail.test]",
			"buildfail/buildfail_test.go:6:17: cannot use Half(4) (value of type int) as string value in variable declaration",
			"FAIL\texample.com/tsgen/buildfail [build failed]",
		}, summaryHead, []string{
			"packages: 0 ok, 1 failed, 0 without test files",
			"tests: 0 passed, 0 failed, 0 skipped (subtests counted too)",
			"failed:",
			"  example.com/tsgen/buildfail [build failed]",
			"FAIL",
		}),
	}, {
		// go vet's finding fails the build too; a broken dependency's
		// errors are printed once for the two packages it fails.
		stream: "vet-and-dependency-failure.json",
		status: 1,
		exact:  true,
		lines: slices.Concat([]string{
			"# example.com/tsgen/depfail/dep",
			`depfail/dep/dep.go:3:28: cannot use "x" (untyped string constant) as int value in return statement`,
			"# example.com/tsgen/vetfail",
			"# [example.com/tsgen/vetfail]",
			`vetfail/vetfail_test.go:9:14: fmt.Printf format %d has arg "not a number" of wrong type string`,
			"FAIL\texample.com/tsgen/vetfail [build failed]",
			"FAIL\texample.com/tsgen/depfail [build failed]",
			"FAIL\texample.com/tsgen/depfail/dep [build failed]",
		}, summaryHead, []string{
			"packages: 0 ok, 3 failed, 0 without test files",
			"tests: 0 passed, 0 failed, 0 skipped (subtests counted too)",
			"failed:",
			"  example.com/tsgen/vetfail [build failed]",
			"  example.com/tsgen/depfail [build failed]",
			"  example.com/tsgen/depfail/dep [build failed]",
			"FAIL",
		}),
	}, {
		// A package that is not there: no build, go test calls it a
		// setup failure.
		stream: "setup-failure.json",
		status: 1,
		lines: slices.Concat([]string{
			"# ./nosuchpkg",
			"FAIL\t./nosuchpkg [setup failed]",
		}, summaryHead, []string{
			"packages: 0 ok, 1 failed, 0 without test files",
			"tests: 0 passed, 0 failed, 0 skipped (subtests counted too)",
			"failed:",
			"  ./nosuchpkg [setup failed]",
			"FAIL",
		}),
	}, {
		stream: "no-test-files.json",
		exact:  true,
		lines: slices.Concat([]string{
			"?   \texample.com/tsgen/notests\t[no test files]",
		}, summaryHead, []string{
			"packages: 0 ok, 0 failed, 1 without test files",
			"tests: 0 passed, 0 failed, 0 skipped (subtests counted too)",
			"PASS",
		}),
	}, {
		// -timeout: the binary panics in the test that hangs, which then
		// never gets a result.
		stream: "timeout.json",
		status: 1,
		lines: slices.Concat([]string{
			"=== RUN   TestHangs",
			"    timeout_test.go:11: waiting for a reply that never comes",
			"panic: test timed out after 3s",
			"created by testing.(*T).Run in goroutine 1",
			"--- DID NOT FINISH: TestHangs",
			"FAIL\texample.com/tsgen/timeout\t#s",
		}, summaryHead, []string{
			"packages: 0 ok, 1 failed, 0 without test files",
			"tests: 1 passed, 0 failed, 0 skipped, 1 did not finish (subtests counted too)",
			"failed:",
			"  example.com/tsgen/timeout TestHangs (did not finish)",
			"FAIL",
		}),
		absent: []string{"TestQuick"},
	}, {
		// go test and its test binary killed mid-test: no result.
		stream: "killed.json",
		status: 1,
		exact:  true,
		lines: slices.Concat([]string{
			"=== RUN   TestHangs",
			"    timeout_test.go:11: waiting for a reply that never comes",
			"--- DID NOT FINISH: TestHangs",
			"FAIL\texample.com/tsgen/timeout\t(no result: the input ended before the package did)",
		}, summaryHead, []string{
			"packages: 0 ok, 1 failed, 0 without test files",
			"tests: 1 passed, 0 failed, 0 skipped, 1 did not finish (subtests counted too)",
			"failed:",
			"  example.com/tsgen/timeout TestHangs (did not finish)",
			"  example.com/tsgen/timeout (no result: the input ended before the package did)",
			"FAIL",
		}),
	}, {
		// All of it in one go test ./..., packages running two at a
		// time: each package's failures stay just above its FAIL line.
		stream: "all.json",
		status: 1,
		lines: slices.Concat([]string{
			"# example.com/tsgen/buildfail [example.com/tsgen/buildfail.test]",
			"FAIL\texample.com/tsgen/buildfail [build failed]",
			"# example.com/tsgen/depfail/dep",
			"FAIL\texample.com/tsgen/depfail [build failed]",
			"FAIL\texample.com/tsgen/depfail/dep [build failed]",
			"=== RUN   TestFails",
			"--- FAIL: TestSubFails (#s)",
			"FAIL\texample.com/tsgen/fail\t#s",
			"?   \texample.com/tsgen/notests\t[no test files]",
			"=== RUN   TestPanics",
			"FAIL\texample.com/tsgen/panic\t#s",
			"ok  \texample.com/tsgen/skip\t#s\t(5 skipped)",
			"ok  \texample.com/tsgen/pass\t#s",
			"ok  \texample.com/tsgen/subskip\t#s\t(3 skipped)",
			"# example.com/tsgen/vetfail",
			"FAIL\texample.com/tsgen/vetfail [build failed]",
			"=== RUN   TestHangs",
			"panic: test timed out after 15s",
			"--- DID NOT FINISH: TestHangs",
			"FAIL\texample.com/tsgen/timeout\t#s",
		}, summaryHead, []string{
			"packages: 3 ok, 7 failed, 1 without test files",
			"tests: 15 passed, 4 failed, 8 skipped, 2 did not finish (subtests counted too)",
			"failed:",
			"  example.com/tsgen/buildfail [build failed]",
			"  example.com/tsgen/depfail [build failed]",
			"  example.com/tsgen/depfail/dep [build failed]",
			"  example.com/tsgen/fail TestFails",
			"  example.com/tsgen/fail TestSubFails/bad",
			"  example.com/tsgen/fail TestSubFails",
			"  example.com/tsgen/panic TestPanics",
			"  example.com/tsgen/panic TestParallelWaits (did not finish)",
			"  example.com/tsgen/vetfail [build failed]",
			"  example.com/tsgen/timeout TestHangs (did not finish)",
			"skipped:",
			"  example.com/tsgen/skip TestNeedsRedis (skip_test.go:12): TSGEN_REDIS_URL is not set and Redis does not answer at redis://localhost:6379",
			"  example.com/tsgen/skip TestSkipMultiline (skip_test.go:17): no Chromium:",
			"      set TSGEN_CHROME or install chromium",
			"  example.com/tsgen/skip TestLogThenSkip (skip_test.go:22): the server is too old",
			"  example.com/tsgen/skip TestSkipNoMessage: (no message)",
			"  example.com/tsgen/skip TestParallelSkip (skip_test.go:31): parallel test skipped",
			"  example.com/tsgen/subskip TestDeployments/distributed (subskip_test.go:9): no PostgreSQL at postgres://localhost:5432",
			"  example.com/tsgen/subskip TestNestedSkip/outer/inner (subskip_test.go:19): inner skipped two levels down",
			"  example.com/tsgen/subskip TestWholeSkip (subskip_test.go:25): skipped before any subtest",
			"FAIL",
		}),
		absent: []string{
			"a log line that a passing test prints",
			"a passing subtest's log",
			"=== RUN   TestRuns",
			"probing the server",
		},
	}}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.stream, ".json"), func(t *testing.T) {
			got, status := report(t, c.stream)
			if status != c.status {
				t.Errorf("exit status %d, want %d", status, c.status)
			}
			if c.exact {
				if !slices.Equal(got, c.lines) {
					t.Errorf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.lines, "\n"))
				}
			} else if missing := notInOrder(got, c.lines); missing != "" {
				t.Errorf("report lacks the line %q (or has it out of order):\n%s", missing, strings.Join(got, "\n"))
			}
			text := strings.Join(got, "\n")
			for _, a := range c.absent {
				if strings.Contains(text, a) {
					t.Errorf("report shows %q:\n%s", a, text)
				}
			}
		})
	}
}

// notInOrder returns the first of want that is not among got's lines
// after the one before it, or "" when all of want is in got in order.
func notInOrder(got, want []string) string {
	i := 0
	for _, w := range want {
		for i < len(got) && got[i] != w {
			i++
		}
		if i == len(got) {
			return w
		}
		i++
	}
	return ""
}

// TestReportStreams checks that a package's line is written as the
// package ends, not when the input does: CI shows progress as it goes.
func TestReportStreams(t *testing.T) {
	events, err := os.ReadFile(filepath.Join("testdata", "all.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Up to the pass of the first package that passed (its "ok" line).
	end := bytes.Index(events, []byte(`"Action":"pass","Package":"example.com/tsgen/skip","Elapsed"`))
	end += bytes.IndexByte(events[end:], '\n') + 1

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	status := make(chan int, 1)
	go func() {
		status <- summarize(inR, outW)
		outW.Close()
	}()
	go func() {
		// The rest of the stream is held back until the line was read.
		inW.Write(events[:end])
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(outR)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	timeout := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case line := <-lines:
			seen = strings.HasPrefix(line, "ok  \texample.com/tsgen/skip\t")
		case <-timeout:
			t.Fatal("no line for example.com/tsgen/skip while the input was still open")
		}
	}

	go func() {
		inW.Write(events[end:])
		inW.Close()
	}()
	for range lines {
	}
	if got := <-status; got != 1 {
		t.Errorf("exit status %d, want 1", got)
	}
}

// TestKeepsOnlyWhatIsRunning checks that memory is bounded by the output
// of the tests still running: a finished test's output, and a finished
// package's, are let go.
func TestKeepsOnlyWhatIsRunning(t *testing.T) {
	feed := func(s *summary, name string) {
		t.Helper()
		events, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.SplitAfter(events, []byte("\n")) {
			if len(line) > 0 {
				s.line(line)
			}
		}
	}

	s := newSummary(io.Discard)
	feed(s, "all.json")
	if len(s.packages) != 0 || len(s.builds) != 0 {
		t.Errorf("after every package ended, %d packages and %d builds are kept", len(s.packages), len(s.builds))
	}

	s = newSummary(io.Discard)
	feed(s, "killed.json") // TestQuick passed, TestHangs runs
	p := s.packages["example.com/tsgen/timeout"]
	if p == nil {
		t.Fatal("the running package was not kept")
	}
	var running []string
	for name := range p.tests {
		running = append(running, name)
	}
	if !slices.Equal(running, []string{"TestHangs"}) || len(p.failed) != 0 {
		t.Errorf("tests kept: %v, failed output kept: %q; want only TestHangs", running, p.failed)
	}
}

func TestNoEvents(t *testing.T) {
	for _, input := range []string{"", "go: no packages to test\n"} {
		var out bytes.Buffer
		if status := summarize(strings.NewReader(input), &out); status != 1 {
			t.Errorf("input %q: exit status %d, want 1", input, status)
		}
		if !strings.Contains(out.String(), "no package results on the input") {
			t.Errorf("input %q: report does not say there were no results:\n%s", input, out.String())
		}
	}
}

// TestOtherLinesPassThrough: what is not an event (a go command's
// message where stderr was sent along) is printed as it came.
func TestOtherLinesPassThrough(t *testing.T) {
	events, err := os.ReadFile(filepath.Join("testdata", "pass.json"))
	if err != nil {
		t.Fatal(err)
	}
	input := "go: downloading example.com/x v1.0.0\n" + string(events) + "not json, no newline"
	var out bytes.Buffer
	if status := summarize(strings.NewReader(input), &out); status != 0 {
		t.Errorf("exit status %d, want 0", status)
	}
	got := strings.Split(out.String(), "\n")
	want := []string{"go: downloading example.com/x v1.0.0", "not json, no newline", "PASS"}
	if missing := notInOrder(got, want); missing != "" {
		t.Errorf("report lacks %q:\n%s", missing, out.String())
	}
}

func TestSkipReason(t *testing.T) {
	cases := []struct {
		name   string
		output []string
		where  string
		reason []string
	}{{
		name:   "message",
		output: []string{"=== RUN   TestX\n", "    x_test.go:7: no server\n", "--- SKIP: TestX (0.00s)\n"},
		where:  "x_test.go:7",
		reason: []string{"no server"},
	}, {
		name: "lines keep their indentation relative to each other",
		output: []string{
			"=== RUN   TestX\n", "    x_test.go:7: want:\n", "            a\n", "                b\n",
			"--- SKIP: TestX (0.00s)\n",
		},
		where:  "x_test.go:7",
		reason: []string{"want:", "a", "    b"},
	}, {
		name:   "the last message, after a log and a parallel test's framing",
		output: []string{"=== RUN   TestX\n", "    x_test.go:7: probing\n", "=== PAUSE TestX\n", "=== CONT  TestX\n", "    helper.go:30: too old\n", "--- SKIP: TestX (0.00s)\n"},
		where:  "helper.go:30",
		reason: []string{"too old"},
	}, {
		name:   "split across output events",
		output: []string{"=== RUN   TestX\n", "    x_test.go:7: no ", "server\n", "--- SKIP: TestX (0.00s)\n"},
		where:  "x_test.go:7",
		reason: []string{"no server"},
	}, {
		name:   "no file:line",
		output: []string{"=== RUN   TestX\n", "printed by the test\n", "--- SKIP: TestX (0.00s)\n"},
		reason: []string{"printed by the test"},
	}, {
		name:   "nothing",
		output: []string{"=== RUN   TestX\n", "--- SKIP: TestX (0.00s)\n"},
	}, {
		name:   "empty message",
		output: []string{"    x_test.go:7: \n"},
		where:  "x_test.go:7",
		reason: []string{""},
	}, {
		name:   "long",
		output: []string{"    x_test.go:7: 1\n", "        2\n        3\n        4\n        5\n        6\n        7\n        8\n        9\n        10\n        11\n        12\n"},
		where:  "x_test.go:7",
		reason: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "... (3 more lines)"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			where, reason := skipReason(c.output)
			if where != c.where || !slices.Equal(reason, c.reason) {
				t.Errorf("skipReason = %q, %q; want %q, %q", where, reason, c.where, c.reason)
			}
		})
	}
}
