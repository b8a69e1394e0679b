// Package web is zonecast-gateway's web page (--web-listen): people manage
// their own dyndns hosts there (records, tokens, options, history, client
// configurations), and an operator manages the users. Pages are rendered on
// the server with html/template and work without JavaScript.
//
// Everything it keeps lives in the gateway's bucket (Store): any gateway of
// a fleet serves the same page. Addresses set on the page go through the
// gateway (Gateway.SetAddresses), the path of dyndns2 updates.
package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gateway"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/status"
)

// Users are the page's accounts (gwstore.Store). PutUser with rev 0
// creates (gwstore.ErrExists if present), otherwise compares and sets
// (gwstore.ErrConflict).
type Users interface {
	User(ctx context.Context, name string) (account.User, uint64, error)
	PutUser(ctx context.Context, u account.User, rev uint64) (uint64, error)
	Users(ctx context.Context) ([]account.User, error)
	DeleteUser(ctx context.Context, name string) error
}

// Sessions are the logins, stored by their id (gwstore.Store); Session
// answers gwstore.ErrNotFound for a missing or expired one.
// DeleteUserSessions ends every session of a user (a new password).
type Sessions interface {
	Session(ctx context.Context, id string) (account.Session, error)
	PutSession(ctx context.Context, s account.Session) error
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, user string) error
}

// Hosts are the dyndns hosts as stored (gwstore.Store): read there, not
// in the cache, before a change, and written compare-and-set over the
// revision read (gwstore.UpdateHost), so that a change starts from the
// last write and two at once both count. PutHost with rev 0 creates
// (gwstore.ErrExists if present). OwnedHosts lists a user's hosts as the
// bucket holds them now, for the quota.
type Hosts interface {
	Host(ctx context.Context, name string) (gwstore.Host, uint64, error)
	PutHost(ctx context.Context, h gwstore.Host, rev uint64) (gwstore.Host, uint64, error)
	DeleteHost(ctx context.Context, name string) error
	OwnedHosts(ctx context.Context, owner string) ([]gwstore.Host, error)
	History(ctx context.Context, host string) ([]gwstore.HistoryEntry, error)
}

// Keys lists the TSIG keys (gwstore.Store), for the operator's page.
type Keys interface {
	Keys(ctx context.Context) ([]gwstore.Key, error)
}

// Store is the gateway's bucket as the page uses it (gwstore.Store).
type Store interface {
	Users
	Sessions
	Hosts
	Keys
}

// Directory is the in-memory copy of the bucket (gwstore.Cache): the
// lists of hosts come from there, each sorted by name.
type Directory interface {
	Host(name string) (gwstore.Host, bool)
	Hosts() []gwstore.Host
	Owned(user string) []gwstore.Host      // the hosts whose Owner is user
	Dependents(name string) []gwstore.Host // the hosts whose PrefixFrom is name
}

// Gateway publishes a host's records (gateway.Gateway). InUse reports
// whether a name has records of any origin: a new host is not added
// beside another source's records.
type Gateway interface {
	HostState(h gwstore.Host) gateway.HostState
	SetAddresses(ctx context.Context, h gwstore.Host, v4, v6 []string, via, remote string) (bool, error)
	Withdraw(ctx context.Context, h gwstore.Host) error
	FollowPrefix(ctx context.Context, h gwstore.Host) error
	InUse(name string) bool
	Zones() []string
	// Writable reports whether one of Zones may be written into now (the
	// fleet's zone list lists it, or there is none).
	Writable(zone string) bool
}

// Fleet reads the fleet's status: every node's own, and its zones
// classified against the stream at now (cmd/gateway reads the status
// bucket and the stream, as `zonecast-syncer status` does).
type Fleet interface {
	Status(ctx context.Context, now time.Time) ([]status.Node, []status.Row, error)
}

// Config configures a Server.
type Config struct {
	Store     Store
	Directory Directory
	Gateway   Gateway
	Fleet     Fleet // nil: the operator's page shows no fleet
	Metrics   *Metrics
	Log       zerolog.Logger
	Now       func() time.Time // default time.Now
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	// Signup lets people make their own account, with SignupZones and
	// SignupQuota.
	Signup      bool
	SignupZones []string
	SignupQuota int
	// DyndnsURL is the public URL of the dyndns2 endpoint, for the client
	// configurations (e.g. https://dyn.example.net); empty: placeholders.
	DyndnsURL string
	// LoginRate and LoginBurst limit the login attempts per remote
	// address (a /64 for IPv6); an IPv6 /48 has four times both. A
	// successful one gives its token back.
	LoginRate  rate.Limit // default one per 10 s
	LoginBurst int        // default 5
	// LoginTotalRate and LoginTotalBurst limit the attempts of all
	// addresses together.
	LoginTotalRate  rate.Limit // default one per second
	LoginTotalBurst int        // default 100
	// Issuer names the service in authenticator apps (default zonecast).
	Issuer string
	// Settle bounds the wait for the Directory to show a change just
	// written, before the page that lists it (default 2s).
	Settle time.Duration
}

