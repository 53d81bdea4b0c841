package http

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// renderCache keeps rendered responses for a short time, so a refresh storm
// costs a map lookup instead of a render per request.
type renderCache struct {
	ttl     time.Duration
	mu      sync.RWMutex
	entries map[string]*rendered
}

// rendered is a response body with its validator and cache policy.
type rendered struct {
	body         []byte
	etag         string
	cacheControl string
	expires      time.Time
}

func newRenderCache(ttl time.Duration) *renderCache {
	return &renderCache{ttl: ttl, entries: map[string]*rendered{}}
}

// get returns the entry for key, rendering it when missing or stale.
// Failed renders are not cached.
func (c *renderCache) get(key string, now time.Time, render func() (*rendered, error)) (*rendered, error) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	e, err := render()
	if err != nil {
		return nil, err
	}
	e.expires = now.Add(c.ttl)
	c.mu.Lock()
	if len(c.entries) > 10_000 { // unknown keys must not grow it without bound
		clear(c.entries)
	}
	c.entries[key] = e
	c.mu.Unlock()
	return e, nil
}

// etagOf is a strong validator over the parts of a response that matter
// to a client (the caller leaves out server_time).
func etagOf(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// serveRendered writes a cached response, or 304 when the client's copy
// is current.
func serveRendered(w http.ResponseWriter, r *http.Request, e *rendered) {
	h := w.Header()
	h.Set("ETag", e.etag)
	h.Set("Cache-Control", e.cacheControl)
	if etagMatches(r.Header.Get("If-None-Match"), e.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(e.body)
}

func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == etag {
			return true
		}
	}
	return false
}
