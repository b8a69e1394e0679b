package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gwstore"
)

// accountData is the account page's own.
type accountData struct {
	TOTP   bool         // on
	Secret string       // a new secret to enable, when off
	URI    template.URL // its otpauth:// URI (totpURI)
}

// totpURI is the otpauth:// link of secret for user, marked a safe URL:
// html/template lets no otpauth: scheme into an href otherwise (it writes
// #ZgotmplZ). It is made only of the issuer (the operator's
// configuration), a user name that passed account.ValidName (a-z 0-9 . _
// -) and a secret the server generated (or its copy posted back with a
// wrong code, which enableTOTP checks is base32 first), each escaped by
// account.TOTPURI: the scheme and path are the server's, and nothing
// typed by a visitor is in it unescaped.
func totpURI(issuer, user, secret string) template.URL {
	return template.URL(account.TOTPURI(issuer, user, secret)) //nolint:gosec // see above
}

func (s *Server) accountView(rq *request, secret string) (view, error) {
	d := accountData{TOTP: rq.user.TOTPSecret != ""}
	if !d.TOTP {
		if secret == "" {
			var err error
			if secret, err = account.NewTOTPSecret(); err != nil {
				return view{}, err
			}
		}
		d.Secret, d.URI = secret, totpURI(s.cfg.Issuer, rq.user.Name, secret)
	}
	return view{Title: "Your account", Nav: "account", User: &rq.user, CSRF: rq.sess.CSRF, Data: d}, nil
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, rq *request, code int, msg, secret string) {
	v, err := s.accountView(rq, secret)
	if err != nil {
		s.internalError(w, r, rq, "make a TOTP secret", err)
		return
	}
	v.Error = msg
	if code == http.StatusOK {
		v.Notice = notice(r)
	}
	s.render(w, "account", code, v)
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, rq *request) {
	s.showAccount(w, r, rq, http.StatusOK, "", "")
}

// changePassword sets a new password once the current one is given. A
// wrong current password takes a token of the login limiter (a session
// left open must not be a way to guess it), but counts no failure in the
// record: that would lock the user out through their own session.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	cur, pw, confirm := r.PostForm.Get("current"), r.PostForm.Get("new"), r.PostForm.Get("confirm")
	now := s.now()
	a := s.limits.take(remoteIP(r), now)
	if !a.ok {
		retryAfter(w, a.wait)
		s.showAccount(w, r, rq, http.StatusTooManyRequests, "Too many attempts. Wait a minute and try again.", "")
		return
	}
	if !s.checkPassword(ctx, rq.user.PasswordHash, cur) {
		s.log.Warn().Str("user", rq.user.Name).Str("remote", r.RemoteAddr).Msg("password change refused: wrong current password")
		s.showAccount(w, r, rq, http.StatusBadRequest, "The current password is wrong.", "")
		return
	}
	s.limits.refund(a, s.now())
	if pw != confirm {
		s.showAccount(w, r, rq, http.StatusBadRequest, "The new password and its confirmation differ.", "")
		return
	}
	hash, err := s.hashPassword(ctx, pw)
	if msg := shown(err); msg != "" {
		s.showAccount(w, r, rq, http.StatusBadRequest, msg+".", "")
		return
	}
	if err == nil {
		err = s.updateUser(ctx, rq.user, rq.rev, func(u *account.User) error { u.PasswordHash = hash; return nil })
	}
	if err != nil {
		s.internalError(w, r, rq, "change the password", err)
		return
	}
	s.log.Info().Str("user", rq.user.Name).Msg("password changed")
	// Whoever else was logged in with the old password is no more; this
	// browser goes on in a new session.
	if err := s.cfg.Store.DeleteUserSessions(ctx, rq.user.Name); err != nil {
		s.internalError(w, r, rq, "end the other sessions", err)
		return
	}
	if _, err := s.startSession(ctx, w, r, rq.user.Name, false); err != nil {
		s.internalError(w, r, rq, "start a session", err)
		return
	}
	seeOther(w, r, "/account", "password")
}

// enableTOTP turns the second factor on, once a code of the new secret
// shows that the user's app has it.
func (s *Server) enableTOTP(w http.ResponseWriter, r *http.Request, rq *request) {
	secret, code := strings.TrimSpace(r.PostForm.Get("secret")), strings.TrimSpace(r.PostForm.Get("code"))
	if rq.user.TOTPSecret != "" {
		s.showAccount(w, r, rq, http.StatusBadRequest, "Two-factor login is already on.", "")
		return
	}
	if _, err := account.TOTP(secret, s.now()); err != nil {
		s.showAccount(w, r, rq, http.StatusBadRequest, "The secret of the form is not valid: reload the page.", "")
		return
	}
	if !account.CheckTOTP(secret, code, s.now()) {
		s.showAccount(w, r, rq, http.StatusBadRequest, "That code does not match: check the app's clock and enter the current code.", secret)
		return
	}
	if err := s.updateUser(r.Context(), rq.user, rq.rev, func(u *account.User) error { u.TOTPSecret = secret; return nil }); err != nil {
		s.internalError(w, r, rq, "turn two-factor login on", err)
		return
	}
	s.log.Info().Str("user", rq.user.Name).Msg("totp enabled")
	seeOther(w, r, "/account", "totp-on")
}

// disableTOTP turns the second factor off with a current code.
func (s *Server) disableTOTP(w http.ResponseWriter, r *http.Request, rq *request) {
	if rq.user.TOTPSecret == "" {
		seeOther(w, r, "/account", "totp-off")
		return
	}
	if !account.CheckTOTP(rq.user.TOTPSecret, strings.TrimSpace(r.PostForm.Get("code")), s.now()) {
		s.showAccount(w, r, rq, http.StatusBadRequest, "That code does not match.", "")
		return
	}
	if err := s.updateUser(r.Context(), rq.user, rq.rev, func(u *account.User) error { u.TOTPSecret = ""; return nil }); err != nil {
		s.internalError(w, r, rq, "turn two-factor login off", err)
		return
	}
	s.log.Info().Str("user", rq.user.Name).Msg("totp disabled")
	seeOther(w, r, "/account", "totp-off")
}

// updateUser applies change to u (read at rev) and stores it, compare and
// set: on a conflict it reads the record again and applies change anew.
func (s *Server) updateUser(ctx context.Context, u account.User, rev uint64, change func(*account.User) error) error {
	for range casAttempts {
		c := u
		if err := change(&c); err != nil {
			return err
		}
		c, err := c.Validate()
		if err != nil {
			return err
		}
		_, err = s.cfg.Store.PutUser(ctx, c, rev)
		if !errors.Is(err, gwstore.ErrConflict) {
			return err
		}
		if u, rev, err = s.cfg.Store.User(ctx, u.Name); err != nil {
			return err
		}
	}
	return gwstore.ErrConflict
}
