package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/flashsale/flashsale/internal/testenv"
)

// The shopper's page (package web) in headless Chromium, against the real
// 'flashsale serve' in this process: what a person sees and clicks. The
// browser comes from scripts/browser.sh (Debian's chromium); without one
// these tests skip, and fail in CI (testenv.Missing).
//
// FLASHSALE_UPDATE_SCREENSHOTS=1 also writes the README's screenshots to
// docs/screenshots/.

// browserActionLimit turns a hung browser step into a failure; it is no
// measure of speed.
const browserActionLimit = time.Minute

// chromePath finds Chrome or Chromium: FLASHSALE_TEST_CHROME, else the
// names scripts/browser.sh installs.
func chromePath(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("FLASHSALE_TEST_CHROME"); path != "" {
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	testenv.Missing(t, "no Chromium or Chrome on the PATH; run scripts/browser.sh (or set FLASHSALE_TEST_CHROME)")
	return ""
}

// newBrowser starts a headless browser for the test; each shopper is a
// tab of it, with a sessionStorage (and so a sign-in) of its own.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromePath(t)),
		chromedp.WindowSize(900, 1000), chromedp.Flag("lang", "en-US"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox as root (CI containers)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", chromePath(t), err)
	}
	return browser
}

// shopper is one person at the page: a browser tab.
type shopper struct {
	t    *testing.T
	name string
	tab  context.Context
}

// newShopper opens a tab whose Date.now() runs an hour fast: the page must
// count down on the server's time, never the device's clock. On failure
// the tab's screenshot is saved and its path logged.
func newShopper(t *testing.T, browser context.Context, name string) *shopper {
	t.Helper()
	s := newTab(t, browser, name)
	if _, err := chromedp.Call(s.tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `(() => { const now = Date.now; Date.now = () => now() + 3600e3; })();`,
	}); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	return s
}

// newOperator opens a tab on the device's own clock: the console's new
// sale starts at the operator's "now", as an operator would set it.
func newOperator(t *testing.T, browser context.Context, name string) *shopper {
	t.Helper()
	return newTab(t, browser, name)
}

// newTab opens a tab; on failure its screenshot is saved and its path
// logged.
func newTab(t *testing.T, browser context.Context, name string) *shopper {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// The tab opens at its context's first run, and closes when that
	// run's context ends: run it on the tab's own context, not on a step's
	// with a timeout.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	s := &shopper{t: t, name: name, tab: tab}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := filepath.Join(os.TempDir(), "flashsale-browser-tests")
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
		ctx, cancel := context.WithTimeout(tab, browserActionLimit)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err == nil {
			err = os.WriteFile(path, png, 0o644)
		}
		if err != nil {
			t.Logf("%s: no screenshot: %v", name, err)
			return
		}
		t.Logf("%s's screen when the test failed: %s", name, path)
	})
	return s
}

// do runs browser steps, failing the test with what was being done.
func (s *shopper) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.tab, browserActionLimit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		s.t.Fatalf("%s: %s: %v", s.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](s *shopper, expression string) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.tab, browserActionLimit)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		s.t.Fatalf("%s: evaluate %s: %v", s.name, expression, err)
	}
	return v
}

// text is an element's text as the shopper reads it.
func (s *shopper) text(selector string) string {
	return eval[string](s, fmt.Sprintf(`document.querySelector(%q).textContent`, selector))
}

// open loads the sale's page and signs in with token.
func (s *shopper) open(base, saleID, token string) {
	s.t.Helper()
	s.do("open the sale's page and sign in",
		chromedp.Navigate(base+"/sales/"+saleID),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#who")),
		chromedp.WaitVisible(chromedp.CSS("#items li .buy")),
	)
}

// waitFor waits until the selector matches a visible element.
func (s *shopper) waitFor(what, selector string) {
	s.t.Helper()
	s.do("wait for "+what, chromedp.WaitVisible(chromedp.CSS(selector)))
}

// screenshot writes docs/screenshots/<name>.png when asked to: the
// screen as it stands.
func (s *shopper) screenshot(name string) {
	s.t.Helper()
	s.saveScreenshot(name, chromedp.CaptureScreenshot())
}

// fullScreenshot is screenshot of the whole page, for a page whose point
// is below the fold.
func (s *shopper) fullScreenshot(name string) {
	s.t.Helper()
	s.saveScreenshot(name, chromedp.FullScreenshot(100))
}

func (s *shopper) saveScreenshot(name string, capture chromedp.Action[[]byte]) {
	s.t.Helper()
	if os.Getenv("FLASHSALE_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(s.tab, browserActionLimit)
	defer cancel()
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// axeSource is axe-core's script, as scripts/browser.sh installs it
// (FLASHSALE_TEST_AXE names another copy), or the test skips or fails as
// testenv says.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("FLASHSALE_TEST_AXE")
	if path == "" {
		home, _ := os.UserHomeDir()
		path = filepath.Join(home, ".cache", "flashsale", "axe-core", "node_modules", "axe-core", "axe.min.js")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		testenv.Missing(t, "no axe-core at %s: run scripts/browser.sh (or set FLASHSALE_TEST_AXE): %v", path, err)
	}
	return string(src)
}

// checkAccessibility runs axe-core over the page as it stands (WCAG 2.1 A
// and AA rules) and fails the test for every serious or critical
// violation.
func (s *shopper) checkAccessibility(when string) {
	s.t.Helper()
	if eval[bool](s, `typeof window.axe === 'undefined'`) {
		// Evaluated through the protocol, which the page's
		// Content-Security-Policy does not govern.
		eval[chromedp.Void](s, axeSource(s.t)+";undefined")
	}
	type violation struct {
		ID     string   `json:"id"`
		Impact string   `json:"impact"`
		Help   string   `json:"help"`
		Nodes  []string `json:"nodes"`
	}
	ctx, cancel := context.WithTimeout(s.tab, browserActionLimit)
	defer cancel()
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]violation](`axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})
		.then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.html)})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		s.t.Fatalf("%s: axe-core: %v", s.name, err)
	}
	for _, v := range found {
		s.t.Errorf("%s, %s: accessibility: %s (%s, %s) in %v", s.name, when, v.Help, v.ID, v.Impact, v.Nodes)
	}
}

// browserSale creates a sale of one item with quantity units, starting at
// start, with the settings in extra too, and returns its id.
func browserSale(t *testing.T, c client, start time.Time, quantity, ttlSeconds int, extra ...map[string]any) string {
	t.Helper()
	body := map[string]any{
		"name": "Phone X Launch", "start_time": start.UTC().Format(time.RFC3339Nano),
		"end_time": start.Add(time.Hour).UTC().Format(time.RFC3339), "reservation_ttl_seconds": ttlSeconds,
		"items": []map[string]any{{"product_id": "phone-x", "name": "Phone X", "original_price": "999.00", "sale_price": "499.00",
			"currency": "USD", "total_quantity": quantity, "per_user_limit": 1}},
	}
	for _, e := range extra {
		maps.Copy(body, e)
	}
	status, sale := c.call("POST", "/admin/flash-sales", mint(t, "admin", true), body)
	if status != http.StatusCreated {
		t.Fatalf("create sale: %d %v", status, sale)
	}
	return sale["sale_id"].(string)
}

// buy presses the item's Buy button and waits for the reservation.
func (s *shopper) buy() {
	s.t.Helper()
	s.do("buy", chromedp.Click(chromedp.CSS("#items li .buy")))
	s.waitFor("the reservation", `#order-status[data-status="reserved"]`)
	s.waitFor("the payment form", "#pay-form")
}

