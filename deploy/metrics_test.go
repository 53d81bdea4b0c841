package deploy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	fhttp "github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/testenv"
)

// The alert rules and the dashboard name metrics and labels as strings;
// nothing but these tests notices when the code renames one, and a query
// over a metric that does not exist is silently empty: an alert that never
// fires, a panel that says "No data".

// metric is what the code registers under one name.
type metric struct {
	labels map[string]bool
	where  string // file:line of its definition
}

// builtin are the metrics that are not flashsale's own: Prometheus's scrape
// health, and the Go and process collectors that http.NewServer registers
// (checked against a real scrape in TestMetricCatalogueMatchesScrape).
var builtin = map[string][]string{
	"up":                            nil,
	"go_goroutines":                 nil,
	"process_resident_memory_bytes": nil,
}

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// registeredMetrics reads every metric the module's code defines: each
// prometheus.*Opts literal with a Name, its variable labels when it is the
// options of a New*Vec call, and its ConstLabels' keys. Reading the source
// rather than a scrape sees them all, whatever the deployment kind (the
// journal backlog exists only with FLASHSALE_ACK=redis) and whether or
// not their first event has happened (a vector shows no series before it).
func registeredMetrics(t *testing.T) map[string]metric {
	t.Helper()
	found := map[string]metric{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "node_modules", "deploy":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if ok {
				// prometheus.NewCounterVec(prometheus.CounterOpts{...}, []string{...})
				if name := selectorName(call.Fun); strings.HasPrefix(name, "New") && strings.HasSuffix(name, "Vec") && len(call.Args) == 2 {
					if opts, ok := call.Args[0].(*ast.CompositeLit); ok {
						record(t, found, fset, opts, stringList(call.Args[1]))
						return false
					}
				}
				return true
			}
			if lit, ok := n.(*ast.CompositeLit); ok && strings.HasSuffix(selectorName(lit.Type), "Opts") {
				record(t, found, fset, lit, nil)
				return false
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("found no metric definitions in the module's code")
	}
	return found
}

// record adds the metric an Opts literal defines.
func record(t *testing.T, found map[string]metric, fset *token.FileSet, opts *ast.CompositeLit, labels []string) {
	kind := selectorName(opts.Type)
	var name string
	m := metric{labels: map[string]bool{}, where: fset.Position(opts.Pos()).String()}
	for _, l := range labels {
		m.labels[l] = true
	}
	for _, elt := range opts.Elts {
		kv, ok := elt.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		switch fmt.Sprint(kv.Key) {
		case "Name":
			lit, ok := kv.Value.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a metric whose name is not a string literal; this test cannot follow it", m.where)
				return
			}
			name, _ = strconv.Unquote(lit.Value)
		case "ConstLabels":
			if labels, ok := kv.Value.(*ast.CompositeLit); ok {
				for _, e := range labels.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if key, ok := kv.Key.(*ast.BasicLit); ok {
							k, _ := strconv.Unquote(key.Value)
							m.labels[k] = true
						}
					}
				}
			}
		}
	}
	if name == "" {
		return
	}
	if prev, ok := found[name]; ok {
		// The same name defined twice (one CounterFunc per label value):
		// the union of their labels.
		maps.Copy(prev.labels, m.labels)
		return
	}
	found[name] = m
	if kind == "HistogramOpts" {
		withLE := map[string]bool{"le": true}
		maps.Copy(withLE, m.labels)
		found[name+"_bucket"] = metric{labels: withLE, where: m.where}
		found[name+"_sum"] = m
		found[name+"_count"] = m
	}
}

// selectorName is "NewCounterVec" for prometheus.NewCounterVec.
func selectorName(e ast.Expr) string {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		return sel.Sel.Name
	}
	return ""
}

func stringList(e ast.Expr) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, elt := range lit.Elts {
		if s, ok := elt.(*ast.BasicLit); ok && s.Kind == token.STRING {
			v, _ := strconv.Unquote(s.Value)
			out = append(out, v)
		}
	}
	return out
}

