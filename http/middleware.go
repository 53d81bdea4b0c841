package http

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"github.com/flashsale/flashsale"
)

type identityKey struct{}

func identityOf(r *http.Request) Identity {
	id, _ := r.Context().Value(identityKey{}).(Identity)
	return id
}

// user requires a valid bearer token and puts its identity in the context.
func (s *server) user(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.authenticate(r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// admin requires a valid token with the admin role.
func (s *server) admin(next http.Handler) http.Handler {
	return s.user(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !identityOf(r).Admin {
			s.error(w, r, flashsale.Errorf(flashsale.EForbidden, "this endpoint needs the admin role"))
			return
		}
		next.ServeHTTP(w, r)
	}))
}

func (s *server) authenticate(r *http.Request) (Identity, error) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return Identity{}, flashsale.Errorf(flashsale.EUnauthenticated, "send a token: Authorization: Bearer <JWT>")
	}
	id, err := s.Verify(token)
	if e, ok := asError(err); ok && e.Code == flashsale.EUnauthenticated {
		// The verifier's own words: expired, not signed by this service,
		// malformed, ... each says what to do about it.
		return Identity{}, e
	}
	if err != nil || id.UserID == "" {
		return Identity{}, errInvalidToken
	}
	return id, nil
}

var errInvalidToken = flashsale.Errorf(flashsale.EUnauthenticated, "the token is invalid")

func bearerToken(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !equalFoldASCII(header[:len(prefix)], prefix) {
		return "", false
	}
	return header[len(prefix):], true
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i]|0x20, b[i]|0x20
		if ca != cb {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status a handler wrote, for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts and times every request by route and status, and,
// with the access log on, writes a line of it. A client's X-Request-Id
// (printable ASCII, at most 128 bytes) is echoed; with the access log on,
// a request without one is given one, so that its line and its answer
// name it alike. Off, a request without one costs nothing more: the rush
// is answered without an id to make.
func (s *server) instrument(route string, next http.Handler) http.Handler {
	duration := s.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r.Header.Get("X-Request-Id"))
		if id == "" && s.AccessLog {
			id = rand.Text()
		}
		if id != "" {
			w.Header().Set("X-Request-Id", id)
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		took := time.Since(start)
		duration.Observe(took.Seconds())
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, statusLabel(status)).Inc()
		if s.AccessLog {
			s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("request_id", id),
				slog.String("method", r.Method), slog.String("route", route), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.Duration("took", took), slog.String("client", s.clientIP(r).String()))
		}
	})
}

// requestID is a client's X-Request-Id when it is one a log may carry:
// 1 to 128 bytes of printable ASCII. Anything else is dropped.
func requestID(id string) string {
	if id == "" || len(id) > 128 {
		return ""
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return ""
		}
	}
	return id
}

func statusLabel(status int) string {
	if status == 0 { // nothing written: net/http sends 200
		status = http.StatusOK
	}
	if label, ok := httpStatusText[status]; ok {
		return label
	}
	return "other"
}