// pay chooses a test card and presses Pay.
func (s *shopper) pay(card string) {
	s.t.Helper()
	s.do("pay with "+card,
		chromedp.SetValue(chromedp.CSS("#card"), card),
		chromedp.Click(chromedp.CSS("#pay")),
	)
}

func TestBrowserShopperWaitsForTheStartBuysAndPays(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	// Far enough ahead for the page to load first on a busy machine.
	start := time.Now().Add(10 * time.Second)
	saleID := browserSale(t, c, start, 100, 600)

	alice := newShopper(t, browser, "alice")
	alice.open(base, saleID, mint(t, "alice", false))

	// Before the start: the countdown runs (on the server's clock: this
	// tab's Date.now() is an hour fast) and Buy is not alive. The button
	// must not come alive before the start.
	type view struct {
		Phase     string `json:"phase"`
		Countdown string `json:"countdown"`
		Disabled  bool   `json:"disabled"`
	}
	read := func() view {
		return eval[view](alice, `({phase: document.querySelector('#sale-view').dataset.phase || '',
			countdown: document.querySelector('#countdown').textContent,
			disabled: document.querySelector('#items li .buy').disabled})`)
	}
	first := read()
	if first.Phase != "upcoming" || !first.Disabled || !regexp.MustCompile(`^0:(0\d|10)$`).MatchString(first.Countdown) {
		t.Fatalf("before the start the page shows %+v, want the countdown (0:10 or less) and Buy disabled", first)
	}
	alice.screenshot("shopper-before-start")
	alice.checkAccessibility("before the start")
	var alive view
	testenv.Eventually(t, time.Until(start)+browserActionLimit, "the Buy button to come alive at the start", func() bool {
		alive = read()
		if !alive.Disabled && time.Now().Before(start.Add(-time.Second)) {
			t.Fatalf("Buy came alive at %v, before the start %v: %+v", time.Now(), start, alive)
		}
		return !alive.Disabled
	})
	if alive.Phase != "active" {
		t.Fatalf("Buy is alive in phase %q", alive.Phase)
	}

	alice.buy()
	if timer := alice.text("#order-timer"); !strings.Contains(timer, "s left to pay") {
		t.Errorf("the reservation shows %q, want the seconds left", timer)
	}
	// The unit just taken is not shown as left, whatever a stale read of
	// the sale says.
	if stock := alice.text("#items li .stock"); stock != "99 of 100 left" {
		t.Errorf("right after the reservation the stock reads %q, want 99 of 100 left", stock)
	}
	alice.screenshot("shopper-buying")
	alice.checkAccessibility("holding a reservation")
	alice.pay("tok_visa")
	alice.waitFor("the confirmation", `#order-status[data-status="confirmed"]`)
	if got := alice.text("#order-status"); !strings.Contains(got, "Confirmed") || !strings.Contains(got, "499.00") {
		t.Errorf("the confirmed order reads %q", got)
	}
	alice.screenshot("shopper-confirmed")
	alice.checkAccessibility("confirmed")
}

func TestBrowserDeclinedCardThenAnotherPays(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	saleID := browserSale(t, c, time.Now().Add(-time.Minute), 10, 600)

	bob := newShopper(t, browser, "bob")
	bob.open(base, saleID, mint(t, "bob", false))
	bob.buy()
	bob.pay("tok_chargeDeclined")
	bob.do("wait for the decline", chromedp.Poll[chromedp.Void](
		`document.querySelector('#order-status').textContent.includes('declined')`, chromedp.WithPollingTimeout(browserActionLimit)))
	if status := eval[string](bob, `document.querySelector('#order-status').dataset.status`); status != "reserved" {
		t.Fatalf("after a decline the order is %q, want still reserved", status)
	}
	bob.waitFor("the payment form again", "#pay-form")
	bob.pay("tok_visa")
	bob.waitFor("the confirmation", `#order-status[data-status="confirmed"]`)
}

func TestBrowserSoldOutWhenAnotherShopperTookTheLastUnit(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	saleID := browserSale(t, c, time.Now().Add(-time.Minute), 1, 600)

	carol := newShopper(t, browser, "carol")
	carol.open(base, saleID, mint(t, "carol", false))
	if stock := carol.text("#items li .stock"); stock != "1 of 1 left" {
		t.Fatalf("stock reads %q, want 1 of 1 left", stock)
	}
	// Dave takes the last unit while Carol looks at the page.
	itemID := eval[string](carol, `document.querySelector('#items li').dataset.item`)
	if status, body := placeOrder(t, base, "dave", saleID, itemID); status != http.StatusCreated {
		t.Fatalf("dave's order: %d %v", status, body)
	}
	carol.do("press Buy", chromedp.Click(chromedp.CSS("#items li .buy")))
	carol.waitFor("sold out", `#items li[data-sold-out="true"]`)
	if note := carol.text("#items li .item-note"); !strings.Contains(note, "Sold out") {
		t.Errorf("the item's note reads %q, want Sold out", note)
	}
	if label := carol.text("#items li .buy"); label != "Sold out" || !eval[bool](carol, `document.querySelector('#items li .buy').disabled`) {
		t.Errorf("the button reads %q, want a disabled Sold out", label)
	}
	carol.screenshot("shopper-sold-out")
	carol.checkAccessibility("sold out")
}

