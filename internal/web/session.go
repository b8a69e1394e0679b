package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gwstore"
)

// Cookies: the session's, and the login form's double-submit token. The
// __Host- prefix makes browsers take them only from this host, Secure,
// with Path=/ and no Domain: a page on a sibling subdomain, which counts as
// the same site, cannot set them (and so cannot plant a login token it
// knows).
const (
	sessionCookie = "__Host-zc_session"
	loginCookie   = "__Host-zc_login"
)

// maxForm bounds a form's body.
const maxForm = 64 << 10

// request is a request of a logged-in user.
type request struct {
	sess account.Session
	user account.User
	rev  uint64 // of the user record
}

type authedHandler func(w http.ResponseWriter, r *http.Request, rq *request)

// authed serves h to a logged-in user; anyone else goes to the login page.
// A POST must carry the session's CSRF token, or it is refused (403) before
// h sees it.
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq, ok := s.session(w, r)
		if !ok {
			return
		}
		if r.Method == http.MethodPost {
			if !s.parseForm(w, r, rq) {
				return
			}
			if !tokenEqual(rq.sess.CSRF, r.PostForm.Get("csrf")) {
				s.forbidden(w, r, rq)
				return
			}
		}
		h(w, r, rq)
	}
}

// admin serves h to admins; to others the page does not exist.
func (s *Server) admin(h authedHandler) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, rq *request) {
		if !rq.user.Admin {
			s.notFoundAs(w, r, rq)
			return
		}
		h(w, r, rq)
	})
}

// parseForm reads a POST's form, bounded in size.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request, rq *request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.message(w, r, rq, http.StatusBadRequest, "Bad form", "The form could not be read.")
		return false
	}
	return true
}

// session returns the logged-in user of r, or answers (a redirect to the
// login page, or an error) and returns false.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*request, bool) {
	sess, err := s.currentSession(r.Context(), r)
	switch {
	case errors.Is(err, errNoSession):
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, false
	case err != nil:
		s.internalError(w, r, nil, "read the session", err)
		return nil, false
	case sess.Pending:
		http.Redirect(w, r, "/login", http.StatusSeeOther) // the TOTP code is still due
		return nil, false
	}
	u, rev, err := s.cfg.Store.User(r.Context(), sess.User)
	if errors.Is(err, gwstore.ErrNotFound) {
		// The user was removed: so is the session.
		s.endSession(r.Context(), w, sess.ID)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, false
	}
	if err != nil {
		s.internalError(w, r, nil, "read the user", err)
		return nil, false
	}
	return &request{sess: sess, user: u, rev: rev}, true
}

var errNoSession = errors.New("no session")

// currentSession returns the session r's cookie names, errNoSession when
// there is none or it is over.
func (s *Server) currentSession(ctx context.Context, r *http.Request) (account.Session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return account.Session{}, errNoSession
	}
	sess, err := s.cfg.Store.Session(ctx, account.SessionID(c.Value))
	if errors.Is(err, gwstore.ErrNotFound) {
		return account.Session{}, errNoSession
	}
	if err != nil {
		return account.Session{}, err
	}
	if sess.Expired(s.now()) {
		return account.Session{}, errNoSession
	}
	return sess, nil
}

// maxSessions is the most sessions a user has at once; a login beyond
// ends the oldest. Logins give their attempt of the login limit back, so
// without a bound one account could fill the bucket every gateway
// watches.
const maxSessions = 10

// startSession stores a new session of user (pending: the TOTP code is
// still due) and sets its cookie. Any session r had is deleted: the id
// changes at login.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, user string, pending bool) (account.Session, error) {
	u, rev, err := s.cfg.Store.User(ctx, user)
	if err != nil {
		return account.Session{}, err
	}
	return s.newSession(ctx, w, r, u, rev, pending, nil)
}

// newSession is startSession of u, read at rev. The session's id goes
// into the user record (account.User.AddSession) before the session is
// stored, in the same write as change (nil: none); the sessions it drops
// are deleted.
func (s *Server) newSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u account.User, rev uint64, pending bool,
	change func(account.User) account.User) (account.Session, error) {
	ttl := s.cfg.SessionTTL
	if pending {
		ttl = pendingTTL
	}
	cookie, sess, err := account.NewSession(u.Name, s.now(), ttl)
	if err != nil {
		return account.Session{}, err
	}
	sess.Pending = pending
	var replaced string
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" {
		replaced = account.SessionID(old.Value)
	}
	var ended []string
	err = s.updateUser(ctx, u, rev, func(u *account.User) error {
		if change != nil {
			*u = change(*u)
		}
		*u, ended = u.AddSession(sess.ID, replaced, maxSessions)
		return nil
	})
	if err != nil {
		return account.Session{}, fmt.Errorf("adding the session to the user record: %w", err)
	}
	if err := s.cfg.Store.PutSession(ctx, sess); err != nil {
		return account.Session{}, err
	}
	if replaced != "" {
		if err := s.cfg.Store.DeleteSession(ctx, replaced); err != nil && !errors.Is(err, gwstore.ErrNotFound) {
			s.log.Warn().Err(err).Str("user", u.Name).Msg("deleting the session replaced at login")
		}
	}
	for _, id := range ended {
		if err := s.cfg.Store.DeleteSession(ctx, id); err != nil && !errors.Is(err, gwstore.ErrNotFound) {
			s.log.Warn().Err(err).Str("user", u.Name).Msg("deleting the oldest session beyond the bound")
		}
	}
	if len(ended) > 0 {
		s.log.Info().Str("user", u.Name).Int("sessions", len(ended)).Int("max", maxSessions).
			Msg("oldest sessions ended: a user has at most max")
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: cookie, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	return sess, nil
}

// pendingTTL is how long a session waits for its TOTP code.
const pendingTTL = 5 * time.Minute

// endSession deletes the session id on the server and the cookie in the
// browser.
func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, id string) {
	if err := s.cfg.Store.DeleteSession(ctx, id); err != nil && !errors.Is(err, gwstore.ErrNotFound) {
		s.log.Error().Err(err).Msg("deleting a session")
	}
	clearCookie(w, sessionCookie, "/")
}

func clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// tokenEqual compares a CSRF token in constant time; an empty one never
// matches.
func tokenEqual(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// logout ends the session on the server; the cookie alone is worth
// nothing afterwards.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.currentSession(r.Context(), r)
	if errors.Is(err, errNoSession) {
		clearCookie(w, sessionCookie, "/")
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err != nil {
		s.internalError(w, r, nil, "read the session", err)
		return
	}
	if !s.parseForm(w, r, nil) {
		return
	}
	if !tokenEqual(sess.CSRF, r.PostForm.Get("csrf")) {
		s.forbidden(w, r, nil)
		return
	}
	s.endSession(r.Context(), w, sess.ID)
	s.log.Info().Str("user", sess.User).Str("remote", r.RemoteAddr).Msg("logged out")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
