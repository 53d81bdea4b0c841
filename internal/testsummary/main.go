// Command testsummary reads the events of go test -json on its standard
// input and prints what a person reading a CI log needs: a line per
// package as it finishes (ok, FAIL, ? ... [no test files], as go test
// prints them), the whole output of every failed test, of a test still
// running when its package ended (a timeout's panic) and of a package
// that failed outside any test (a build failure, a panic in TestMain),
// and at the end the counts and a list of every skipped test with the
// reason it printed, which go test alone hides in a passing package.
//
//	go test -race -json ./... | go run ./internal/testsummary
//
// It exits 1 when a test or a package failed, when the input ended
// before a package's result (a killed run) or held no package at all.
//
// It streams: it prints each package's lines when the package ends, and
// keeps only what it has yet to print: the output of the packages still
// running (of their running and failed tests, and their own), the names
// of the failed tests and the skipped tests' reasons. A test's output is
// dropped when it passes or skips, a package's when it ends.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: go test -json ./... | go run ./internal/testsummary")
		os.Exit(2)
	}
	os.Exit(summarize(os.Stdin, os.Stdout))
}

// summarize reports the go test -json stream r on w and returns the exit
// status: 0 when every package passed (or had no tests), else 1.
func summarize(r io.Reader, w io.Writer) int {
	s := newSummary(w)
	in := bufio.NewReader(r)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			s.line(line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "testsummary: reading the events: %v\n", err)
			s.readFailed = true
			break
		}
	}
	return s.finish()
}

// event is one of test2json's events (go doc test2json). Build output
// (Go 1.24+) has ImportPath instead of Package, and a package whose
// build failed names the failed build in FailedBuild.
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string
	FailedBuild string
}

type summary struct {
	w   io.Writer
	err error // the first failed write to w

	packages map[string]*pkg     // the packages started and not yet ended
	builds   map[string][]string // build output by import path, until its build-fail
	seq      int                 // orders packages and tests by start

	sawPackage, readFailed bool

	okPackages, failedPackages, noTestPackages int
	passed, failed, skipped, unfinished        int

	failures []string // a line per failed test or package, for the summary
	skips    []skip
}

type pkg struct {
	name     string
	seq      int
	output   []string // its output outside any test: chunks as received
	result   string   // go test's own result line ("ok  \tpkg\t1.2s"), if seen
	failed   []string // the output of its failed tests, printed above its result
	tests    map[string]*test
	failures int // its tests that failed or did not finish
	skips    int
}

type test struct {
	name   string
	seq    int
	output []string // chunks as received, and its failed subtests' output
	failed bool     // output holds a failed subtest's output
}

type skip struct {
	pkg, test string
	where     string   // file:line of the message, if it had one
	reason    []string // the message's lines
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, packages: map[string]*pkg{}, builds: map[string][]string{}}
}

func (s *summary) print(chunks ...string) {
	for _, c := range chunks {
		if s.err == nil {
			_, s.err = io.WriteString(s.w, c)
		}
	}
}

func (s *summary) printf(format string, args ...any) {
	s.print(fmt.Sprintf(format, args...))
}

// line handles one line of the input: an event, or anything else (a line
// of a go command's own output mixed in) which is passed through.
func (s *summary) line(b []byte) {
	var e event
	if json.Unmarshal(b, &e) != nil || e.Action == "" {
		s.print(string(b))
		if b[len(b)-1] != '\n' {
			s.print("\n")
		}
		return
	}
	switch e.Action {
	case "build-output":
		s.builds[e.ImportPath] = append(s.builds[e.ImportPath], e.Output)
		return
	case "build-fail":
		// Printed once, now: several packages can fail on one build
		// (a broken dependency's), each then says [build failed].
		s.print(s.builds[e.ImportPath]...)
		delete(s.builds, e.ImportPath)
		return
	}
	if e.Package == "" {
		return
	}
	p := s.packages[e.Package]
	if p == nil {
		s.sawPackage = true
		s.seq++
		p = &pkg{name: e.Package, seq: s.seq, tests: map[string]*test{}}
		s.packages[e.Package] = p
	}
	switch e.Action {
	case "run":
		if e.Test != "" && p.tests[e.Test] == nil {
			s.seq++
			p.tests[e.Test] = &test{name: e.Test, seq: s.seq}
		}
	case "output":
		if t := p.tests[e.Test]; e.Test != "" && t != nil {
			t.output = append(t.output, e.Output)
			return
		}
		// Outside any test (or after its test ended): the package's.
		p.output = append(p.output, e.Output)
		if isResult(p.name, e.Output) {
			p.result = strings.TrimSuffix(e.Output, "\n")
		}
	case "pass", "fail", "skip":
		if e.Test != "" {
			s.testEnded(p, e.Test, e.Action)
		} else {
			s.packageEnded(p, e)
		}
	}
	// start, pause, cont, bench, attr and actions to come: nothing to do.
}

