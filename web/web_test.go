package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/flashsale/flashsale/internal/testenv"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestPageNamesHashedImmutableAssets(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/sales/0190a1b2-0000-7000-8000-000000000000"} {
		resp := get(t, p, path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, resp.Header)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if again := get(t, p, path, "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %d, want 304", path, again.StatusCode)
		}
		named := regexp.MustCompile(`/assets/[a-z]+\.[0-9a-f]{12}\.(js|css)`).FindAllString(string(body), -1)
		if len(named) != 4 {
			t.Errorf("GET %s names %v, want the stylesheet, two scripts and the worker by hashed name", path, named)
		}
	}
	for name, path := range p.Assets {
		resp := get(t, p, path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s (%s): %d %v", path, name, resp.StatusCode, resp.Header)
		}
	}
	// The worker imports the logic by its hashed name too.
	worker := get(t, p, p.Assets["worker.js"])
	body, _ := io.ReadAll(worker.Body)
	if !strings.Contains(string(body), p.Assets["logic.js"]) {
		t.Errorf("the worker does not import %s:\n%s", p.Assets["logic.js"], body)
	}
	if resp := get(t, p, "/assets/app.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unhashed asset name: %d, want 404", resp.StatusCode)
	}
}

func TestGzipWhenAccepted(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	path := p.Assets["app.js"]
	plain, _ := io.ReadAll(get(t, p, path).Body)
	for header, want := range map[string]bool{"gzip": true, "br, gzip;q=0.5": true, "gzip;q=0": false, "": false, "identity": false} {
		resp := get(t, p, path, "Accept-Encoding", header)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
			continue
		}
		if want {
			z, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := io.ReadAll(z); string(body) != string(plain) {
				t.Errorf("Accept-Encoding %q: the gzipped body differs", header)
			}
		}
	}
}

// The budget: the page and its scripts under 60 KB compressed.
// The console and the reference are pages of their own, loaded by
// operators, and have a budget each too.
func TestPageIsSmall(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{ShopperPage, ConsolePage, DocsPage} {
		if n := p.CompressedSize(page); n > 60_000 {
			t.Errorf("%s and its assets weigh %d bytes gzipped, over 60 KB", page, n)
		} else {
			t.Logf("%s and its assets weigh %d bytes gzipped", page, n)
		}
	}
}

// The console and the reference are served like the shopper's page,
// each naming its own assets.
func TestConsoleAndDocsPages(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"/console/": {"style.css", "console.css", "charts.js", "console.js"},
		"/docs":     {"style.css", "console.css", "docs.js"},
	} {
		resp := get(t, p, path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, resp.Header)
		}
		for _, name := range want {
			if !strings.Contains(string(body), p.Assets[name]) {
				t.Errorf("GET %s does not name %s", path, p.Assets[name])
			}
		}
		if strings.Contains(string(body), p.Assets["app.js"]) {
			t.Errorf("GET %s loads the shopper's script", path)
		}
	}
}

// Only a demo's shopper page says that POST /demo/token exists.
func TestDemoPageOffersTheDemoSignIn(t *testing.T) {
	for demo, want := range map[bool]string{false: `data-demo="off"`, true: `data-demo="on"`} {
		p, err := NewWith(Options{Demo: demo})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(get(t, p, "/").Body)
		if !strings.Contains(string(body), want) {
			t.Errorf("demo %v: the page does not carry %s", demo, want)
		}
	}
}

// The page's logic has unit tests of its own, run by Node's test runner.
func TestJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node is not on the PATH; install Node.js (Debian: apt-get install nodejs) to test the page's JavaScript")
	}
	out, err := exec.Command(node, "--test", "jstest/").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/: %v\n%s", err, out)
	}
}