// Server serves the web page.
type Server struct {
	cfg  Config
	log  zerolog.Logger
	m    *Metrics
	tmpl map[string]*template.Template

	limits *loginLimits

	// hashing bounds the argon2id computations at once: each takes
	// 19 MiB, and a burst of logins from many addresses must not take
	// the gateway's memory.
	hashing chan struct{}

	// bg is the work requests leave running after their answer (Wait).
	bg sync.WaitGroup
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns a server; it fails only on a broken template.
func New(cfg Config) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.LoginRate == 0 {
		cfg.LoginRate = rate.Every(10 * time.Second)
	}
	if cfg.LoginBurst <= 0 {
		cfg.LoginBurst = 5
	}
	if cfg.LoginTotalRate == 0 {
		cfg.LoginTotalRate = 1
	}
	if cfg.LoginTotalBurst <= 0 {
		cfg.LoginTotalBurst = 100
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "zonecast"
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.SignupQuota <= 0 {
		cfg.SignupQuota = account.DefaultQuota
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	limits := newLoginLimits(
		limitLevel{name: "address", rate: cfg.LoginRate, burst: cfg.LoginBurst},
		limitLevel{name: "network", rate: 4 * cfg.LoginRate, burst: 4 * cfg.LoginBurst},
		limitLevel{name: "total", rate: cfg.LoginTotalRate, burst: cfg.LoginTotalBurst},
		maxLimiters)
	s := &Server{cfg: cfg, log: cfg.Log.With().Str("component", "web").Logger(), m: cfg.Metrics, tmpl: tmpl,
		limits: limits, hashing: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	return s, nil
}

// Wait waits for the work that requests left running after their answer:
// failed logins being recorded in the user records. Call it once the HTTP
// server has shut down.
func (s *Server) Wait() { s.bg.Wait() }

// pages are the templates, each rendered inside layout.html, with the
// fields of forms.html.
var pages = []string{"login", "hosts", "host", "account", "admin", "signup", "message"}

func parseTemplates() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, p := range pages {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/forms.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing template %s: %w", p, err)
		}
		out[p] = t
	}
	return out, nil
}

// Handler returns the page's routes, behind the security headers.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	s.handle(mux, "GET /static/", "static", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
	s.handle(mux, "GET /login", "login", s.loginPage)
	s.handle(mux, "POST /login", "login", s.loginPost)
	s.handle(mux, "POST /logout", "logout", s.logout)
	s.handle(mux, "GET /signup", "signup", s.signupPage)
	s.handle(mux, "POST /signup", "signup", s.signupPost)

	s.handle(mux, "GET /{$}", "hosts", s.authed(s.hostsPage))
	s.handle(mux, "POST /hosts", "hosts", s.authed(s.addHost))
	s.handle(mux, "GET /hosts/{name}", "host", s.authed(s.hostPage))
	s.handle(mux, "POST /hosts/{name}/tokens", "host", s.authed(s.issueToken))
	s.handle(mux, "POST /hosts/{name}/tokens/{id}/revoke", "host", s.authed(s.revokeToken))
	s.handle(mux, "POST /hosts/{name}/address", "host", s.authed(s.setAddress))
	s.handle(mux, "POST /hosts/{name}/options", "host", s.authed(s.saveOptions))
	s.handle(mux, "POST /hosts/{name}/delete", "host", s.authed(s.deleteHost))

	s.handle(mux, "GET /account", "account", s.authed(s.accountPage))
	s.handle(mux, "POST /account/password", "account", s.authed(s.changePassword))
	s.handle(mux, "POST /account/totp", "account", s.authed(s.enableTOTP))
	s.handle(mux, "POST /account/totp/disable", "account", s.authed(s.disableTOTP))

	s.handle(mux, "GET /admin", "admin", s.admin(s.adminPage))
	s.handle(mux, "POST /admin/users", "admin", s.admin(s.addUser))
	s.handle(mux, "POST /admin/users/{name}", "admin", s.admin(s.editUser))
	s.handle(mux, "POST /admin/users/{name}/delete", "admin", s.admin(s.removeUser))

	s.handle(mux, "/", "other", func(w http.ResponseWriter, r *http.Request) { s.notFound(w, r) })
	return secure(mux)
}

// handle registers h for pattern, counted as page.
func (s *Server) handle(mux *http.ServeMux, pattern, page string, h http.HandlerFunc) {
	mux.Handle(pattern, s.m.count(page, h))
}

func (s *Server) now() time.Time { return s.cfg.Now() }
