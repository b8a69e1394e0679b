package web

import (
	"bytes"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gwstore"
)

// view is what every template gets: the layout's part, and Data, the
// page's own.
type view struct {
	Title  string
	Nav    string // the page's entry in the navigation
	User   *account.User
	CSRF   string // the session's token, for every form
	Error  string
	Notice string
	Signup bool
	Data   any
}

// funcs are the templates' helpers. None marks its result safe: every
// value from users is escaped by html/template.
var funcs = template.FuncMap{
	"join":     func(s []string) string { return strings.Join(s, ", ") },
	"nodot":    func(name string) string { return strings.TrimSuffix(name, ".") },
	"hostpath": hostPath,
	"when":     when,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"change":   historyChange,
	"dur":      func(d time.Duration) string { return d.Round(time.Second).String() },
	"names": func(names []string) string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = strings.TrimSuffix(n, ".")
		}
		return strings.Join(out, ", ")
	},
	"orNone": func(s []string) string {
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, ", ")
	},
}

// when is a time as the pages show it.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// pageBuffers holds the buffers pages are rendered into: a page is several
// kilobytes, grown anew for each request otherwise.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooled is the largest buffer kept for the next page: an admin page
// of a big fleet is not kept around.
const maxPooled = 256 << 10

// show renders page name with msg as its error, the request's notice when
// code is 200, and its data, a D, changed first by edit (when not nil).
func show[D any](s *Server, w http.ResponseWriter, r *http.Request, name string, code int, v view, msg string, edit func(*D)) {
	v.Error = msg
	if code == http.StatusOK {
		v.Notice = notice(r)
	}
	if edit != nil {
		d := v.Data.(D)
		edit(&d)
		v.Data = d
	}
	s.render(w, name, code, v)
}

// render writes the page name with code. The page is rendered whole
// first, so that a template error never sends half a page.
func (s *Server) render(w http.ResponseWriter, name string, code int, v view) {
	b := pageBuffers.Get().(*bytes.Buffer)
	b.Reset()
	defer func() {
		if b.Cap() <= maxPooled {
			pageBuffers.Put(b)
		}
	}()
	if err := s.tmpl[name].Execute(b, v); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("rendering a page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// message answers a short page that only says what happened.
func (s *Server) message(w http.ResponseWriter, r *http.Request, rq *request, code int, title, msg string) {
	v := view{Title: title, Error: msg}
	if rq != nil {
		v.User, v.CSRF = &rq.user, rq.sess.CSRF
	}
	s.render(w, "message", code, v)
}

// notFound answers 404, the same for a host that is missing and one of
// another user, and for the operator's page to a user.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) { s.notFoundAs(w, r, nil) }

func (s *Server) notFoundAs(w http.ResponseWriter, r *http.Request, rq *request) {
	s.message(w, r, rq, http.StatusNotFound, "Not found", "There is no such page.")
}

// forbidden answers a form whose CSRF token does not match: nothing was
// changed.
func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, rq *request) {
	s.log.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("form refused: CSRF token missing or wrong")
	s.message(w, r, rq, http.StatusForbidden, "Form expired",
		"This form has expired or did not come from this page; nothing was changed. Reload the page and try again.")
}

// internalError logs err, which the user never sees, and answers a short
// message saying what could not be done.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, rq *request, what string, err error) {
	l := s.log.Error().Err(err).Str("remote", r.RemoteAddr).Str("path", r.URL.Path)
	if rq != nil {
		l = l.Str("user", rq.user.Name)
	}
	l.Msg(what)
	s.message(w, r, rq, http.StatusInternalServerError, "Something went wrong",
		"Could not "+what+". Try again in a moment; if it persists, tell the operator.")
}

// userError is a refusal of bad input, shown to the user as it is.
type userError struct{ msg string }

func (e userError) Error() string { return e.msg }

func refuse(msg string) error { return userError{msg} }

// shown returns the message of an error the user may read (bad input,
// refused by the page or the model's validation), or "".
func shown(err error) string {
	var ue userError
	var inv *gwstore.InvalidError
	switch {
	case errors.As(err, &ue):
		return ue.msg
	case errors.As(err, &inv):
		return inv.Reason
	case errors.Is(err, account.ErrInvalid):
		// account's validation errors carry no reason apart from their
		// text, "invalid: " and the reason (account.invalidf).
		return strings.TrimPrefix(err.Error(), account.ErrInvalid.Error()+": ")
	}
	return ""
}

// notices are the messages of a redirect after a change (?done=...): a
// fixed table, so no text of a URL is ever shown.
var notices = map[string]string{
	"added":    "Host added. Issue a token below to let a client update it.",
	"deleted":  "Host deleted.",
	"revoked":  "Token revoked.",
	"address":  "Addresses published.",
	"options":  "Options saved.",
	"password": "Password changed.",
	"totp-on":  "Two-factor login is on.",
	"totp-off": "Two-factor login is off.",
	"user":     "User saved.",
	"removed":  "User removed; their hosts now belong to the operator, their tokens are revoked.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// seeOther redirects after a successful POST, so that reloading the page
// does not post again.
func seeOther(w http.ResponseWriter, r *http.Request, path, done string) {
	if done != "" {
		path += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// remoteIP is the client's address, without the port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// historyChange describes what a history entry changed: a family nil in
// it was left alone, an empty one removed.
func historyChange(e gwstore.HistoryEntry) string {
	var parts []string
	for _, f := range []struct {
		typ   string
		addrs []string
	}{{"A", e.A}, {"AAAA", e.AAAA}} {
		switch {
		case f.addrs == nil:
		case len(f.addrs) == 0:
			parts = append(parts, f.typ+" removed")
		default:
			parts = append(parts, f.typ+" "+strings.Join(f.addrs, ", "))
		}
	}
	if len(parts) == 0 {
		return "renewed"
	}
	return strings.Join(parts, "; ")
}
