package web

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/account"
)

func TestSessionsPerUserAreBounded(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	var cookies []string
	for range maxSessions + 3 {
		delete(c.cookies, sessionCookie) // each login a browser of its own
		c.login("alice", pw)
		cookies = append(cookies, c.cookies[sessionCookie].Value)
	}
	var ids []string
	for _, ck := range cookies {
		ids = append(ids, account.SessionID(ck))
	}
	for i, id := range ids {
		_, err := e.store.Session(context.Background(), id)
		if gone := err != nil; gone != (i < 3) {
			t.Errorf("session %d of %d: gone %v", i+1, len(ids), gone)
		}
	}
	if n := e.sessionsOf("alice"); n != maxSessions {
		t.Errorf("alice has %d sessions stored, want %d", n, maxSessions)
	}
	u, _, _ := e.store.User(context.Background(), "alice")
	if !slices.Equal(u.Sessions, ids[3:]) {
		t.Errorf("the user record lists %d sessions, not the newest %d in order", len(u.Sessions), maxSessions)
	}
	// The newest still works.
	if res := c.get("/"); res.code != http.StatusOK {
		t.Fatalf("GET / with the newest session: %d", res.code)
	}
}

func TestPendingSessionTakesNoPlace(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	secret, err := account.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	e.addUser("bob", pw, func(u *account.User) { u.TOTPSecret = secret })
	c := e.client("192.0.2.1:1")
	c.get("/login")
	if res := c.post("/login", url.Values{"username": {"bob"}, "password": {pw}}); res.code != http.StatusOK {
		t.Fatalf("password step: %d", res.code)
	}
	code, _ := account.TOTP(secret, e.clock.Now())
	if res := c.post("/login", url.Values{"totp": {code}}); res.code != http.StatusSeeOther {
		t.Fatalf("code step: %d", res.code)
	}
	u, _, _ := e.store.User(context.Background(), "bob")
	if want := []string{account.SessionID(c.cookies[sessionCookie].Value)}; !slices.Equal(u.Sessions, want) {
		t.Fatalf("sessions listed %v, want only the one after the code", u.Sessions)
	}
	if n := e.sessionsOf("bob"); n != 1 {
		t.Fatalf("bob has %d sessions stored, want 1", n)
	}
}

// sessionsOf counts the sessions of user in the store.
func (e *testEnv) sessionsOf(user string) int {
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	n := 0
	for _, s := range e.store.sessions {
		if s.User == user {
			n++
		}
	}
	return n
}

// heldStore holds every PutUser until release is closed.
type heldStore struct {
	*fakeStore
	release chan struct{}
}

func (h heldStore) PutUser(ctx context.Context, u account.User, rev uint64) (uint64, error) {
	<-h.release
	return h.fakeStore.PutUser(ctx, u, rev)
}

// A wrong password of a user who exists is answered without waiting for
// the store: it takes as long as a name that does not exist.
func TestFailedLoginAnsweredBeforeItsRecord(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		e := newTestEnv(t, func(c *Config) { c.Store = heldStore{c.Store.(*fakeStore), release} })
		e.addUser("alice", pw)
		c := e.client("192.0.2.1:1")
		c.get("/login")
		req := c.request(http.MethodPost, "/login", url.Values{"username": {"alice"}, "password": {"wrong password"}, "csrf": {c.csrf}})
		done := make(chan int)
		go func() {
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			done <- rec.Code
		}()
		synctest.Wait()
		select {
		case code := <-done:
			if code != http.StatusUnauthorized {
				t.Errorf("wrong password: %d", code)
			}
		default:
			close(release)
			<-done
			t.Fatal("the answer waited for the failure to be written")
		}
		if u, _, _ := e.store.User(context.Background(), "alice"); u.FailedLogins != 0 {
			t.Fatalf("failures %d before the write was let through", u.FailedLogins)
		}
		close(release)
		e.srv.Wait()
		if u, _, _ := e.store.User(context.Background(), "alice"); u.FailedLogins != 1 {
			t.Fatalf("failures %d after Wait, want 1", u.FailedLogins)
		}
	})
}

// request is what client.do sends, without sending it.
func (c *client) request(method, path string, form url.Values) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = c.remote
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	return req
}

