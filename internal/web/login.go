package web

import (
	"context"
	"crypto/rand"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gwstore"
)

// badLogin is the one answer to a wrong name, password or code and to a
// locked account: the page tells no one which names exist. The log says
// why.
const badLogin = "Wrong user name, password or code."

// loginData is the login page's own.
type loginData struct {
	Username string
	TOTPStep bool // the password was right; the code is due
}

// loginPage shows the login form, or the code form of a login whose
// password was right.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	sess, err := s.currentSession(r.Context(), r)
	switch {
	case err == nil && !sess.Pending:
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case err == nil:
		s.render(w, "login", http.StatusOK, view{Title: "Log in", CSRF: sess.CSRF, Data: loginData{TOTPStep: true}})
	case errors.Is(err, errNoSession):
		s.renderLogin(w, r, http.StatusOK, "", "")
	default:
		s.internalError(w, r, nil, "read the session", err)
	}
}

// renderLogin shows the login form with the double-submit token of
// loginToken.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, msg, username string) {
	s.render(w, "login", code, view{Title: "Log in", CSRF: loginToken(w, r), Error: msg, Signup: s.cfg.Signup,
		Data: loginData{Username: username}})
}

// loginToken returns the token of the login and sign-up forms, which
// have no session yet: the same value in the zc_login cookie and in the
// form (double submit). A page of another site can neither read the
// cookie nor, with SameSite=Strict, send it.
func loginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(loginCookie); err == nil && validLoginToken(c.Value) {
		return c.Value
	}
	t := rand.Text()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: t, Path: "/", MaxAge: int(time.Hour / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	return t
}

func validLoginToken(t string) bool {
	if len(t) < 26 || len(t) > 64 {
		return false
	}
	for _, c := range []byte(t) {
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// loginFormOK checks the double-submit token of a form without a session.
func loginFormOK(r *http.Request) bool {
	c, err := r.Cookie(loginCookie)
	return err == nil && validLoginToken(c.Value) && tokenEqual(c.Value, r.PostForm.Get("csrf"))
}

// loginPost checks a login: the password step (user name, password and,
// for a user with TOTP, optionally the code), or the code step of a
// pending session. Each attempt takes a token of every level of the login
// limit (loginLimits), which a successful one gives back.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r, nil) {
		return
	}
	ctx := r.Context()
	var pending *account.Session
	if r.PostForm.Get("username") == "" {
		if sess, err := s.currentSession(ctx, r); err == nil && sess.Pending {
			pending = &sess
		}
	}
	if pending != nil && !tokenEqual(pending.CSRF, r.PostForm.Get("csrf")) || pending == nil && !loginFormOK(r) {
		s.m.login(loginCSRF)
		s.forbidden(w, r, nil)
		return
	}
	now := s.now()
	a := s.limits.take(remoteIP(r), now)
	if !a.ok {
		s.m.login(loginRateLimited)
		s.log.Warn().Str("remote", r.RemoteAddr).Str("limit", a.refused).Msg("login refused: too many attempts")
		retryAfter(w, a.wait)
		s.renderLogin(w, r, http.StatusTooManyRequests, "Too many login attempts. Wait a minute and try again.", "")
		return
	}
	refund := func() { s.limits.refund(a, s.now()) }
	if pending != nil {
		s.codeStep(w, r, *pending, now, refund)
		return
	}
	s.passwordStep(w, r, now, refund)
}

// retryAfter sets Retry-After to wait, in whole seconds, at least one.
func retryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
}

// dummyHash is the argon2id hash, with HashPassword's parameters, of a
// password no one knows: an unknown user's password is checked against
// it, so that a name that does not exist costs the same hashing time as
// one that does.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$AthWuKWfe/mcUubWBlqd2g$V+7NfdHDJ/N3FM7g+iLAFXtlaOvO/aG/BI+y8idk7Xs"