// A sale paused while a shopper looks at it: the press is refused with
// the reason, and the page says the shop paused it and keeps Buy down
// until the sale resumes, which the page's own reading of the sale finds.
func TestBrowserPausedSaleKeepsBuyDownUntilItResumes(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	admin := mint(t, "admin", true)
	saleID := browserSale(t, c, time.Now().Add(-time.Minute), 5, 600)

	erin := newShopper(t, browser, "erin")
	erin.open(base, saleID, mint(t, "erin", false))
	c.setPaused(saleID, admin, true)
	erin.do("press Buy", chromedp.Click(chromedp.CSS("#items li .buy")))
	erin.poll("the pause on the page", `document.querySelector('#items li .buy').textContent === 'Paused' &&
		document.querySelector('#items li .buy').disabled && document.querySelector('#sale-state').textContent.startsWith('Paused')`)
	if note := erin.text("#items li .item-note"); !strings.Contains(note, "paused") {
		t.Errorf("the item's note reads %q, want the pause", note)
	}
	erin.checkAccessibility("a paused sale")

	c.setPaused(saleID, admin, false)
	erin.poll("Buy back once the sale resumes", `document.querySelector('#items li .buy').textContent === 'Buy' &&
		!document.querySelector('#items li .buy').disabled`)
	erin.buy()
}

func TestBrowserReservationExpiresWithTheSecondsShown(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir(), "--expiry-tick", "100ms")
	c := client{t, base}
	saleID := browserSale(t, c, time.Now().Add(-time.Minute), 5, 2)

	erin := newShopper(t, browser, "erin")
	erin.open(base, saleID, mint(t, "erin", false))
	erin.buy()
	if timer := erin.text("#order-timer"); !strings.Contains(timer, "s left to pay") && !strings.Contains(timer, "Time is up") {
		t.Errorf("the reservation shows %q, want the seconds left", timer)
	}
	erin.waitFor("the expiry", `#order-status[data-status="expired"]`)
	if got := erin.text("#order-status"); !strings.Contains(got, "Expired") {
		t.Errorf("the expired order reads %q", got)
	}
	if eval[bool](erin, `!document.querySelector('#pay-form').hidden`) {
		t.Error("an expired order still offers to pay")
	}
}

