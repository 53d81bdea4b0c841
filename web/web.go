// Package web is the shopper's page: the sale list (GET /) and a sale's
// page (GET /sales/{sale_id}), plain HTML, CSS and JavaScript embedded in
// the binary and served by it, with no framework and no third-party
// request. The page speaks only the public API (docs/API.md): the
// countdown runs on the sale's server_time, the buy, pay and cancel
// buttons call the API with the token the shopper pastes, and the order's
// status and the waiting room's place arrive over GET /events.
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
var assetOrder = []string{"style.css", "logic.js", "worker.js", "app.js"}

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

// Pages serves the shopper's pages and their assets.
type Pages struct {
	page   *file
	assets map[string]*file // by hashed name
	// Assets maps each asset's source name (app.js) to the path it is
	// served at (/assets/app.<hash>.js).
	Assets map[string]string
}

// New renders the pages and their assets.
func New() (*Pages, error) {
	p := &Pages{assets: map[string]*file{}, Assets: map[string]string{}}
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
	html, err := static.ReadFile("static/index.html")
	if err != nil {
		return nil, err
	}
	html = []byte(strings.NewReplacer(names...).Replace(string(html)))
	if p.page, err = newFile(html, "text/html; charset=utf-8", "no-cache"); err != nil {
		return nil, err
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

// CompressedSize is what a first visit downloads with gzip: the page and
// every asset.
func (p *Pages) CompressedSize() int {
	n := len(p.page.gzip)
	for _, f := range p.assets {
		n += len(f.gzip)
	}
	return n
}

// ServeHTTP answers GET /, GET /sales/{sale_id} (the same page: its script
// reads the path) and GET /assets/{file}. The caller routes only those
// paths here.
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := p.page
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
