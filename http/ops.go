package http

import (
	_ "embed"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale"
)

//go:embed openapi.json
var openAPI []byte

func (s *server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 503 while a dependency does not answer, so a load
// balancer stops sending traffic here.
//
// It logs when readiness changes, not at every probe: a load balancer
// probes every second or so, and a rebuild or an outage would otherwise
// bury the log.
func (s *server) handleReadyz() http.Handler {
	var notReady atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ready(r); err != nil {
			if !notReady.Swap(true) {
				s.Logger.Warn("not ready", "err", err)
			}
			s.error(w, r, &flashsale.Error{Code: flashsale.EUnavailable, Message: "a dependency is not answering", RetryAfter: 5 * time.Second})
			return
		}
		if notReady.Swap(false) {
			s.Logger.Info("ready again")
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

func (s *server) handleMetrics() http.Handler { return s.metrics.handler }

func (s *server) handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(openAPI)
	})
}

func (s *server) handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, flashsale.Errorf(flashsale.ENotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
}

func (s *server) handleMethodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		s.error(w, r, flashsale.Errorf(flashsale.EMethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, allow))
	})
}
