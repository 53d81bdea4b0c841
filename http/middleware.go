package http

import (
	"context"
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

// instrument counts and times every request by route and status.
func (s *server) instrument(route string, next http.Handler) http.Handler {
	duration := s.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		duration.Observe(time.Since(start).Seconds())
		s.metrics.requests.WithLabelValues(route, statusLabel(rec.status)).Inc()
	})
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
