package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gwstore"
)

// signupData is the sign-up page's own.
type signupData struct {
	Username string
}

// signupPage shows the sign-up form, when sign-up is on (--web-signup);
// otherwise the page does not exist.
func (s *Server) signupPage(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Signup {
		s.notFound(w, r)
		return
	}
	s.render(w, "signup", http.StatusOK, view{Title: "Sign up", CSRF: loginToken(w, r)})
}

// signupPost makes an account with the sign-up zones and quota, and logs
// it in. Each attempt takes a token of the login limiter, kept: accounts
// are not made by the hundred.
func (s *Server) signupPost(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Signup {
		s.notFound(w, r)
		return
	}
	if !s.parseForm(w, r, nil) {
		return
	}
	if !loginFormOK(r) {
		s.forbidden(w, r, nil)
		return
	}
	ctx := r.Context()
	name := strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))
	again := func(code int, msg string) {
		s.render(w, "signup", code, view{Title: "Sign up", CSRF: loginToken(w, r), Error: msg, Data: signupData{Username: name}})
	}
	now := s.now()
	if a := s.limits.take(remoteIP(r), now); !a.ok {
		retryAfter(w, a.wait)
		again(http.StatusTooManyRequests, "Too many attempts. Wait a minute and try again.")
		return
	}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("confirm") {
		again(http.StatusBadRequest, "The password and its confirmation differ.")
		return
	}
	err := account.ValidName(name)
	var u account.User
	if err == nil {
		u = account.User{Name: name, Zones: s.cfg.SignupZones, Quota: s.cfg.SignupQuota, Created: now.UTC()}
		u.PasswordHash, err = s.hashPassword(ctx, pw)
	}
	if err == nil {
		u, err = u.Validate()
	}
	if err == nil {
		_, err = s.cfg.Store.PutUser(ctx, u, 0)
		if errors.Is(err, gwstore.ErrExists) {
			err = refuse(fmt.Sprintf("the name %s is taken", name))
		}
	}
	if msg := shown(err); msg != "" {
		again(http.StatusBadRequest, msg+".")
		return
	}
	if err != nil {
		s.internalError(w, r, nil, "make the account", err)
		return
	}
	s.log.Info().Str("user", u.Name).Str("remote", r.RemoteAddr).Msg("signed up")
	if _, err := s.startSession(ctx, w, r, u.Name, false); err != nil {
		s.internalError(w, r, nil, "start a session", err)
		return
	}
	clearCookie(w, loginCookie, "/")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