// serve --demo prints the sale's page before anything else it says about
// the demo, and the binary serves that page.
func TestDemoPrintsThePageFirst(t *testing.T) {
	_, out, _ := startWatched(t, t.TempDir(), "--demo")
	testenv.Eventually(t, 10*time.Second, "the demo's tokens", func() bool { return strings.Contains(out.String(), "export ALICE=") })
	demo := out.String()[strings.Index(out.String(), "flashsale listening"):]
	first := regexp.MustCompile(`https?://\S+`).FindAllString(demo, 2)
	if len(first) < 2 || !regexp.MustCompile(`/sales/[0-9a-f-]{36}$`).MatchString(first[1]) {
		t.Fatalf("the demo's first link after the address is not the sale's page:\n%s", demo)
	}
	resp, err := http.Get(first[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %d %s", first[1], resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestBrowserSaleListLinksToTheSale(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	saleID := browserSale(t, client{t, base}, time.Now().Add(time.Hour), 10, 600)
	frank := newShopper(t, browser, "frank")
	frank.do("open the sale list",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#sales a[href="/sales/`+saleID+`"]`)),
	)
	frank.checkAccessibility("the sale list")
	frank.do("follow the sale's link",
		chromedp.Click(chromedp.CSS(`#sales a[href="/sales/`+saleID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#items li .buy")),
	)
	if name := frank.text("#sale-name"); name != "Phone X Launch" {
		t.Errorf("the sale's page is titled %q", name)
	}
	if state := frank.text("#sale-state"); state != "Starts in" {
		t.Errorf("a sale an hour away reads %q", state)
	}
	// On a phone-sized screen nothing reaches past the screen's edge.
	frank.do("look on a phone-sized screen", chromedp.EmulateViewport(360, 740))
	if wide := eval[bool](frank, `document.documentElement.scrollWidth > document.documentElement.clientWidth`); wide {
		t.Errorf("the sale's page scrolls sideways on a 360 px screen (%d px wide)",
			eval[int](frank, `document.documentElement.scrollWidth`))
	}
}

// A shopper told 429 sees the wait counted down on the button; cancelling
// gives the unit back.
func TestBrowserRateLimitedBuyCountsDown(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir(), "--rate-limit-order-user", "1/m")
	saleID := browserSale(t, client{t, base}, time.Now().Add(-time.Minute), 10, 600)
	gina := newShopper(t, browser, "gina")
	gina.open(base, saleID, mint(t, "gina", false))
	gina.buy()
	gina.do("cancel", chromedp.Click(chromedp.CSS("#cancel")))
	gina.waitFor("the cancellation", `#order-status[data-status="cancelled"]`)
	gina.do("press Buy again", chromedp.Click(chromedp.CSS("#items li .buy")))
	gina.do("wait for the countdown", chromedp.Poll[chromedp.Void](
		`/^Retry in \d+ s$/.test(document.querySelector('#items li .buy').textContent)`, chromedp.WithPollingTimeout(browserActionLimit)))
	if !eval[bool](gina, `document.querySelector('#items li .buy').disabled`) {
		t.Error("Buy is alive while the limit asks to wait")
	}
}

// A sale that asks every press for proof of work: the page solves it in
// its worker and the press goes through. A paced sale's solution is sent
// no sooner than its challenge's notbefore: the service never answers it
// early.
func TestBrowserChallengeIsSolvedInAWorker(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	for _, tc := range []struct {
		name, shopper string
		challenge     map[string]any
	}{
		{"unpaced", "hana", map[string]any{"policy": "always", "max_number": 5000}},
		// A second's wait: half of [0, 2000] at 1,000 hashes a second.
		{"paced", "hiro", map[string]any{"policy": "always", "max_number": 2000, "pace": 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saleID := browserSale(t, c, time.Now().Add(-time.Minute), 10, 600, map[string]any{"challenge": tc.challenge})
			shopper := newShopper(t, browser, tc.shopper)
			shopper.recordPresses()
			// Record what the puzzle's panel showed, however briefly.
			if _, err := chromedp.Call(shopper.tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `window.__puzzle = {shown: false, values: []};
				document.addEventListener('DOMContentLoaded', () => {
					const panel = document.getElementById('challenge'), bar = document.getElementById('challenge-progress');
					new MutationObserver(() => {
						if (!panel.hidden) window.__puzzle.shown = true;
						window.__puzzle.values.push(bar.value);
					}).observe(panel, {attributes: true, subtree: true, attributeFilter: ['hidden', 'value']});
				});`,
			}); err != nil {
				t.Fatal(err)
			}
			shopper.open(base, saleID, mint(t, tc.shopper, false))
			shopper.buy()
			type puzzle struct {
				Shown  bool      `json:"shown"`
				Values []float64 `json:"values"`
			}
			seen := eval[puzzle](shopper, `window.__puzzle`)
			if !seen.Shown {
				t.Error("the puzzle's progress panel was never shown")
			}
			for i, v := range seen.Values {
				if v < 0 || v > 100 || (i > 0 && v < seen.Values[i-1] && v != 0) {
					t.Errorf("the progress went %v", seen.Values)
					break
				}
			}
			if presses := shopper.presses(); presses != "[403 201]" {
				t.Errorf("the presses were answered %s, want [403 201]: challenged, then taken", presses)
			}
			if eval[bool](shopper, `!document.getElementById('challenge').hidden`) {
				t.Error("the puzzle's panel stays after the press went through")
			}
			status, fairness := c.call("GET", "/admin/flash-sales/"+saleID+"/fairness", mint(t, "admin", true), nil)
			if status != http.StatusOK || fairness["challenged"] != 1.0 || fairness["solved"] != 1.0 || fairness["failed"] != 0.0 || fairness["early"] != 0.0 {
				t.Errorf("fairness: %d %v, want one challenge asked and solved, none early", status, fairness)
			}
		})
	}
}

// setPaused pauses or resumes a sale, as an operator does.
func (c client) setPaused(saleID, admin string, paused bool) {
	c.t.Helper()
	if status, sale := c.call("PATCH", "/admin/flash-sales/"+saleID, admin, map[string]any{"paused": paused}); status != http.StatusOK {
		c.t.Fatalf("paused %v: %d %v", paused, status, sale)
	}
}

// recordPresses has the page note the status of each place-order it
// sends, in window.__presses (presses reads them).
func (s *shopper) recordPresses() {
	s.t.Helper()
	if _, err := chromedp.Call(s.tab, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__presses = [];
		const fetchFirst = window.fetch;
		window.fetch = async (url, init) => {
			const res = await fetchFirst(url, init);
			if (String(url).endsWith('/orders') && init && init.method === 'POST') window.__presses.push(res.status);
			return res;
		};`,
	}); err != nil {
		s.t.Fatal(err)
	}
}

// presses is the statuses of the place-orders the page sent, as "[403 201]".
func (s *shopper) presses() string {
	return fmt.Sprint(eval[[]int](s, `window.__presses`))
}

// A solved challenge whose press the service answered before looking at
// it (here: the sale paused while the page waited for the challenge's
// notbefore) is kept, and the next press carries it: the account, which
// still owes the challenge, is not asked again.
func TestBrowserSolutionOutlivesAPausedPress(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	admin := mint(t, "admin", true)
	// Ten seconds' wait: half of [0, 20000] at 1,000 hashes a second,
	// time to pause the sale before the page sends its solution.
	saleID := browserSale(t, c, time.Now().Add(-time.Minute), 5, 600,
		map[string]any{"challenge": map[string]any{"policy": "always", "max_number": 20_000, "pace": 1000}})
	kim := newShopper(t, browser, "kim")
	kim.recordPresses()
	kim.open(base, saleID, mint(t, "kim", false))
	kim.do("press Buy", chromedp.Click(chromedp.CSS("#items li .buy")))
	kim.poll("the challenge", `window.__presses.length === 1`)
	c.setPaused(saleID, admin, true)
	kim.poll("the solved press refused for the pause", `window.__presses.length === 2`)
	c.setPaused(saleID, admin, false)
	kim.poll("Buy back once the sale resumes", `document.querySelector('#items li .buy').textContent === 'Buy' &&
		!document.querySelector('#items li .buy').disabled`)
	kim.buy()
	if presses := kim.presses(); presses != "[403 400 201]" {
		t.Errorf("the presses were answered %s, want [403 400 201]: challenged, paused, then taken with the kept solution", presses)
	}
	status, fairness := c.call("GET", "/admin/flash-sales/"+saleID+"/fairness", admin, nil)
	if status != http.StatusOK || fairness["challenged"] != 1.0 || fairness["solved"] != 1.0 || fairness["failed"] != 0.0 {
		t.Errorf("fairness: %d %v, want one challenge asked and solved", status, fairness)
	}
}

// A sale with a waiting room: Buy waits for the shopper's turn, which the
// page follows after joining, then buys with the admission.
func TestBrowserWaitingRoomAdmitsThenBuys(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	saleID := browserSale(t, client{t, base}, time.Now().Add(-time.Minute), 10, 600,
		map[string]any{"waiting_room": map[string]any{"admit_per_minute": 600}})
	ivan := newShopper(t, browser, "ivan")
	ivan.open(base, saleID, mint(t, "ivan", false))
	ivan.waitFor("the waiting room", "#join")
	if label := ivan.text("#items li .buy"); label != "Buy (wait for your turn)" || !eval[bool](ivan, `document.querySelector('#items li .buy').disabled`) {
		t.Errorf("before joining the button reads %q", label)
	}
	ivan.do("join the line", chromedp.Click(chromedp.CSS("#join")))
	ivan.waitFor("the admission", `#queue-status[data-status="admitted"]`)
	ivan.do("wait for Buy", chromedp.WaitEnabled(chromedp.CSS("#items li .buy")))
	ivan.checkAccessibility("admitted from the waiting room")
	ivan.buy()
}

// A sale in queued admission answers 202; the page polls as told.
func TestBrowserQueuedRequestIsPolled(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir(), "--queue", "memory")
	saleID := browserSale(t, client{t, base}, time.Now().Add(-time.Minute), 10, 600, map[string]any{"admission": "queued"})
	jane := newShopper(t, browser, "jane")
	jane.open(base, saleID, mint(t, "jane", false))
	jane.buy()
}

// A place-order answered 503 overloaded is retried by the page on its own,
// after Retry-After at least and spread at random, with the same
// Idempotency-Key, and never in a tight loop. A proxy in front of the real
// server refuses the first two presses as an overloaded server would.
func TestBrowserOverloadedIsRetriedWithBackoff(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	saleID := browserSale(t, client{t, base}, time.Now().Add(-time.Minute), 10, 600)
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	type press struct {
		at  time.Time
		key string
	}
	var mu sync.Mutex
	var presses []press
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/orders") {
			mu.Lock()
			presses = append(presses, press{time.Now(), r.Header.Get("Idempotency-Key")})
			refuse := len(presses) <= 2
			mu.Unlock()
			if refuse {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":{"code":"overloaded","message":"too many requests in flight; retry after Retry-After"}}`)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	kate := newShopper(t, browser, "kate")
	kate.open(front.URL, saleID, mint(t, "kate", false))
	kate.do("press Buy", chromedp.Click(chromedp.CSS("#items li .buy")))
	kate.do("wait for the busy notice", chromedp.Poll[chromedp.Void](
		`document.querySelector('#items li .item-note').textContent.includes('The shop is busy')`, chromedp.WithPollingTimeout(browserActionLimit)))
	kate.waitFor("the reservation after the retries", `#order-status[data-status="reserved"]`)

	mu.Lock()
	defer mu.Unlock()
	if len(presses) != 3 {
		t.Fatalf("the page sent %d place-orders for one press, want 3 (two refused, one taken)", len(presses))
	}
	for i := 1; i < len(presses); i++ {
		if gap := presses[i].at.Sub(presses[i-1].at); gap < time.Second {
			t.Errorf("retry %d came %v after the refusal, sooner than its Retry-After of 1 s", i, gap)
		}
		if presses[i].key == "" || presses[i].key != presses[0].key {
			t.Errorf("retry %d has Idempotency-Key %q, the press had %q", i, presses[i].key, presses[0].key)
		}
	}
}

// Three declines close the order, as the service allows three attempts;
// the page says so and offers no more payment.
func TestBrowserThreeDeclinesCloseTheOrder(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	saleID := browserSale(t, client{t, base}, time.Now().Add(-time.Minute), 10, 600)
	liam := newShopper(t, browser, "liam")
	liam.open(base, saleID, mint(t, "liam", false))
	liam.buy()
	for attempt := 1; attempt <= 3; attempt++ {
		liam.waitFor("the payment form", "#pay-form")
		liam.pay("tok_insufficientFunds")
		// Pay is disabled from the press until the answer is shown.
		liam.do("wait for the answer", chromedp.WaitEnabled(chromedp.CSS("#pay")))
		if attempt < 3 {
			if got := liam.text("#order-status"); !strings.Contains(got, "insufficient funds") {
				t.Fatalf("attempt %d: the order reads %q, want the decline", attempt, got)
			}
		}
	}
	liam.waitFor("the closed order", `#order-status[data-status="payment_failed"]`)
	if eval[bool](liam, `!document.querySelector('#pay-form').hidden`) {
		t.Error("a closed order still offers to pay")
	}
}

// poll waits until a JavaScript expression is true in the page.
func (s *shopper) poll(what, expression string) {
	s.t.Helper()
	s.do("wait for "+what, chromedp.Poll[chromedp.Void](expression, chromedp.WithPollingTimeout(browserActionLimit)))
}

// signInConsole opens the operators' console and signs in with token.
func (s *shopper) signInConsole(base, token string) {
	s.t.Helper()
	s.do("open the console and sign in",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#who")),
	)
}

// noSidewaysScroll fails the test when the page is wider than a phone.
func (s *shopper) noSidewaysScroll(what string) {
	s.t.Helper()
	s.do("look on a phone-sized screen", chromedp.EmulateViewport(360, 740))
	if wide := eval[bool](s, `document.documentElement.scrollWidth > document.documentElement.clientWidth`); wide {
		s.t.Errorf("%s scrolls sideways on a 360 px screen (%d px wide)", what, eval[int](s, `document.documentElement.scrollWidth`))
	}
	s.do("back to a wide screen", chromedp.EmulateViewport(900, 1000))
}

// The console creates a sale, after showing a bad one's error at its
// field, and follows its stock as shoppers (driven from Go) buy.
func TestBrowserConsoleCreatesASaleAndSeesTheStockFall(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	admin := mint(t, "admin", true)
	olga := newOperator(t, browser, "olga")
	olga.signInConsole(base, admin)
	olga.waitFor("the new sale's form", "#create")

	// A sale price above the original price: the API names the field,
	// and the console shows its message there, focused.
	olga.do("fill a bad sale",
		chromedp.SetValue(chromedp.CSS("#f-name"), "Console Launch"),
		chromedp.SetValue(chromedp.CSS("#f-item0-sale_price"), "1999.00"),
		chromedp.SetValue(chromedp.CSS("#f-item0-total_quantity"), "5"),
		chromedp.Click(chromedp.CSS("#create-submit")),
	)
	olga.waitFor("the field's error", "#create .field-error")
	type fieldError struct {
		Field   string `json:"field"`
		Invalid string `json:"invalid"`
		Focused string `json:"focused"`
		Text    string `json:"text"`
		Status  string `json:"status"`
	}
	got := eval[fieldError](olga, `(() => { const e = document.querySelector('#create .field-error');
		const input = e.closest('.field').querySelector('input');
		return {field: input.name, invalid: input.getAttribute('aria-invalid') || '', focused: document.activeElement.name || '',
			text: e.textContent, status: document.querySelector('#create-status').textContent}; })()`)
	if got.Field != "items[0].sale_price" || got.Invalid != "true" || got.Focused != "items[0].sale_price" || !strings.Contains(got.Status, "not created") {
		t.Errorf("a sale price above the original shows %+v, want the error at items[0].sale_price, marked and focused", got)
	}
	if ids := eval[string](olga, `document.querySelector('#f-item0-sale_price').getAttribute('aria-describedby') || ''`); !strings.Contains(ids, "error") {
		t.Errorf("the invalid field is not described by its error (aria-describedby %q)", ids)
	}
	olga.screenshot("console-validation")
	olga.checkAccessibility("the new sale's form with an error")
	olga.noSidewaysScroll("the console's form")

	olga.do("correct the sale and create it",
		chromedp.SetValue(chromedp.CSS("#f-item0-sale_price"), "499.00"),
		chromedp.Click(chromedp.CSS("#create-submit")),
	)
	olga.waitFor("the sale's live view", "#sale-view")
	olga.poll("the stock", `document.querySelector('#stock td.available')?.textContent === '5'`)
	if n := eval[int](olga, `document.querySelectorAll('#create .field-error').length`); n != 0 {
		t.Errorf("%d field errors left after the sale was created", n)
	}
	saleID := eval[string](olga, `decodeURIComponent(location.hash.slice('#sale/'.length))`)
	status, sale := c.call("GET", "/flash-sales/"+saleID, "", nil)
	if status != http.StatusOK || sale["name"] != "Console Launch" {
		t.Fatalf("the console's sale %q: %d %v", saleID, status, sale)
	}
	itemID := sale["items"].([]any)[0].(map[string]any)["item_id"].(string)

	// Three shoppers reserve, one pays, a fourth is refused (per-user
	// limit): the console sees it all.
	var orders []string
	for _, user := range []string{"pia", "quinn", "rosa"} {
		if os.Getenv("FLASHSALE_UPDATE_SCREENSHOTS") == "1" {
			time.Sleep(3 * time.Second) // a staircase for the screenshot, one reading a step
		}
		status, order := placeOrder(t, base, user, saleID, itemID)
		if status != http.StatusCreated {
			t.Fatalf("%s's order: %d %v", user, status, order)
		}
		orders = append(orders, order["order_id"].(string))
	}
	if status, body := c.call("POST", "/orders/"+orders[0]+"/pay", mint(t, "pia", false),
		map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card"}); status != http.StatusOK {
		t.Fatalf("pay: %d %v", status, body)
	}
	if status, _ := placeOrder(t, base, "pia", saleID, itemID); status != http.StatusConflict {
		t.Fatalf("pia's second order: %d, want 409 already_purchased", status)
	}
	olga.poll("the stock to fall", `document.querySelector('#stock td.available').textContent === '2' &&
		document.querySelector('#stock td.reserved').textContent === '2' && document.querySelector('#stock td.sold').textContent === '1'`)
	olga.poll("the refusal by reason", `[...document.querySelectorAll('#rejections th')].some((th) => th.textContent === 'already_purchased')`)
	olga.poll("the requests by status", `[...document.querySelectorAll('#rps th')].some((th) => th.textContent === '201')`)
	if lines := eval[int](olga, `document.querySelectorAll('#stock svg path').length`); lines < 3 {
		t.Errorf("the stock chart draws %d lines, want available, reserved and sold", lines)
	}

	olga.do("reconcile", chromedp.Click(chromedp.CSS("#reconcile")))
	olga.waitFor("the reconcile report", "#reconcile-summary")
	if summary := olga.text("#reconcile-summary"); !strings.Contains(summary, "consistent") || strings.Contains(summary, "NOT") {
		t.Errorf("the reconcile report reads %q", summary)
	}
	eval[chromedp.Void](olga, `window.scrollTo(0, 0)`)
	olga.screenshot("console-live")
	olga.checkAccessibility("a sale's live view")
	olga.noSidewaysScroll("the console's live view")

	// The list names the new sale.
	olga.do("back to the list", chromedp.Click(chromedp.CSS(`#sale-view a[href="#"]`)))
	olga.waitFor("the sale in the list", `#sales a[href="#sale/`+saleID+`"]`)
	olga.checkAccessibility("the sale list")
}

// A sale with a waiting room: the console shows its figures and pauses
// and resumes admission with its dial.
func TestBrowserConsoleWaitingRoomDial(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	admin := mint(t, "admin", true)
	saleID := browserSale(t, c, time.Now().Add(-time.Minute), 10, 600,
		map[string]any{"waiting_room": map[string]any{"admit_per_minute": 600}})
	if status, body := c.call("POST", "/flash-sales/"+saleID+"/queue", mint(t, "sam", false), nil); status != http.StatusCreated {
		t.Fatalf("sam joins: %d %v", status, body)
	}
	olga := newOperator(t, browser, "olga")
	olga.signInConsole(base, admin)
	olga.do("open the sale", chromedp.Navigate(base+"/console/#sale/"+saleID))
	olga.poll("the waiting room's figures", `document.querySelector('#queue-figures [data-figure="admit_per_minute"]')?.textContent === '600'`)
	olga.do("pause admission", chromedp.Click(chromedp.CSS("#pause")))
	olga.poll("the pause", `document.querySelector('#queue-figures [data-figure="paused"]').textContent === 'paused'`)
	if _, q := c.call("GET", "/admin/flash-sales/"+saleID+"/queue", admin, nil); q["paused"] != true {
		t.Errorf("after Pause the queue reads %v", q)
	}
	olga.do("set the rate",
		chromedp.SetValue(chromedp.CSS("#d-rate"), "120"),
		chromedp.Click(chromedp.CSS(`#dial button[type="submit"]`)),
	)
	olga.poll("the new rate", `document.querySelector('#queue-figures [data-figure="admit_per_minute"]').textContent === '120'`)
	olga.do("resume admission", chromedp.Click(chromedp.CSS("#pause")))
	olga.poll("the resumption", `document.querySelector('#queue-figures [data-figure="paused"]').textContent === 'running'`)
	if _, q := c.call("GET", "/admin/flash-sales/"+saleID+"/queue", admin, nil); q["paused"] != false || q["admit_per_minute"] != 120.0 {
		t.Errorf("after the dial the queue reads %v", q)
	}
	olga.checkAccessibility("a waiting room's dial")
}

// The console operates a sale while it runs: pause and resume, a restock
// (refused at its field first), a later end, an order refunded with its
// unit back on sale, the orders saved as CSV, every action in the audit
// log, and End now after its confirm; a change to the ended sale shows
// the API's refusal.
func TestBrowserConsoleOperatesASale(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	c := client{t, base}
	admin := mint(t, "admin", true)
	saleID := browserSale(t, c, time.Now().Add(-time.Minute), 5, 600)
	_, sale := c.call("GET", "/flash-sales/"+saleID, "", nil)
	itemID := sale["items"].([]any)[0].(map[string]any)["item_id"].(string)
	downloads := t.TempDir()
	olga := newOperator(t, browser, "olga")
	if _, err := chromedp.CallBrowser(olga.tab, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("downloads into %s: %v", downloads, err)
	}
	// The sale's page is rendered again at most a second after a change.
	saleReads := func(what string, cond func(map[string]any) bool) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, "the sale to read "+what, func() bool {
			status, s := c.call("GET", "/flash-sales/"+saleID, "", nil)
			return status == http.StatusOK && cond(s)
		})
	}
	olga.signInConsole(base, admin)
	olga.do("open the sale", chromedp.Navigate(base+"/console/#sale/"+saleID))
	olga.poll("the sale's controls", `document.querySelector('#op-state').dataset.state === 'selling' &&
		document.querySelector('#op-pause').textContent === 'Pause the sale'`)

	olga.do("pause the sale", chromedp.Click(chromedp.CSS("#op-pause")))
	olga.poll("the pause", `document.querySelector('#op-state').dataset.state === 'paused' &&
		document.querySelector('#op-pause').textContent === 'Resume the sale'`)
	saleReads("paused", func(s map[string]any) bool { return s["paused"] == true })
	status, body := placeOrder(t, base, "early", saleID, itemID)
	if e, _ := body["error"].(map[string]any); status != http.StatusBadRequest || e["code"] != "sale_not_active" || e["reason"] != "paused" {
		t.Errorf("an order on the paused sale: %d %v, want 400 sale_not_active (paused)", status, body)
	}
	olga.do("resume the sale", chromedp.Click(chromedp.CSS("#op-pause")))
	olga.poll("the resumption", `document.querySelector('#op-state').dataset.state === 'selling'`)
	saleReads("not paused", func(s map[string]any) bool { return s["paused"] == nil })

	// A restock of 0: the API names the field, shown at its input.
	restock := `#op-restock form[data-item="` + itemID + `"]`
	olga.do("restock nothing", chromedp.SetValue(chromedp.CSS("#op-add-0"), "0"), chromedp.Click(chromedp.CSS(restock+` button[type="submit"]`)))
	olga.waitFor("the restock's error", restock+" .field-error")
	if invalid := eval[string](olga, `document.querySelector('#op-add-0').getAttribute('aria-invalid') || ''`); invalid != "true" {
		t.Errorf("the refused restock's input: aria-invalid %q", invalid)
	}
	olga.do("restock 7", chromedp.SetValue(chromedp.CSS("#op-add-0"), "7"), chromedp.Click(chromedp.CSS(restock+` button[type="submit"]`)))
	olga.poll("the restock", `document.querySelector('`+restock+` [role="status"]').textContent.startsWith('Restocked') &&
		!document.querySelector('`+restock+` .field-error')`)
	if it := stock(t, c, saleID); it["total"] != 12.0 || it["available"] != 12.0 {
		t.Errorf("after a restock of 7 of 5 the stats read %v, want 12 in all, 12 available", it)
	}

	end := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	eval[chromedp.Void](olga, fmt.Sprintf(`document.querySelector('#op-end-time').value = ConsoleLogic.isoToLocal(Date.parse(%q))`,
		end.Format(time.RFC3339)))
	olga.do("extend the sale", chromedp.Click(chromedp.CSS(`#op-extend button[type="submit"]`)))
	olga.poll("the new end", `document.querySelector('#op-extend-status').textContent.startsWith('The sale ends')`)
	saleReads("the new end "+end.Format(time.RFC3339), func(s map[string]any) bool {
		got, err := time.Parse(time.RFC3339Nano, fmt.Sprint(s["end_time"]))
		return err == nil && got.Equal(end)
	})

	// A shopper buys; the operator sees the order and refunds it with its
	// unit back on sale.
	status, order := placeOrder(t, base, "pia", saleID, itemID)
	if status != http.StatusCreated {
		t.Fatalf("pia's order: %d %v", status, order)
	}
	orderID := order["order_id"].(string)
	if status, body := c.call("POST", "/orders/"+orderID+"/pay", mint(t, "pia", false),
		map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card"}); status != http.StatusOK || body["status"] != "confirmed" {
		t.Fatalf("pay: %d %v", status, body)
	}
	row := `#orders tr[data-order="` + orderID + `"]`
	olga.do("list the confirmed orders", chromedp.SetValue(chromedp.CSS("#o-status"), "confirmed"),
		chromedp.Click(chromedp.CSS(`#orders-filter button[type="submit"]`)))
	olga.waitFor("the confirmed order", row+` td[data-status="confirmed"]`)
	if n := eval[int](olga, `document.querySelectorAll('#orders tr[data-order]').length`); n != 1 {
		t.Errorf("the confirmed orders list %d orders, want pia's", n)
	}
	available := stock(t, c, saleID)["available"].(float64)
	olga.do("refund with restock", chromedp.Click(chromedp.CSS(row+` input[type="checkbox"]`)), chromedp.Click(chromedp.CSS(row+` button[data-refund]`)))
	olga.waitFor("the refund", row+` td[data-status="refunded"]`)
	if _, o := c.call("GET", "/orders/"+orderID, mint(t, "pia", false), nil); o["status"] != "refunded" {
		t.Errorf("after Refund the order reads %v", o)
	}
	if it := stock(t, c, saleID); it["available"] != available+1 {
		t.Errorf("after a refund with restock %v available, want %v", it["available"], available+1)
	}

	// Every order as CSV, fetched with the token in a header and saved
	// from a Blob: the file the browser saved lists the order.
	eval[chromedp.Void](olga, `document.querySelector('#o-status').value = ''`) // all
	olga.do("export every order", chromedp.Click(chromedp.CSS("#orders-csv")))
	olga.poll("the export", `document.querySelector('#orders-status').textContent.startsWith('Saved')`)
	saved := filepath.Join(downloads, "orders-"+saleID+".csv")
	testenv.Eventually(t, browserActionLimit, "the CSV saved", func() bool {
		b, err := os.ReadFile(saved)
		return err == nil && strings.HasPrefix(string(b), "order_id,user_id,") && strings.Contains(string(b), orderID+",pia,")
	})

	olga.poll("the audit log", `['change_sale', 'refund'].every((a) => document.querySelector('#audit li[data-action="' + a + '"]'))`)
	audit := eval[string](olga, `document.querySelector('#audit').textContent`)
	for _, want := range []string{"paused false → true", "paused true → false", "restock Phone X +7: 5 → 12 units",
		"confirmed → refunded, units back on sale", "admin · change_sale"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log does not say %q:\n%s", want, audit)
		}
	}
	olga.checkAccessibility("a sale's controls, orders and audit log")
	olga.noSidewaysScroll("the console's controls, orders and audit log")

	olga.do("ask to end the sale", chromedp.Click(chromedp.CSS("#op-end")))
	olga.waitFor("the confirm", "#op-end-confirm")
	if _, s := c.call("GET", "/flash-sales/"+saleID, "", nil); s["status"] != "active" {
		t.Fatalf("End now ended the sale before its confirm: %v", s)
	}
	olga.do("confirm", chromedp.Click(chromedp.CSS("#op-end-yes")))
	olga.poll("the end", `document.querySelector('#op-state').dataset.state === 'ended'`)
	saleReads("ended", func(s map[string]any) bool { return s["status"] == "ended" })
	olga.do("pause the ended sale", chromedp.Click(chromedp.CSS("#op-pause")))
	olga.poll("the refusal", `document.querySelector('#op-run-status').textContent.includes('sale_ended')`)
}