// catalogue is registeredMetrics plus the built-in ones.
func catalogue(t *testing.T) map[string]metric {
	metrics := registeredMetrics(t)
	for name, labels := range builtin {
		m := metric{labels: map[string]bool{}, where: "builtin"}
		for _, l := range labels {
			m.labels[l] = true
		}
		metrics[name] = m
	}
	for _, m := range metrics {
		for _, l := range targetLabels {
			m.labels[l] = true
		}
	}
	return metrics
}

// The catalogue read from the source is the one a running API serves: every
// series of a real scrape is in it, with the same labels, so the source
// reading above misses nothing it should see.
func TestMetricCatalogueMatchesScrape(t *testing.T) {
	t.Parallel()
	metrics := catalogue(t)
	registry := prometheus.NewRegistry()
	server := httptest.NewServer(fhttp.NewServer(fhttp.Deps{Registry: registry}))
	defer server.Close()
	// One request through the instrumented routes, so the request counter
	// and the latency histogram have series.
	if resp, err := http.Get(server.URL + "/healthz"); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	series := regexp.MustCompile(`(?m)^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? `)
	labelName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	seen := map[string]bool{}
	for _, s := range series.FindAllStringSubmatch(string(body), -1) {
		name := s[1]
		seen[name] = true
		m, ok := metrics[name]
		if !strings.HasPrefix(name, "flashsale_") {
			continue
		}
		if !ok {
			t.Errorf("the API serves %s, which the source reading did not find", name)
			continue
		}
		for _, l := range labelName.FindAllStringSubmatch(s[2], -1) {
			if !m.labels[l[1]] {
				t.Errorf("the API serves %s with label %q, which the source reading did not find (%s)", name, l[1], m.where)
			}
		}
	}
	for _, name := range []string{"flashsale_http_requests_total", "flashsale_http_request_duration_seconds_bucket", "go_goroutines"} {
		if !seen[name] {
			t.Errorf("the scrape has no %s:\n%s", name, body)
		}
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil && !seen["process_resident_memory_bytes"] {
		t.Error("the scrape has no process_resident_memory_bytes, which the dashboard shows")
	}
}

// Every metric and label the alert rules and the dashboard query is one
// the code registers, and every route they select exists.
func TestQueriesNameRegisteredMetrics(t *testing.T) {
	t.Parallel()
	metrics := catalogue(t)
	routes := routeNames(t)
	queries := append(alertQueries(t), dashboardQueries(t)...)
	if len(queries) < 20 {
		t.Fatalf("found only %d queries in the alert rules and the dashboard", len(queries))
	}
	for _, q := range queries {
		checkQuery(t, q, metrics, routes)
	}
}

// query is one PromQL expression and where it comes from.
type query struct{ where, expr string }

var (
	// A metric selector: a name of ours, optionally followed by {matchers}.
	selectorRE = regexp.MustCompile(`\b(flashsale_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+|up)\b(\s*\{([^}]*)\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

func checkQuery(t *testing.T, q query, metrics map[string]metric, routes map[string]bool) {
	t.Helper()
	var used []metric
	for _, s := range selectorRE.FindAllStringSubmatch(q.expr, -1) {
		name := s[1]
		m, ok := metrics[name]
		if !ok {
			t.Errorf("%s: %s is not a metric flashsale registers (nor a built-in one)", q.where, name)
			continue
		}
		used = append(used, m)
		for _, match := range matcherRE.FindAllStringSubmatch(s[3], -1) {
			label, op, value := match[1], match[2], match[3]
			if !m.labels[label] {
				t.Errorf("%s: %s has no label %q (labels: %v)", q.where, name, label, slices.Sorted(maps.Keys(m.labels)))
			}
			if label == "route" && op == "=" && !routes[value] {
				t.Errorf("%s: no route is named %q (http/routes.go)", q.where, value)
			}
		}
	}
	if len(used) == 0 {
		t.Errorf("%s: names no metric: %s", q.where, q.expr)
	}
	// by (...) and without (...) must group on labels some metric of the
	// expression has; a misspelt one collapses every series into one.
	for _, g := range groupingRE.FindAllStringSubmatch(q.expr, -1) {
		for label := range strings.SplitSeq(g[1], ",") {
			label = strings.TrimSpace(label)
			if label == "" {
				continue
			}
			if !slices.ContainsFunc(used, func(m metric) bool { return m.labels[label] }) {
				t.Errorf("%s: groups by %q, a label none of its metrics has: %s", q.where, label, q.expr)
			}
		}
	}
}

// routeNames are the route label's values: the names in http/routes.go's
// route table.
func routeNames(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("../http/routes.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"not_found": true, "method_not_allowed": true}
	for _, m := range regexp.MustCompile(`t\.add\("[^"]*", "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
	}
	if !names["place_order"] {
		t.Fatalf("read no route names from http/routes.go (found %v)", slices.Sorted(maps.Keys(names)))
	}
	return names
}

// alertQueries are the expr: of prometheus/alerts.yml, inline or as a
// block scalar (read without a YAML library: the module has none, and the
// file's layout is ours).
func alertQueries(t *testing.T) []query {
	t.Helper()
	src, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	var out []query
	alert := ""
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		if name, ok := strings.CutPrefix(trimmed, "- alert:"); ok {
			alert = strings.TrimSpace(name)
		}
		expr, ok := strings.CutPrefix(trimmed, "expr:")
		if !ok {
			continue
		}
		expr = strings.TrimSpace(expr)
		if expr == "|" || expr == ">" {
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			var block []string
			for i+1 < len(lines) {
				next := lines[i+1]
				if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
					break
				}
				block = append(block, next)
				i++
			}
			expr = strings.Join(block, "\n")
		}
		out = append(out, query{where: "alerts.yml " + alert, expr: expr})
	}
	if len(out) == 0 {
		t.Fatal("found no expr: in prometheus/alerts.yml")
	}
	return out
}

