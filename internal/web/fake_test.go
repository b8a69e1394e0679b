package web

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gateway"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/status"
)

// fakeStore is the bucket in memory, with gwstore.Store's errors.
type fakeStore struct {
	mu       sync.Mutex
	users    map[string]account.User
	revs     map[string]uint64
	rev      uint64
	sessions map[string]account.Session
	hosts    map[string]gwstore.Host
	hostRevs map[string]uint64
	history  map[string][]gwstore.HistoryEntry
	keys     []gwstore.Key
}

func newFakeStore() *fakeStore {
	return &fakeStore{users: map[string]account.User{}, revs: map[string]uint64{}, sessions: map[string]account.Session{},
		hosts: map[string]gwstore.Host{}, hostRevs: map[string]uint64{}, history: map[string][]gwstore.HistoryEntry{}}
}

func (f *fakeStore) User(_ context.Context, name string) (account.User, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return account.User{}, 0, fmt.Errorf("user %s: %w", name, gwstore.ErrNotFound)
	}
	return u, f.revs[name], nil
}

func (f *fakeStore) PutUser(_ context.Context, u account.User, rev uint64) (uint64, error) {
	u, err := u.Validate()
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, exists := f.users[u.Name]
	switch {
	case rev == 0 && exists:
		return 0, fmt.Errorf("user %s: %w", u.Name, gwstore.ErrExists)
	case rev != 0 && f.revs[u.Name] != rev:
		return 0, fmt.Errorf("user %s: %w", u.Name, gwstore.ErrConflict)
	}
	f.rev++
	f.users[u.Name], f.revs[u.Name] = u, f.rev
	return f.rev, nil
}

func (f *fakeStore) Users(context.Context) ([]account.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Collect(maps.Values(f.users)), nil
}

func (f *fakeStore) DeleteUser(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.hosts {
		if h.Owner == name {
			return fmt.Errorf("%w: user %s owns hosts", gwstore.ErrInvalid, name)
		}
	}
	delete(f.users, name)
	for id, s := range f.sessions {
		if s.User == name {
			delete(f.sessions, id)
		}
	}
	return nil
}

func (f *fakeStore) Session(_ context.Context, id string) (account.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return account.Session{}, gwstore.ErrNotFound
	}
	return s, nil
}

func (f *fakeStore) PutSession(_ context.Context, s account.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[s.ID] = s
	return nil
}

func (f *fakeStore) DeleteSession(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sessions, id)
	return nil
}

func (f *fakeStore) DeleteUserSessions(_ context.Context, user string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, s := range f.sessions {
		if s.User == user {
			delete(f.sessions, id)
		}
	}
	return nil
}

func (f *fakeStore) Host(_ context.Context, name string) (gwstore.Host, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hosts[name]
	if !ok {
		return gwstore.Host{}, 0, gwstore.ErrNotFound
	}
	h.Tokens = slices.Clone(h.Tokens) // a copy, as decoded from the bucket
	return h, f.hostRevs[name], nil
}

// PutHost creates (rev 0) or compares and sets, as gwstore.Store; a
// deleted host's revision is gone, so a write over it conflicts.
func (f *fakeStore) PutHost(_ context.Context, h gwstore.Host, rev uint64) (gwstore.Host, uint64, error) {
	h, err := h.Validate()
	if err != nil {
		return gwstore.Host{}, 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, exists := f.hosts[h.Name]
	switch {
	case rev == 0 && exists:
		return gwstore.Host{}, 0, fmt.Errorf("host %s: %w", h.Name, gwstore.ErrExists)
	case rev != 0 && (!exists || f.hostRevs[h.Name] != rev):
		return gwstore.Host{}, 0, fmt.Errorf("host %s: %w", h.Name, gwstore.ErrConflict)
	}
	f.rev++
	stored := h
	stored.Tokens = slices.Clone(h.Tokens)
	f.hosts[h.Name], f.hostRevs[h.Name] = stored, f.rev
	return h, f.rev, nil
}

func (f *fakeStore) DeleteHost(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.hosts[name]; !ok {
		return gwstore.ErrNotFound
	}
	delete(f.hosts, name)
	delete(f.hostRevs, name)
	return nil
}

func (f *fakeStore) OwnedHosts(_ context.Context, owner string) ([]gwstore.Host, error) {
	return f.matching(func(h gwstore.Host) bool { return h.Owner == owner }), nil
}

func (f *fakeStore) History(_ context.Context, host string) ([]gwstore.HistoryEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.history[host], nil
}

func (f *fakeStore) Keys(context.Context) ([]gwstore.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.keys), nil
}

