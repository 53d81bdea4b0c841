package http

import (
	"net/http"

	"github.com/flashsale/flashsale"
)

// DemoPages are the pages of a 'flashsale serve --demo': Pages that also
// mint shopper tokens at POST /demo/token, so that a newcomer signs in on
// the page with a click instead of pasting a token. Only a demo has the
// route: anyone may call it, and a token is a shopper's identity.
type DemoPages struct {
	http.Handler
	// Mint returns a shopper's token (never an admin's) for user; an
	// error is a user id it will not sign.
	Mint func(user string) (string, error)
}

type demoTokenRequest struct {
	User string `json:"user"`
}

type demoTokenView struct {
	User  string `json:"user"`
	Token string `json:"token"`
}

func (s *server) handleDemoToken(mint func(string) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req demoTokenRequest
		if err := decode(w, r, &req, false); err != nil {
			s.error(w, r, err)
			return
		}
		token, err := mint(req.User)
		if err != nil {
			// The one thing Mint refuses is the user id: empty, too
			// long, or with control characters.
			s.error(w, r, flashsale.InvalidField("user", "user must be 1 to 128 bytes of UTF-8 without control characters: %v", err))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, demoTokenView{User: req.User, Token: token})
	})
}
