// Package loadtest drives a running flashsale service the way a sale's
// crowd does, and checks afterwards that it sold exactly its stock and
// kept every order it acknowledged. Each scenario is a file of its own
// (herd.go, refresh.go, soak.go, ...); run.go holds what they share: the
// sale the run creates, the users and their tokens, the closed- or
// open-loop schedule (schedule.go), and the end-of-run verification
// (verify.go) whose violations fail the run. Reports are text, JSON and a
// self-contained HTML page (report.go, html.go). 'flashsale loadtest'
// (cmd/flashsale) is its command; bench/herd.sh measures the herd against
// a bare HTTP server on the same machine, and docs/BENCHMARKS.md has the
// figures.
package loadtest