// Directory: the fake store is its own cache, always current.
func (f *fakeStore) Hosts() []gwstore.Host {
	return f.matching(func(gwstore.Host) bool { return true })
}

// matching returns the hosts match accepts, by name.
func (f *fakeStore) matching(match func(gwstore.Host) bool) []gwstore.Host {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []gwstore.Host
	for _, h := range f.hosts {
		if match(h) {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b gwstore.Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (f *fakeStore) cachedHost(name string) (gwstore.Host, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hosts[name]
	return h, ok
}

type fakeDir struct{ *fakeStore }

func (d fakeDir) Host(name string) (gwstore.Host, bool) { return d.cachedHost(name) }

func (d fakeDir) Owned(user string) []gwstore.Host {
	return d.matching(func(h gwstore.Host) bool { return h.Owner == user })
}

func (d fakeDir) Dependents(name string) []gwstore.Host {
	return d.matching(func(h gwstore.Host) bool { return h.PrefixFrom == name })
}

// snapshot is everything the store and the gateway hold, to show that a
// refused request changed nothing.
func (f *fakeStore) snapshot(g *fakeGateway) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprintf("%v|%v|%v|%v|%v|%v", f.users, f.sessions, f.hosts, f.history, g.state, g.calls)
}

// fakeGateway keeps each host's records and the calls made; inUse are
// names with records of other origins.
type fakeGateway struct {
	mu    sync.Mutex
	zones []string
	// unlisted are zones the fleet's zone list does not allow now.
	unlisted []string
	state    map[string]gateway.HostState
	inUse    map[string]bool
	calls    []string
	now      func() time.Time
	// withdrawing, when set, is called as Withdraw starts.
	withdrawing func(h gwstore.Host)
}

func (g *fakeGateway) InUse(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.state[name]
	return g.inUse[name] || len(st.A)+len(st.AAAA) > 0
}

func (g *fakeGateway) HostState(h gwstore.Host) gateway.HostState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state[h.Name]
}

func (g *fakeGateway) SetAddresses(_ context.Context, h gwstore.Host, v4, v6 []string, via, remote string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := rrset.ZoneOf(h.Name, g.zones); !ok {
		return false, gwstore.Invalidf("%s is in none of the gateway's zones", h.Name)
	}
	g.calls = append(g.calls, fmt.Sprintf("set %s %v %v %s %s ttl %d", h.Name, v4, v6, via, remote, h.TTL))
	st := g.state[h.Name]
	if v4 != nil {
		st.A = v4
	}
	if v6 != nil {
		st.AAAA = v6
	}
	st.TTL, st.Changed = h.TTL, g.now()
	g.state[h.Name] = st
	return true, nil
}

func (g *fakeGateway) Withdraw(_ context.Context, h gwstore.Host) error {
	if g.withdrawing != nil {
		g.withdrawing(h)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "withdraw "+h.Name)
	delete(g.state, h.Name)
	return nil
}

func (g *fakeGateway) FollowPrefix(_ context.Context, h gwstore.Host) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, fmt.Sprintf("follow %s from %s /%d %s", h.Name, h.PrefixFrom, h.PrefixLen, h.InterfaceID))
	return nil
}

func (g *fakeGateway) Zones() []string { return slices.Clone(g.zones) }

func (g *fakeGateway) Writable(zone string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !slices.Contains(g.unlisted, zone)
}

func (g *fakeGateway) called() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

type fakeFleet struct {
	nodes []status.Node
	rows  []status.Row
}