func (s *Server) passwordStep(w http.ResponseWriter, r *http.Request, now time.Time, refund func()) {
	ctx := r.Context()
	name := strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))
	pw, code := r.PostForm.Get("password"), strings.TrimSpace(r.PostForm.Get("totp"))
	// A name that is not one is not logged: people paste passwords into
	// that field.
	valid := account.ValidName(name)
	lc := s.log.With().Str("remote", r.RemoteAddr)
	if valid == nil {
		lc = lc.Str("user", name)
	}
	log := lc.Logger()
	refused := func(result, reason string) {
		s.m.login(result)
		log.Warn().Str("reason", reason).Msg("login refused")
		s.renderLogin(w, r, http.StatusUnauthorized, badLogin, name)
	}
	if valid != nil {
		s.checkPassword(ctx, dummyHash, pw) // as long as for a user who exists
		refused(loginFailed, "not a valid user name")
		return
	}
	u, rev, err := s.cfg.Store.User(ctx, name)
	switch {
	case errors.Is(err, gwstore.ErrNotFound) || errors.Is(err, account.ErrInvalid):
		s.checkPassword(ctx, dummyHash, pw)
		refused(loginFailed, "no such user")
		return
	case err != nil:
		s.m.login(loginError)
		s.internalError(w, r, nil, "read the user", err)
		return
	}
	if locked, d := u.Locked(now); locked {
		s.checkPassword(ctx, dummyHash, pw)
		refused(loginLocked, "account locked for "+d.Round(time.Second).String()+" after failed logins")
		return
	}
	if !s.checkPassword(ctx, u.PasswordHash, pw) {
		s.failed(ctx, u, rev, now, log)
		refused(loginFailed, "wrong password")
		return
	}
	if u.TOTPSecret != "" {
		if code == "" {
			refund()
			sess, err := s.newSession(ctx, w, r, u, rev, true, nil)
			if err != nil {
				s.m.login(loginError)
				s.internalError(w, r, nil, "start a session", err)
				return
			}
			s.m.login(loginTOTPNeeded)
			s.render(w, "login", http.StatusOK, view{Title: "Log in", CSRF: sess.CSRF, Data: loginData{TOTPStep: true}})
			return
		}
		if !account.CheckTOTP(u.TOTPSecret, code, now) {
			s.failed(ctx, u, rev, now, log)
			refused(loginFailed, "wrong TOTP code")
			return
		}
	}
	s.loggedIn(w, r, u, rev, refund, log)
}

// codeStep checks the TOTP code of a pending session.
func (s *Server) codeStep(w http.ResponseWriter, r *http.Request, sess account.Session, now time.Time, refund func()) {
	ctx := r.Context()
	log := s.log.With().Str("user", sess.User).Str("remote", r.RemoteAddr).Logger()
	u, rev, err := s.cfg.Store.User(ctx, sess.User)
	if errors.Is(err, gwstore.ErrNotFound) {
		s.endSession(ctx, w, sess.ID)
		s.m.login(loginFailed)
		s.renderLogin(w, r, http.StatusUnauthorized, badLogin, "")
		return
	}
	if err != nil {
		s.m.login(loginError)
		s.internalError(w, r, nil, "read the user", err)
		return
	}
	again := func(result, reason string) {
		s.m.login(result)
		log.Warn().Str("reason", reason).Msg("login refused")
		s.render(w, "login", http.StatusUnauthorized, view{Title: "Log in", CSRF: sess.CSRF, Error: badLogin,
			Data: loginData{TOTPStep: true}})
	}
	if locked, d := u.Locked(now); locked {
		again(loginLocked, "account locked for "+d.Round(time.Second).String()+" after failed logins")
		return
	}
	// A secret removed meanwhile (totp-reset) leaves the password, checked.
	if u.TOTPSecret != "" && !account.CheckTOTP(u.TOTPSecret, strings.TrimSpace(r.PostForm.Get("totp")), now) {
		s.failed(ctx, u, rev, now, log)
		again(loginFailed, "wrong TOTP code")
		return
	}
	s.loggedIn(w, r, u, rev, refund, log)
}

// loggedIn clears the user's failures and starts the session, with a new
// id (the pending one, if any, is deleted).
func (s *Server) loggedIn(w http.ResponseWriter, r *http.Request, u account.User, rev uint64, refund func(), log zerolog.Logger) {
	ctx := r.Context()
	if _, err := s.newSession(ctx, w, r, u, rev, false, account.User.Succeeded); err != nil {
		s.m.login(loginError)
		s.internalError(w, r, nil, "start a session", err)
		return
	}
	refund()
	clearCookie(w, loginCookie, "/")
	s.m.login(loginOK)
	log.Info().Msg("logged in")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// failed records a failed login in the user record, which every gateway
// reads: the lockout holds across the fleet. The write runs beside the
// answer, not before it: a wrong password of a user who exists must take
// no longer than one of a name that does not (Wait waits for it).
func (s *Server) failed(ctx context.Context, u account.User, rev uint64, now time.Time, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	s.bg.Go(func() {
		defer cancel()
		err := s.updateUser(ctx, u, rev, func(u *account.User) error { *u = u.Failed(now); return nil })
		if err != nil {
			log.Error().Err(err).Msg("recording a failed login in the user record")
		}
	})
}

// recordTimeout bounds the recording of a failed login, which no request
// waits for.
const recordTimeout = 10 * time.Second

// casAttempts bounds the retries of a compare-and-set.
const casAttempts = 5

// checkPassword checks pw against hash, at most len(s.hashing) at once.
func (s *Server) checkPassword(ctx context.Context, hash, pw string) bool {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-s.hashing }()
	return account.CheckPassword(hash, pw)
}

// hashPassword is account.HashPassword, bounded like checkPassword.
func (s *Server) hashPassword(ctx context.Context, pw string) (string, error) {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.hashing }()
	return account.HashPassword(pw)
}

// maxLimiters bounds the addresses and networks the login limit
// remembers (loginLimits).
const maxLimiters = 10000