// /docs draws every operation of the served OpenAPI document.
func TestBrowserDocsRendersTheOpenAPIDocument(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir())
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	operations := 0
	for _, item := range doc.Paths {
		for method := range item {
			if method != "parameters" {
				operations++
			}
		}
	}
	vera := newOperator(t, browser, "vera")
	vera.do("open the reference", chromedp.Navigate(base+"/docs"), chromedp.WaitVisible(chromedp.CSS("#op-createSale")))
	if drawn := eval[int](vera, `document.querySelectorAll('section[id^="tag-"] > section.op').length`); drawn != operations {
		t.Errorf("the reference draws %d operations, the document has %d", drawn, operations)
	}
	if got := vera.text("#op-createSale"); !strings.Contains(got, "waiting_room") || !strings.Contains(got, "CreateSaleRequest") {
		t.Errorf("createSale does not show its request body: %.300s", got)
	}
	vera.screenshot("docs")
	vera.checkAccessibility("the API reference")
	vera.noSidewaysScroll("the API reference")
}

// A lottery sale's page: the shopper enters the draw before entries
// close, sees the commitment, the draw runs, and the page shows the win
// and pays for it; the verify panel then shows the seed and the entries.
func TestBrowserLotteryShopperEntersWinsAndPays(t *testing.T) {
	browser := newBrowser(t)
	base, _ := startInProcess(t, t.TempDir(), "--expiry-tick", "100ms")
	c := client{t, base}
	now := time.Now().UTC()
	closes := now.Add(8 * time.Second)
	saleID := browserSale(t, c, now.Add(-time.Minute), 2, 600, map[string]any{
		"mode": "lottery",
		"lottery": map[string]any{"entries_open": now.Add(-time.Minute).Format(time.RFC3339Nano),
			"entries_close": closes.Format(time.RFC3339Nano)},
		// One buyer per card: the entry names its card.
		"limits": map[string]any{"per_card": 1},
	})
	wren := newShopper(t, browser, "wren")
	wren.open(base, saleID, mint(t, "wren", false))
	if state := wren.text("#sale-state"); state != "Entries close in" {
		t.Errorf("an open lottery reads %q", state)
	}
	if hidden := eval[bool](wren, `document.querySelector('#entry-card-row').hidden`); hidden {
		t.Error("a lottery with one buyer per card offers no card for the entry")
	}
	wren.do("choose the entry's card", chromedp.SetValue(chromedp.CSS("#entry-card"), "tok_visa_2"))
	wren.poll("the commitment", `/^[0-9a-f]{64}$/.test(document.querySelector('#draw-commitment').textContent)`)
	wren.do("enter the draw", chromedp.Click(chromedp.CSS("#items li .buy")))
	wren.waitFor("the entry", `#items li[data-entry="entered"]`)
	if label := wren.text("#items li .buy"); label != "Entered" {
		t.Errorf("after entering the button reads %q", label)
	}
	wren.checkAccessibility("entered in a lottery")
	if time.Now().After(closes) {
		t.Fatal("the entry came after the close: the machine is too slow for this test's window")
	}

	wren.waitFor("the win", `#items li[data-entry="won"]`)
	wren.waitFor("the won reservation", `#order-status[data-status="reserved"]`)
	if note := wren.text("#items li .item-note"); !strings.Contains(note, "You won") {
		t.Errorf("the won entry reads %q", note)
	}
	wren.poll("the seed", `/^[0-9a-f]{64}$/.test(document.querySelector('#draw-seed').textContent)`)
	if cmd := wren.text("#verify-command"); cmd != "flashsale verify-draw --url "+base+" --sale "+saleID {
		t.Errorf("the verify command reads %q", cmd)
	}
	if link := eval[string](wren, `document.querySelector('#draw-items a')?.getAttribute('href') || ''`); !strings.HasSuffix(link, "/entries") {
		t.Errorf("the draw's entries link is %q", link)
	}
	wren.do("open the verify panel", chromedp.Click(chromedp.CSS("#verify summary")))
	wren.fullScreenshot("shopper-lottery-won")
	wren.checkAccessibility("a lottery won")
	wren.pay("tok_visa")
	wren.waitFor("the confirmation", `#order-status[data-status="confirmed"]`)
}