// isResult says whether chunk is go test's line for the package's result:
// "ok  \tpkg\t...", "FAIL\tpkg ...", "?   \tpkg\t[no test files]".
func isResult(name, chunk string) bool {
	for _, prefix := range []string{"ok  \t", "FAIL\t", "?   \t"} {
		if rest, ok := strings.CutPrefix(chunk, prefix+name); ok {
			return rest == "" || strings.ContainsAny(rest[:1], "\t \n")
		}
	}
	return false
}

func (s *summary) testEnded(p *pkg, name, action string) {
	t := p.tests[name]
	if t == nil {
		t = &test{name: name}
	}
	delete(p.tests, name)
	switch action {
	case "pass":
		s.passed++
	case "skip":
		s.skipped++
		p.skips++
		where, reason := skipReason(t.output)
		s.skips = append(s.skips, skip{pkg: p.name, test: name, where: where, reason: reason})
	case "fail":
		s.failed++
		p.failures++
		s.failures = append(s.failures, p.name+" "+name)
		// A failed subtest's output goes with its parent's, to be shown
		// in one piece when the parent fails too.
		if parent := p.parent(name); parent != nil {
			parent.output = append(parent.output, t.output...)
			parent.failed = true
			return
		}
		p.failed = append(p.failed, t.output...)
		return
	}
	if t.failed { // a parent that did not fail with its subtest: odd, but shown
		p.failed = append(p.failed, t.output...)
	}
}

// parent returns the nearest running test that name is a subtest of.
func (p *pkg) parent(name string) *test {
	for i := strings.LastIndex(name, "/"); i > 0; i = strings.LastIndex(name[:i], "/") {
		if t := p.tests[name[:i]]; t != nil {
			return t
		}
	}
	return nil
}

// packageEnded prints the package's failed tests (together, even where
// go test's events of packages running at once are interleaved) and its
// result line.
func (s *summary) packageEnded(p *pkg, e event) {
	delete(s.packages, p.name)
	s.print(p.failed...)
	switch e.Action {
	case "pass":
		s.okPackages++
		result := p.resultLine(fmt.Sprintf("ok  \t%s\t%.3fs", p.name, e.Elapsed))
		if p.skips > 0 {
			result += fmt.Sprintf("\t(%d skipped)", p.skips)
		}
		s.print(result, "\n")
	case "skip":
		s.noTestPackages++
		s.print(p.resultLine(fmt.Sprintf("?   \t%s\t[no test files]", p.name)), "\n")
	case "fail":
		why := ""
		if e.FailedBuild != "" {
			// go test's own word for it: [build failed], [setup failed].
			why = "[build failed]"
			note := strings.TrimPrefix(p.result, "FAIL\t"+p.name+" ")
			if strings.HasPrefix(note, "[") && strings.HasSuffix(note, "]") {
				why = note
			}
		}
		s.packageFailed(p, why, p.resultLine(fmt.Sprintf("FAIL\t%s\t%.3fs", p.name, e.Elapsed)))
	}
}

func (p *pkg) resultLine(otherwise string) string {
	if p.result != "" {
		return p.result
	}
	return otherwise
}

// packageFailed prints what a failed (or unended) package left: its tests
// still running, its own output, and its result line. why, if not empty,
// is what the summary's list says of the package.
func (s *summary) packageFailed(p *pkg, why, result string) {
	s.failedPackages++
	running := make([]*test, 0, len(p.tests))
	for _, t := range p.tests {
		running = append(running, t)
	}
	slices.SortFunc(running, func(a, b *test) int { return a.seq - b.seq })
	for _, t := range running {
		s.unfinished++
		p.failures++
		s.failures = append(s.failures, p.name+" "+t.name+" (did not finish)")
		// A test paused for t.Parallel when another panicked printed
		// nothing of its own: it only goes in the summary's list.
		if said(t.output) {
			s.print(t.output...)
			s.printf("--- DID NOT FINISH: %s\n", t.name)
		}
	}
	for _, c := range p.output {
		if c != "PASS\n" && c != "FAIL\n" && !isResult(p.name, c) {
			s.print(c)
		}
	}
	s.print(result, "\n")
	if why == "" && p.failures == 0 {
		why = "(failed outside any test: see its output above)"
	}
	if why != "" {
		s.failures = append(s.failures, p.name+" "+why)
	}
}

// said says whether a test's output holds more than go test's framing.
func said(output []string) bool {
	for _, line := range lines(output) {
		if strings.TrimSpace(line) != "" && !framing(line) {
			return true
		}
	}
	return false
}

