// Package web is the service's pages: the shopper's page, that is the
// sale list (GET /) and a sale's page (GET /sales/{sale_id}); the
// operators' console (GET /console/); the API reference (GET /docs),
// drawn from the served OpenAPI document. Plain HTML, CSS and JavaScript
// embedded in the binary and served by it, with no framework and no
// third-party request. The pages speak only the API (docs/API.md): the
// shopper's countdown runs on the sale's server_time, the buy, pay and
// cancel buttons call the API with the token the shopper pastes, and the
// order's status and the waiting room's place arrive over GET /events;
// the console calls the admin routes with the admin token pasted into it,
// and reads GET /metrics.
//
// Assets are served under names that carry a hash of their content, with
// Cache-Control: immutable; the HTML names them, and is served no-cache
// with an ETag, so a new binary's page is seen at the next load and its
// assets are never mixed with an older page's.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// assetOrder lists the assets so that each comes after those it names:
// a file's hash covers the hashed names it refers to.
var assetOrder = []string{"style.css", "console.css", "logic.js", "worker.js", "app.js", "charts.js", "console.js", "docs.js"}

// The pages, by the path they are served at. Each page names the assets
// it loads; its bundle (CompressedSize) is the page and those.
const (
	ShopperPage = "index.html"
	ConsolePage = "console.html"
	DocsPage    = "docs.html"
)

// contentSecurityPolicy allows the page nothing but its own origin: no
// inline script, no third party, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// file is one response, rendered once at start.
type file struct {
	contentType  string
	cacheControl string
	body, gzip   []byte
	etag         string
}

// Pages serves the pages and their assets.
type Pages struct {
	pages  map[string]*file    // by source name (index.html)
	named  map[string][]string // page -> the source names of the assets it loads
	assets map[string]*file    // by hashed name
	// Assets maps each asset's source name (app.js) to the path it is
	// served at (/assets/app.<hash>.js).
	Assets map[string]string
}

// Options change how the pages are rendered.
type Options struct {
	// Demo tells the shopper's page that POST /demo/token mints shopper
	// tokens ('serve --demo'), so that it offers a demo sign-in.
	Demo bool
}

// New renders the pages and their assets.
func New() (*Pages, error) { return NewWith(Options{}) }

// NewWith renders the pages and their assets as opts say.
func NewWith(opts Options) (*Pages, error) {
	p := &Pages{pages: map[string]*file{}, named: map[string][]string{}, assets: map[string]*file{}, Assets: map[string]string{}}
	var names []string // "/assets/app.js", "/assets/app.<hash>.js" pairs
	for _, name := range assetOrder {
		body, err := static.ReadFile("static/" + name)
		if err != nil {
			return nil, err
		}
		body = []byte(strings.NewReplacer(names...).Replace(string(body)))
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		f, err := newFile(body, contentType(ext), "public, max-age=31536000, immutable")
		if err != nil {
			return nil, err
		}
		p.assets[hashed] = f
		p.Assets[name] = "/assets/" + hashed
		names = append(names, "/assets/"+name, "/assets/"+hashed)
	}
	for _, name := range []string{ShopperPage, ConsolePage, DocsPage} {
		html, err := static.ReadFile("static/" + name)
		if err != nil {
			return nil, err
		}
		for _, asset := range assetOrder {
			if strings.Contains(string(html), "/assets/"+asset) {
				p.named[name] = append(p.named[name], asset)
			}
		}
		if opts.Demo {
			// The one difference a demo makes to a page: its ETag differs
			// too, so a browser never keeps the other mode's page.
			html = []byte(strings.Replace(string(html), `data-demo="off"`, `data-demo="on"`, 1))
		}
		html = []byte(strings.NewReplacer(names...).Replace(string(html)))
		if p.pages[name], err = newFile(html, "text/html; charset=utf-8", "no-cache"); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	}
	return "application/octet-stream"
}

func newFile(body []byte, contentType, cacheControl string) (*file, error) {
	var z bytes.Buffer
	w, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	w.Write(body)
	if err := w.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return &file{contentType: contentType, cacheControl: cacheControl, body: body, gzip: z.Bytes(),
		etag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

// CompressedSize is what a first visit to a page (ShopperPage,
// ConsolePage, DocsPage) downloads with gzip: the page and every asset it
// loads.
func (p *Pages) CompressedSize(page string) int {
	n := len(p.pages[page].gzip)
	for _, name := range p.named[page] {
		n += len(p.assets[strings.TrimPrefix(p.Assets[name], "/assets/")].gzip)
	}
	return n
}

// ServeHTTP answers GET /, GET /sales/{sale_id} (the same page: its script
// reads the path), GET /console/, GET /docs and GET /assets/{file}. The
// caller routes only those paths here.
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var f *file
	switch r.URL.Path {
	case "/console/":
		f = p.pages[ConsolePage]
	case "/docs":
		f = p.pages[DocsPage]
	default:
		f = p.pages[ShopperPage]
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/assets/"); ok {
		if f = p.assets[name]; f == nil {
			// An asset of another build: the page that named it is stale.
			http.Error(w, "no such asset; reload the page", http.StatusNotFound)
			return
		}
	} else {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
	}
	serve(w, r, f)
}

func serve(w http.ResponseWriter, r *http.Request, f *file) {
	h := w.Header()
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match != "" && etagListed(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = f.gzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagListed reports whether an If-None-Match header names etag (weakly,
// as RFC 9110 compares for GET), or is "*".
func etagListed(header, etag string) bool {
	for candidate := range strings.SplitSeq(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == etag || candidate == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip,
// honouring an explicit q=0.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if coding = strings.TrimSpace(coding); coding != "gzip" && coding != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