// The hash unknown users are checked against costs what a new one does.
func TestDummyHashLikeNewHashes(t *testing.T) {
	t.Parallel()
	h, err := account.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	params := func(phc string) string { return phc[:strings.LastIndex(phc[:strings.LastIndex(phc, "$")], "$")] }
	if params(dummyHash) != params(h) {
		t.Fatalf("dummy hash parameters %s, new hashes' %s", params(dummyHash), params(h))
	}
	if _, err := (account.User{Name: "x", PasswordHash: dummyHash}).Validate(); err != nil {
		t.Fatalf("the dummy hash does not parse, so checking it would cost nothing: %v", err)
	}
}

// lockedBuffer is a log sink safe for the request and what it leaves
// running.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLoginLogsOnlyValidNames(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	e := newTestEnv(t, func(c *Config) { c.Log = zerolog.New(&logs) })
	c := e.client("192.0.2.1:1")
	c.get("/login")
	// A password pasted into the name field.
	if res := c.post("/login", url.Values{"username": {"Tr0ub4dor&3 secret"}, "password": {""}}); res.code != http.StatusUnauthorized {
		t.Fatalf("an invalid name: %d", res.code)
	}
	if out := logs.String(); strings.Contains(out, "Tr0ub4dor") || strings.Contains(out, "tr0ub4dor") || !strings.Contains(out, "not a valid user name") {
		t.Fatalf("log of an invalid name:\n%s", out)
	}
	if res := c.post("/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}}); res.code != http.StatusUnauthorized {
		t.Fatalf("an unknown name: %d", res.code)
	}
	if out := logs.String(); !strings.Contains(out, `"user":"nobody"`) || !strings.Contains(out, "no such user") {
		t.Fatalf("log of an unknown valid name:\n%s", out)
	}
}

// Both cookies are __Host-: a sibling subdomain, the same site, cannot set
// them.
func TestLoginCookiesAreHostPrefixed(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	check := func(res response, name string) {
		t.Helper()
		for _, ck := range res.cookies {
			if ck.Name == name {
				if !strings.HasPrefix(name, "__Host-") || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
					t.Errorf("cookie %+v", ck)
				}
				return
			}
		}
		t.Errorf("no cookie %s set", name)
	}
	check(c.get("/login"), loginCookie)
	check(c.post("/login", url.Values{"username": {"alice"}, "password": {pw}}), sessionCookie)
	// An unprefixed cookie of the same name is no login token.
	d := e.client("192.0.2.2:1")
	d.get("/login")
	lt := d.cookies[loginCookie].Value
	delete(d.cookies, loginCookie)
	d.cookies["zc_login"] = &http.Cookie{Name: "zc_login", Value: lt}
	if res := d.post("/login", url.Values{"username": {"alice"}, "password": {pw}}); res.code != http.StatusForbidden {
		t.Fatalf("a login token in an unprefixed cookie: %d", res.code)
	}
}

func TestLoginLimitPerNetworkAndTotal(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	wrong := func(remote string) response {
		c := e.client(remote)
		c.get("/login")
		return c.post("/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}})
	}
	// A new /64 of one /48 for every attempt.
	for i := range 20 {
		if res := wrong("[2001:db8:7:" + strconv.FormatInt(int64(i), 16) + "::1]:1"); res.code != http.StatusUnauthorized {
			t.Fatalf("attempt %d from the /48: %d", i, res.code)
		}
	}
	res := wrong("[2001:db8:7:ff::1]:1")
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") != "3" {
		t.Fatalf("21st attempt from the /48: %d, Retry-After %q", res.code, res.header.Get("Retry-After"))
	}
	if res := wrong("[2001:db8:8::1]:1"); res.code != http.StatusUnauthorized {
		t.Fatalf("another /48: %d", res.code)
	}

	f := newTestEnv(t, func(c *Config) { c.LoginTotalBurst = 2 })
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		c := f.client("192.0.2." + strconv.Itoa(i+1) + ":1")
		c.get("/login")
		if res := c.post("/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}}); res.code != want {
			t.Fatalf("address %d of a total of 2: %d, want %d", i+1, res.code, want)
		}
	}
}