func (f fakeFleet) Status(context.Context, time.Time) ([]status.Node, []status.Row, error) {
	return f.nodes, f.rows, nil
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a server on fakes.
type testEnv struct {
	t     *testing.T
	store *fakeStore
	gw    *fakeGateway
	clock *clock
	srv   *Server
	h     http.Handler
}

const (
	testZone  = "dyn.example.test."
	otherZone = "other.example.test."
)

func newTestEnv(t *testing.T, edit ...func(*Config)) *testEnv {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	st := newFakeStore()
	gw := &fakeGateway{zones: []string{testZone, otherZone}, state: map[string]gateway.HostState{}, now: c.Now}
	cfg := Config{Store: st, Directory: fakeDir{st}, Gateway: gw, Now: c.Now, Log: zerolog.Nop(),
		DyndnsURL: "https://dyn.example.test", Fleet: fakeFleet{}}
	for _, e := range edit {
		e(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, store: st, gw: gw, clock: c, srv: srv, h: srv.Handler()}
}

// addUser stores a user with password pw.
func (e *testEnv) addUser(name, pw string, edit ...func(*account.User)) account.User {
	e.t.Helper()
	hash, err := account.HashPassword(pw)
	if err != nil {
		e.t.Fatal(err)
	}
	u := account.User{Name: name, PasswordHash: hash, Zones: []string{testZone}, Quota: 3, Created: e.clock.Now()}
	for _, f := range edit {
		f(&u)
	}
	if _, err := e.store.PutUser(context.Background(), u, 0); err != nil {
		e.t.Fatal(err)
	}
	u, _, _ = e.store.User(context.Background(), name)
	return u
}

// addHost stores a host of owner.
func (e *testEnv) addHost(name, owner string) gwstore.Host {
	e.t.Helper()
	h, _, err := e.store.PutHost(context.Background(), gwstore.Host{Name: name, Owner: owner, TTL: 60, Created: e.clock.Now()}, 0)

	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

// putHost stores h over what is stored.
func (e *testEnv) putHost(h gwstore.Host) {
	e.t.Helper()
	_, rev, _ := e.store.Host(context.Background(), h.Name)
	if _, _, err := e.store.PutHost(context.Background(), h, rev); err != nil {
		e.t.Fatal(err)
	}
}

// host reads a host from the store.
func (e *testEnv) host(name string) (gwstore.Host, error) {
	h, _, err := e.store.Host(context.Background(), name)
	return h, err
}

// client is a browser: it keeps cookies (Secure ones included: the test
// talks to the handler directly) and the last CSRF token seen.
type client struct {
	e       *testEnv
	remote  string
	cookies map[string]*http.Cookie
	csrf    string
}

func (e *testEnv) client(remote string) *client {
	return &client{e: e, remote: remote, cookies: map[string]*http.Cookie{}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// response is one answer.
type response struct {
	code    int
	body    string
	header  http.Header
	cookies []*http.Cookie
}

func (c *client) do(method, path string, form url.Values) response {
	c.e.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	req.RemoteAddr = c.remote
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	rec := httptest.NewRecorder()
	c.e.h.ServeHTTP(rec, req)
	c.e.srv.Wait() // what the request left running, a failed login's record
	res := rec.Result()
	defer res.Body.Close()
	out := response{code: rec.Code, body: rec.Body.String(), header: rec.Header(), cookies: res.Cookies()}
	for _, ck := range out.cookies {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	if m := csrfRe.FindStringSubmatch(out.body); m != nil {
		c.csrf = m[1]
	}
	return out
}

func (c *client) get(path string) response { c.e.t.Helper(); return c.do(http.MethodGet, path, nil) }

// post sends form with the last CSRF token seen (unless form sets one).
func (c *client) post(path string, form url.Values) response {
	c.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	return c.do(http.MethodPost, path, form)
}

// login logs in and fails the test unless it worked.
func (c *client) login(user, pw string) {
	c.e.t.Helper()
	c.get("/login")
	res := c.post("/login", url.Values{"username": {user}, "password": {pw}})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/" {
		c.e.t.Fatalf("login %s: %d %s\n%s", user, res.code, res.header.Get("Location"), res.body)
	}
	c.get("/") // the session's CSRF token
}