// serve --demo mints shopper tokens for the page's sign-in, and only
// there: any other instance has no such route.
func TestDemoTokenOnlyInDemo(t *testing.T) {
	plain, _ := startInProcess(t, t.TempDir())
	if status, body := (client{t, plain}).call("POST", "/demo/token", "", map[string]any{"user": "x"}); status != http.StatusNotFound {
		t.Errorf("POST /demo/token without --demo: %d %v, want 404", status, body)
	}
	demo, _, _ := startWatched(t, t.TempDir(), "--demo")
	c := client{t, demo}
	status, body := c.call("POST", "/demo/token", "", map[string]any{"user": "zoe"})
	if status != http.StatusOK || body["user"] != "zoe" {
		t.Fatalf("POST /demo/token: %d %v", status, body)
	}
	// The token is a shopper's: it signs in, and the admin routes refuse it.
	token := body["token"].(string)
	if status, _ := c.call("GET", "/flash-sales/x/entries", token, nil); status == http.StatusUnauthorized {
		t.Error("the demo's token is refused")
	}
	if status, _ := c.call("POST", "/admin/flash-sales", token, map[string]any{}); status != http.StatusForbidden {
		t.Errorf("the demo's token on an admin route: %d, want 403", status)
	}
	status, body = c.call("POST", "/demo/token", "", map[string]any{"user": ""})
	if e, _ := body["error"].(map[string]any); status != http.StatusBadRequest || e["field"] != "user" {
		t.Errorf("an empty user: %d %v, want 400 naming user", status, body)
	}
}

// In a demo the shopper's page signs in with a click.
func TestBrowserDemoShopperSignsInWithAClick(t *testing.T) {
	browser := newBrowser(t)
	base, _, _ := startWatched(t, t.TempDir(), "--demo")
	yara := newShopper(t, browser, "yara")
	yara.do("sign in as a demo shopper",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#demo-signin")),
		chromedp.Click(chromedp.CSS("#demo-signin")),
		chromedp.WaitVisible(chromedp.CSS("#who")),
	)
	if who := yara.text("#who-name"); !strings.HasPrefix(who, "shopper-") {
		t.Errorf("signed in as %q", who)
	}
	// The console redirects from its name without the slash.
	resp, err := http.Get(base + "/console")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/console/" {
		t.Errorf("GET /console: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}