// framing says whether line is one of go test -v's lines around a test's
// own output: === RUN, === PAUSE, === CONT, === NAME; --- PASS and so on.
func framing(line string) bool {
	line = strings.TrimSpace(line)
	return strings.HasPrefix(line, "=== ") ||
		strings.HasPrefix(line, "--- PASS: ") ||
		strings.HasPrefix(line, "--- FAIL: ") ||
		strings.HasPrefix(line, "--- SKIP: ")
}

func lines(chunks []string) []string {
	return strings.Split(strings.TrimSuffix(strings.Join(chunks, ""), "\n"), "\n")
}

// logEntry matches the first line of a message of t.Log, t.Skip, t.Error
// and the like as go test -v prints it: "    file_test.go:12: message".
var logEntry = regexp.MustCompile(`^\s*(\S+\.go:\d+):(?: (.*))?$`)

// maxReason is how many lines of a skip's reason the summary shows.
const maxReason = 10

// skipReason finds, in a skipped test's output, the message it skipped
// with: the last message it logged (t.Skip logs its arguments and
// stops the test at once, and go test -v prints that message just
// before "--- SKIP: TestX"), with the lines that continue it. A bare
// t.SkipNow after a t.Log gives that log line, which is the reason in
// all but name. Output without a file:line message gives its last line.
func skipReason(output []string) (where string, reason []string) {
	var own []string
	for _, line := range lines(output) {
		if strings.TrimSpace(line) != "" && !framing(line) {
			own = append(own, line)
		}
	}
	if len(own) == 0 {
		return "", nil
	}
	start := len(own) - 1
	for i := len(own) - 1; i >= 0; i-- {
		if logEntry.MatchString(own[i]) {
			start = i
			break
		}
	}
	first := strings.TrimSpace(own[start])
	if m := logEntry.FindStringSubmatch(own[start]); m != nil {
		where, first = m[1], m[2]
	}
	reason = append([]string{first}, dedent(own[start+1:])...)
	if len(reason) > maxReason {
		more := len(reason) - (maxReason - 1)
		reason = append(reason[:maxReason-1], fmt.Sprintf("... (%d more lines)", more))
	}
	return where, reason
}

// dedent removes the indentation the lines have in common.
func dedent(lines []string) []string {
	indent := -1
	for _, line := range lines {
		n := len(line) - len(strings.TrimLeft(line, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	out := make([]string, len(lines))
	for i, line := range lines {
		out[i] = strings.TrimRight(line[indent:], " \t")
	}
	return out
}

// finish reports the packages the input ended in, prints the summary
// and returns the exit status.
func (s *summary) finish() int {
	open := make([]*pkg, 0, len(s.packages))
	for _, p := range s.packages {
		open = append(open, p)
	}
	slices.SortFunc(open, func(a, b *pkg) int { return a.seq - b.seq })
	for _, p := range open {
		delete(s.packages, p.name)
		s.print(p.failed...)
		const why = "(no result: the input ended before the package did)"
		s.packageFailed(p, why, "FAIL\t"+p.name+"\t"+why)
	}

	s.print("\n== test summary\n")
	s.printf("packages: %d ok, %d failed, %d without test files\n", s.okPackages, s.failedPackages, s.noTestPackages)
	tests := fmt.Sprintf("tests: %d passed, %d failed, %d skipped", s.passed, s.failed, s.skipped)
	if s.unfinished > 0 {
		tests += fmt.Sprintf(", %d did not finish", s.unfinished)
	}
	s.print(tests, " (subtests counted too)\n")
	if len(s.failures) > 0 {
		s.print("failed:\n")
		for _, f := range s.failures {
			s.print("  ", f, "\n")
		}
	}
	if len(s.skips) > 0 {
		s.print("skipped:\n")
		for _, k := range s.skips {
			name := k.pkg + " " + k.test
			if k.where != "" {
				name += " (" + k.where + ")"
			}
			if len(k.reason) == 0 {
				s.print("  ", name, ": (no message)\n")
				continue
			}
			s.print("  ", name, ": ", k.reason[0], "\n")
			for _, more := range k.reason[1:] {
				s.print("      ", more, "\n")
			}
		}
	}

	status := 0
	switch {
	case !s.sawPackage:
		s.print("no package results on the input: did go test -json run?\n")
		status = 1
	case s.readFailed, s.failedPackages > 0, s.failed > 0:
		status = 1
	}
	if status == 0 {
		s.print("PASS\n")
	} else {
		s.print("FAIL\n")
	}
	if s.err != nil {
		fmt.Fprintf(os.Stderr, "testsummary: writing the report: %v\n", s.err)
		return 1
	}
	return status
}