// dashboardQueries are the targets of every panel of grafana/flashsale.json
// and its template variables' queries.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	src, err := os.ReadFile("grafana/flashsale.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(src, &dashboard); err != nil {
		t.Fatalf("grafana/flashsale.json: %v", err)
	}
	var out []query
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			out = append(out, query{where: "dashboard panel " + strconv.Quote(p.Title), expr: target.Expr})
		}
	}
	for _, v := range dashboard.Templating.List {
		if v.Definition != "" {
			out = append(out, query{where: "dashboard variable " + v.Name, expr: v.Definition})
		}
	}
	return out
}

// Every dashboard query is valid PromQL: promtool parses each as a
// recording rule, with Grafana's variables given values as Grafana would.
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	promtool := promtoolBinary(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	replacer := strings.NewReplacer("$__rate_interval", "1m", "$instance", ".*")
	for i, q := range dashboardQueries(t) {
		if strings.HasPrefix(q.expr, "label_values(") {
			continue // Grafana's own function, not PromQL
		}
		fmt.Fprintf(&rules, "      - record: dashboard_query_%d\n        expr: %s\n", i, strconv.Quote(replacer.Replace(q.expr)))
	}
	path := filepath.Join(t.TempDir(), "dashboard.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules over the dashboard's queries: %v\n%s", err, out)
	}
}

// promtoolBinary finds promtool (FLASHSALE_TEST_PROMTOOL, else the PATH),
// or skips, or fails in CI.
func promtoolBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("FLASHSALE_TEST_PROMTOOL"); bin != "" {
		return bin
	}
	bin, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool is not installed: run scripts/promtool.sh and set FLASHSALE_TEST_PROMTOOL")
	}
	return bin
}
