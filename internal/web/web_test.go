package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gateway"
	"github.com/zonecast/zonecast/internal/gwstore"
	"github.com/zonecast/zonecast/internal/status"
)

const pw = "correct horse battery"

func TestLoginCookieFlagsAndNewSessionID(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1234")

	res := c.get("/login")
	if res.code != http.StatusOK || !strings.Contains(res.body, `id="login-form"`) {
		t.Fatalf("GET /login: %d\n%s", res.code, res.body)
	}
	lc := c.cookies[loginCookie]
	if lc == nil || !lc.HttpOnly || !lc.Secure || lc.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login cookie %+v", lc)
	}
	// A session from before the login (say, planted): replaced, and
	// deleted on the server.
	old, oldSess, _ := account.NewSession("alice", e.clock.Now(), time.Hour)
	_ = e.store.PutSession(context.Background(), oldSess)
	c.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: old}

	res = c.post("/login", url.Values{"username": {"alice"}, "password": {pw}})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/" {
		t.Fatalf("login: %d %q\n%s", res.code, res.header.Get("Location"), res.body)
	}
	var sc *http.Cookie
	for _, ck := range res.cookies {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.MaxAge <= 0 {
		t.Fatalf("session cookie %+v", sc)
	}
	if sc.Value == old {
		t.Fatal("the session id did not change at login")
	}
	if _, err := e.store.Session(context.Background(), oldSess.ID); err == nil {
		t.Fatal("the session from before the login is still stored")
	}
	s, err := e.store.Session(context.Background(), account.SessionID(sc.Value))
	if err != nil || s.User != "alice" || s.Pending {
		t.Fatalf("stored session %+v, %v", s, err)
	}
	// The store holds the hash of the cookie, never the cookie.
	if strings.Contains(e.store.snapshot(e.gw), sc.Value) {
		t.Fatal("the cookie value is stored")
	}
	if res := c.get("/"); res.code != http.StatusOK || !strings.Contains(res.body, `id="hosts"`) {
		t.Fatalf("GET / after login: %d", res.code)
	}
}

func TestLogoutEndsTheSessionOnTheServer(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1234")
	c.login("alice", pw)
	cookie := c.cookies[sessionCookie].Value

	res := c.post("/logout", nil)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", res.code, res.header.Get("Location"))
	}
	if _, ok := c.cookies[sessionCookie]; ok {
		t.Fatal("the browser still has the session cookie")
	}
	if _, err := e.store.Session(context.Background(), account.SessionID(cookie)); err == nil {
		t.Fatal("the session is still stored after logout")
	}
	// The old cookie, sent again, is worth nothing.
	c.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: cookie}
	if res := c.get("/"); res.code != http.StatusSeeOther || res.header.Get("Location") != "/login" {
		t.Fatalf("GET / with a logged-out cookie: %d %q", res.code, res.header.Get("Location"))
	}
	if res := c.post("/hosts", url.Values{"label": {"x"}, "zone": {testZone}}); res.code != http.StatusSeeOther {
		t.Fatalf("POST with a logged-out cookie: %d", res.code)
	}
	if len(e.store.Hosts()) != 0 {
		t.Fatal("a logged-out session added a host")
	}
}

func TestCSRFRefusalChangesNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Signup, c.SignupZones = true, []string{testZone} })
	e.addUser("alice", pw, func(u *account.User) { u.Admin = true })
	e.addUser("bob", pw)
	h := e.addHost("home."+testZone, "alice")
	_, tok, _ := gwstore.NewToken(e.clock.Now())
	h.Tokens = append(h.Tokens, tok)
	e.putHost(h)
	c := e.client("192.0.2.1:1234")
	c.login("alice", pw)

	forms := map[string]url.Values{
		"/hosts":                              {"label": {"new"}, "zone": {testZone}},
		"/hosts/home.dyn.example.test/tokens": {},
		"/hosts/home.dyn.example.test/tokens/" + tok.ID + "/revoke": {},
		"/hosts/home.dyn.example.test/address":                      {"a": {"192.0.2.9"}, "aaaa": {""}},
		"/hosts/home.dyn.example.test/options":                      {"ttl": {"300"}, "lease": {"0"}},
		"/hosts/home.dyn.example.test/delete":                       {},
		"/account/password":                                         {"current": {pw}, "new": {"another password"}, "confirm": {"another password"}},
		"/account/totp":                                             {"secret": {"JBSWY3DPEHPK3PXP"}, "code": {"123456"}},
		"/admin/users":                                              {"username": {"mallory"}, "password": {"mallory's password"}, "zones": {testZone}},
		"/account/totp/disable":                                     {"code": {"123456"}},
		"/admin/users/alice":                                        {"zones": {otherZone}, "quota": {"99"}, "admin": {"on"}},
		"/admin/users/bob/delete":                                   {},
		"/signup":                                                   {"username": {"mallory"}, "password": {"mallory's password"}, "confirm": {"mallory's password"}},
		"/logout":                                                   {},
	}
	before := e.store.snapshot(e.gw)
	for path, form := range forms {
		for name, csrf := range map[string][]string{"none": nil, "empty": {""}, "wrong": {strings.Repeat("A", 43)}} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if csrf != nil {
				f["csrf"] = csrf
			}
			res := c.do(http.MethodPost, path, f)
			if res.code != http.StatusForbidden {
				t.Errorf("POST %s, CSRF token %s: status %d, want 403", path, name, res.code)
			}
		}
	}
	if after := e.store.snapshot(e.gw); after != before {
		t.Fatalf("refused forms changed something:\nbefore %s\nafter  %s", before, after)
	}
	// The login form: without the cookie's token, refused before any
	// password is checked.
	l := e.client("192.0.2.2:1")
	l.get("/login")
	if res := l.post("/login", url.Values{"username": {"alice"}, "password": {pw}, "csrf": {"WRONGWRONGWRONGWRONGWRONG2"}}); res.code != http.StatusForbidden {
		t.Fatalf("login with a wrong token: %d", res.code)
	}
	delete(l.cookies, loginCookie)
	if res := l.post("/login", url.Values{"username": {"alice"}, "password": {pw}}); res.code != http.StatusForbidden {
		t.Fatalf("login without the cookie: %d", res.code)
	}
	if _, ok := l.cookies[sessionCookie]; ok {
		t.Fatal("a refused login set a session")
	}
}

func TestAnotherUsersHostIsNotFound(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	e.addUser("bob", pw)
	h := e.addHost("alice-home."+testZone, "alice")
	e.addHost("operator."+testZone, "")
	_, tok, _ := gwstore.NewToken(e.clock.Now())
	h.Tokens = append(h.Tokens, tok)
	e.putHost(h)
	bob := e.client("192.0.2.3:1")
	bob.login("bob", pw)
	before := e.store.snapshot(e.gw)

	for _, p := range []string{"/hosts/alice-home.dyn.example.test", "/hosts/alice-home.dyn.example.test.", "/hosts/operator.dyn.example.test",
		"/hosts/missing.dyn.example.test", "/hosts/ALICE-HOME.dyn.example.test"} {
		if res := bob.get(p); res.code != http.StatusNotFound || strings.Contains(res.body, "alice-home") {
			t.Errorf("GET %s as bob: %d", p, res.code)
		}
	}
	missing := bob.get("/hosts/missing.dyn.example.test").body
	for _, p := range []string{"tokens", "tokens/" + tok.ID + "/revoke", "address", "options", "delete"} {
		res := bob.post("/hosts/alice-home.dyn.example.test/"+p, url.Values{"a": {"192.0.2.66"}, "ttl": {"1"}})
		if res.code != http.StatusNotFound {
			t.Errorf("POST %s on alice's host as bob: %d", p, res.code)
		}
		if res.body != missing {
			t.Errorf("POST %s on alice's host: the answer differs from a missing host's", p)
		}
	}
	// Nor can a form of bob's name alice's host as its router.
	res := bob.post("/hosts", url.Values{"label": {"bob-pc"}, "zone": {testZone}, "prefix_from": {"alice-home." + testZone}, "interface_id": {"::1"}})
	if res.code != http.StatusBadRequest {
		t.Errorf("bob adding a host behind alice's: %d", res.code)
	}
	if after := e.store.snapshot(e.gw); after != before {
		t.Fatalf("bob changed alice's host:\nbefore %s\nafter  %s", before, after)
	}
	// Nor does bob's list show it.
	if body := bob.get("/").body; strings.Contains(body, "alice-home") || strings.Contains(body, "operator.dyn") {
		t.Fatal("bob's list shows another's host")
	}
	// And the operator's page is not there for him.
	if res := bob.get("/admin"); res.code != http.StatusNotFound {
		t.Fatalf("GET /admin as a user: %d", res.code)
	}
	if res := bob.post("/admin/users", url.Values{"username": {"eve"}, "password": {"eve's password"}}); res.code != http.StatusNotFound {
		t.Fatalf("POST /admin/users as a user: %d", res.code)
	}
	if _, _, err := e.store.User(context.Background(), "eve"); err == nil {
		t.Fatal("a user added a user")
	}
}

func TestHTMLIsEscaped(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	h := e.addHost("home."+testZone, "alice")
	e.store.history[h.Name] = []gwstore.HistoryEntry{{Time: e.clock.Now(), Remote: `<img src=x onerror=alert(1)>`, Via: `<script>alert(2)</script>`, A: []string{"192.0.2.1"}}}
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)

	res := c.post("/hosts", url.Values{"label": {`<script>alert(3)</script>`}, "zone": {testZone}})
	if res.code != http.StatusBadRequest || !strings.Contains(res.body, `id="error"`) {
		t.Fatalf("an HTML label: %d\n%s", res.code, res.body)
	}
	if strings.Contains(res.body, "<script>alert") || !strings.Contains(res.body, "&lt;script&gt;alert(3)") {
		t.Fatalf("the label is not escaped:\n%s", res.body)
	}
	// The form shows the label again, escaped in its attribute.
	if !strings.Contains(res.body, `value="&lt;script&gt;alert(3)&lt;/script&gt;"`) {
		t.Fatalf("the label in the form:\n%s", res.body)
	}
	body := c.get("/hosts/home.dyn.example.test").body
	if strings.Contains(body, "<img src=x") || strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;img src=x") {
		t.Fatalf("the history is not escaped:\n%s", body)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	reg := prometheus.NewRegistry()
	e.srv.m = NewMetrics(reg)
	c := e.client("198.51.100.7:4000")
	// Successful logins give their token back: many in a row are fine.
	for i := range 8 {
		delete(c.cookies, sessionCookie)
		c.get("/login")
		if res := c.post("/login", url.Values{"username": {"alice"}, "password": {pw}}); res.code != http.StatusSeeOther {
			t.Fatalf("good login %d: %d", i, res.code)
		}
	}
	delete(c.cookies, sessionCookie)
	c.get("/login")
	for i := range 5 {
		if res := c.post("/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}}); res.code != http.StatusUnauthorized {
			t.Fatalf("wrong login %d: %d", i, res.code)
		}
	}
	res := c.post("/login", url.Values{"username": {"alice"}, "password": {pw}})
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" || !strings.Contains(res.body, `id="error"`) {
		t.Fatalf("sixth attempt: %d, Retry-After %q", res.code, res.header.Get("Retry-After"))
	}
	if _, ok := c.cookies[sessionCookie]; ok {
		t.Fatal("a rate-limited login set a session")
	}
	// Another address is not limited; nor the same /64 of IPv6 counted apart.
	other := e.client("198.51.100.8:4000")
	other.login("alice", pw)
	v6 := e.client("[2001:db8:1:2::1]:1")
	v6.get("/login")
	for range 5 {
		v6.post("/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}})
	}
	v6b := e.client("[2001:db8:1:2::ffff]:1")
	v6b.get("/login")
	if res := v6b.post("/login", url.Values{"username": {"alice"}, "password": {pw}}); res.code != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64: %d", res.code)
	}
	// Ten seconds later, one more attempt.
	e.clock.Add(10 * time.Second)
	if res := c.post("/login", url.Values{"username": {"alice"}, "password": {pw}}); res.code != http.StatusSeeOther {
		t.Fatalf("after the wait: %d", res.code)
	}
	if n := testutil.ToFloat64(e.srv.m.logins.WithLabelValues(loginRateLimited)); n != 2 {
		t.Errorf("rate_limited logins counted %v, want 2", n)
	}
}

func TestLockoutAnswersLikeAWrongPassword(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	// From many addresses, so that the rate limit is not what stops them.
	attempt := func(i int, password string) response {
		c := e.client("203.0.113." + string(rune('1'+i)) + ":1")
		c.get("/login")
		return c.post("/login", url.Values{"username": {"alice"}, "password": {password}})
	}
	wrong := withoutCSRF(attempt(0, "wrong password").body)
	for i := 1; i < 5; i++ {
		attempt(i, "wrong password")
	}
	u, _, _ := e.store.User(context.Background(), "alice")
	if locked, d := u.Locked(e.clock.Now()); !locked || d != 30*time.Second || u.FailedLogins != 5 {
		t.Fatalf("after 5 failures: locked %v for %v, %d failures", locked, d, u.FailedLogins)
	}
	res := attempt(5, pw)
	if res.code != http.StatusUnauthorized || withoutCSRF(res.body) != wrong {
		t.Fatalf("the right password while locked: %d, same answer as a wrong one: %v", res.code, withoutCSRF(res.body) == wrong)
	}
	e.clock.Add(31 * time.Second)
	if res := attempt(6, pw); res.code != http.StatusSeeOther {
		t.Fatalf("after the lock: %d", res.code)
	}
	if u, _, _ := e.store.User(context.Background(), "alice"); u.FailedLogins != 0 || !u.LockedUntil.IsZero() {
		t.Fatalf("a good login did not clear the failures: %+v", u)
	}
	// An unknown user gets the same answer too.
	c := e.client("203.0.113.98:1")
	c.get("/login")
	res = c.post("/login", url.Values{"username": {"nobody"}, "password": {"wrong password"}})
	if res.code != http.StatusUnauthorized || !strings.Contains(res.body, `role="alert">`+badLogin+`</p>`) {
		t.Fatalf("an unknown user: %d\n%s", res.code, res.body)
	}
	c = e.client("203.0.113.99:1")
	c.get("/login")
	if res := c.post("/login", url.Values{"username": {"alice"}, "password": {"wrong password"}}); withoutCSRF(res.body) != wrong {
		t.Fatal("a wrong password answers differently after a lock")
	}
}

func TestTOTP(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)

	// Enable: the page shows a secret; a wrong code is refused.
	body := c.get("/account").body
	if !strings.Contains(body, `id="totp-form"`) || !strings.Contains(body, "otpauth://totp/") {
		t.Fatalf("account page:\n%s", body)
	}
	secret := regexpFind(t, body, `name="secret" value="([A-Z2-7]+)"`)
	if res := c.post("/account/totp", url.Values{"secret": {secret}, "code": {"000000"}}); res.code != http.StatusBadRequest {
		t.Fatalf("a wrong code: %d", res.code)
	}
	code, _ := account.TOTP(secret, e.clock.Now())
	if res := c.post("/account/totp", url.Values{"secret": {secret}, "code": {code}}); res.code != http.StatusSeeOther {
		t.Fatalf("enabling: %d\n%s", res.code, res.body)
	}
	if u, _, _ := e.store.User(context.Background(), "alice"); u.TOTPSecret != secret {
		t.Fatal("the secret is not stored")
	}
	c.post("/logout", nil)

	// The password alone opens a pending session, which is no login.
	c.get("/login")
	res := c.post("/login", url.Values{"username": {"alice"}, "password": {pw}})
	if res.code != http.StatusOK || !strings.Contains(res.body, `id="totp"`) || strings.Contains(res.body, `id="password"`) {
		t.Fatalf("password step: %d\n%s", res.code, res.body)
	}
	pending := c.cookies[sessionCookie].Value
	if r := c.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("GET / with a pending session: %d", r.code)
	}
	c.get("/login")
	if r := c.post("/login", url.Values{"totp": {"000000"}}); r.code != http.StatusUnauthorized || !strings.Contains(r.body, badLogin) {
		t.Fatalf("a wrong code: %d", r.code)
	}
	e.clock.Add(30 * time.Second)
	code, _ = account.TOTP(secret, e.clock.Now())
	if r := c.post("/login", url.Values{"totp": {code}}); r.code != http.StatusSeeOther {
		t.Fatalf("the code step: %d\n%s", r.code, r.body)
	}
	if c.cookies[sessionCookie].Value == pending {
		t.Fatal("the session id did not change after the code")
	}
	if _, err := e.store.Session(context.Background(), account.SessionID(pending)); err == nil {
		t.Fatal("the pending session is still stored")
	}
	if r := c.get("/"); r.code != http.StatusOK {
		t.Fatalf("GET / after the code: %d", r.code)
	}
	if u, _, _ := e.store.User(context.Background(), "alice"); u.FailedLogins != 0 {
		t.Fatalf("failures after a good login: %d", u.FailedLogins)
	}

	// Password and code in one form.
	d := e.client("192.0.2.2:1")
	d.get("/login")
	if r := d.post("/login", url.Values{"username": {"alice"}, "password": {pw}, "totp": {code}}); r.code != http.StatusSeeOther {
		t.Fatalf("one-step login: %d", r.code)
	}
	// A wrong code with the right password is a failure.
	f := e.client("192.0.2.3:1")
	f.get("/login")
	if r := f.post("/login", url.Values{"username": {"alice"}, "password": {pw}, "totp": {"000000"}}); r.code != http.StatusUnauthorized {
		t.Fatalf("a wrong code in one step: %d", r.code)
	}
	if u, _, _ := e.store.User(context.Background(), "alice"); u.FailedLogins != 1 {
		t.Fatalf("failures %d, want 1", u.FailedLogins)
	}
	// A pending login can be given up.
	g := e.client("192.0.2.4:1")
	g.get("/login")
	g.post("/login", url.Values{"username": {"alice"}, "password": {pw}})
	gave := g.cookies[sessionCookie].Value
	if r := g.post("/logout", nil); r.code != http.StatusSeeOther {
		t.Fatalf("giving up a pending login: %d", r.code)
	}
	if _, err := e.store.Session(context.Background(), account.SessionID(gave)); err == nil {
		t.Fatal("the pending session given up is still stored")
	}
	// Turning it off needs a code.
	d.get("/account")
	if r := d.post("/account/totp/disable", url.Values{"code": {"000000"}}); r.code != http.StatusBadRequest {
		t.Fatalf("disable with a wrong code: %d", r.code)
	}
	if r := d.post("/account/totp/disable", url.Values{"code": {code}}); r.code != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.code)
	}
	if u, _, _ := e.store.User(context.Background(), "alice"); u.TOTPSecret != "" {
		t.Fatal("still on")
	}
}

func TestHostLifecycle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)

	// Only the user's zones are offered and accepted.
	body := c.get("/").body
	if !strings.Contains(body, `<option value="dyn.example.test.">`) || strings.Contains(body, "other.example.test") ||
		!strings.Contains(body, `id="quota">0 of 3`) {
		t.Fatalf("hosts page:\n%s", body)
	}
	if res := c.post("/hosts", url.Values{"label": {"router"}, "zone": {otherZone}}); res.code != http.StatusBadRequest {
		t.Fatalf("a zone not the user's: %d", res.code)
	}
	for _, bad := range []string{"a.b", "-x", "x_y", "", strings.Repeat("a", 64)} {
		if res := c.post("/hosts", url.Values{"label": {bad}, "zone": {testZone}}); res.code != http.StatusBadRequest {
			t.Errorf("label %q: %d", bad, res.code)
		}
	}
	res := c.post("/hosts", url.Values{"label": {"Router"}, "zone": {testZone}, "ttl": {"120"}, "lease": {"0"}})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/hosts/router.dyn.example.test?done=added" {
		t.Fatalf("add: %d %q\n%s", res.code, res.header.Get("Location"), res.body)
	}
	h, err := e.host("router." + testZone)
	if err != nil || h.Owner != "alice" || h.TTL != 120 {
		t.Fatalf("stored %+v %v", h, err)
	}
	if res := c.post("/hosts", url.Values{"label": {"router"}, "zone": {testZone}}); res.code != http.StatusBadRequest || !strings.Contains(res.body, "taken") {
		t.Fatalf("the same name again: %d", res.code)
	}

	// A token is shown once, in the configurations too.
	res = c.post("/hosts/router.dyn.example.test/tokens", nil)
	tok := regexpFind(t, res.body, `<code id="new-token">([A-Za-z0-9_-]+)</code>`)
	for _, want := range []string{"password=&#39;" + tok + "&#39;", "server=dyn.example.test\n", "ssl=yes", "protocol=dyndns2", "login=router.dyn.example.test",
		"curl -sS -K - &#39;https://dyn.example.test/nic/update", "user = &#34;router.dyn.example.test:" + tok + "&#34;\n", "https://dyn.example.test/nic/update?hostname=router.dyn.example.test"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("issued page lacks %q", want)
		}
	}
	h, _ = e.host(h.Name)
	if len(h.Tokens) != 1 || !h.Check(tok) || strings.Contains(e.store.snapshot(e.gw), tok) {
		t.Fatalf("token stored %+v (the token itself must not be)", h.Tokens)
	}
	body = c.get("/hosts/router.dyn.example.test").body
	if strings.Contains(body, tok) || !strings.Contains(body, "password=&#39;&lt;token&gt;&#39;") ||
		!strings.Contains(body, `data-token="`+h.Tokens[0].ID+`"`) {
		t.Fatalf("the token is shown again, or the placeholder is missing:\n%s", body)
	}

	// Addresses by hand.
	res = c.post("/hosts/router.dyn.example.test/address", url.Values{"a": {"192.0.2.10, 192.0.2.9"}, "aaaa": {"2001:db8:1:2::1"}})
	if res.code != http.StatusSeeOther {
		t.Fatalf("address: %d\n%s", res.code, res.body)
	}
	if res := c.post("/hosts/router.dyn.example.test/address", url.Values{"a": {"2001:db8::1"}}); res.code != http.StatusBadRequest {
		t.Fatalf("an IPv6 address as A: %d", res.code)
	}
	body = c.get("/").body
	if !strings.Contains(body, `<td class="a" data-label="A">192.0.2.10, 192.0.2.9</td>`) || !strings.Contains(body, `data-host="router.dyn.example.test"`) {
		t.Fatalf("the list does not show the addresses:\n%s", body)
	}

	// A host behind the router.
	res = c.post("/hosts", url.Values{"label": {"nas"}, "zone": {testZone}, "prefix_from": {"router." + testZone}, "interface_id": {"::0:0:0:42"}})
	if res.code != http.StatusSeeOther {
		t.Fatalf("add behind the router: %d\n%s", res.code, res.body)
	}
	nas, _ := e.host("nas." + testZone)
	if nas.PrefixFrom != "router."+testZone || nas.PrefixLen != 64 || nas.InterfaceID != "::42" {
		t.Fatalf("nas %+v", nas)
	}
	// The router cannot go while a host follows it, nor follow one.
	if res := c.post("/hosts/router.dyn.example.test/delete", nil); res.code != http.StatusBadRequest || !strings.Contains(res.body, "nas.dyn.example.test") {
		t.Fatalf("delete a router with a follower: %d", res.code)
	}
	if res := c.post("/hosts/router.dyn.example.test/options", url.Values{"ttl": {"60"}, "prefix_from": {"nas." + testZone}, "interface_id": {"::1"}}); res.code != http.StatusBadRequest {
		t.Fatalf("a router following its follower: %d", res.code)
	}
	// Options: a new TTL republishes the router's addresses.
	if res := c.post("/hosts/router.dyn.example.test/options", url.Values{"ttl": {"300"}, "lease": {"3600"}}); res.code != http.StatusSeeOther {
		t.Fatalf("options: %d\n%s", res.code, res.body)
	}
	h, _ = e.host(h.Name)
	if h.TTL != 300 || h.LeaseSeconds != 3600 || len(h.Tokens) != 1 {
		t.Fatalf("after options %+v", h)
	}
	// Quota: 3 hosts, then no more.
	c.post("/hosts", url.Values{"label": {"third"}, "zone": {testZone}})
	if res := c.post("/hosts", url.Values{"label": {"fourth"}, "zone": {testZone}}); res.code != http.StatusBadRequest || !strings.Contains(res.body, "quota") {
		t.Fatalf("over the quota: %d", res.code)
	}

	// Revoke, then delete the follower and the router.
	if res := c.post("/hosts/router.dyn.example.test/tokens/"+h.Tokens[0].ID+"/revoke", nil); res.code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.code)
	}
	if h, _ = e.host(h.Name); len(h.Tokens) != 0 {
		t.Fatal("token not revoked")
	}
	for _, n := range []string{"nas", "router"} {
		if res := c.post("/hosts/"+n+".dyn.example.test/delete", nil); res.code != http.StatusSeeOther || res.header.Get("Location") != "/?done=deleted" {
			t.Fatalf("delete %s: %d", n, res.code)
		}
	}
	want := []string{
		"set router.dyn.example.test. [192.0.2.10 192.0.2.9] [2001:db8:1:2::1] web 192.0.2.1 ttl 120",
		"follow nas.dyn.example.test. from router.dyn.example.test. /64 ::42",
		"set router.dyn.example.test. [192.0.2.10 192.0.2.9] [2001:db8:1:2::1] web 192.0.2.1 ttl 300",
		"withdraw nas.dyn.example.test.",
		"withdraw router.dyn.example.test.",
	}
	if got := e.gw.called(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("gateway calls:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := e.host(h.Name); err == nil {
		t.Fatal("router not deleted")
	}
}

func TestAdminPage(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	fleet := fakeFleet{
		nodes: []status.Node{{Node: "ns1", Ready: true, Time: now}, {Node: "ns2", Ready: true, Time: now}},
		rows: []status.Row{{Node: "ns1", Zone: testZone, State: status.CaughtUp}, {Node: "ns2", Zone: testZone, State: status.Behind, BehindBy: 3},
			{Node: "ns2", Zone: otherZone, State: status.CaughtUp}},
	}
	e := newTestEnv(t, func(c *Config) { c.Fleet = fleet })
	e.addUser("root", pw, func(u *account.User) { u.Admin = true })
	e.addUser("alice", pw)
	e.addHost("home."+testZone, "alice")
	secret, _ := gwstore.NewSecret("hmac-sha256.")
	e.store.keys = []gwstore.Key{{Name: "dhcp.", Algorithm: "hmac-sha256.", Secret: secret, Zones: []string{testZone}}}
	c := e.client("192.0.2.1:1")
	c.login("root", pw)

	body := c.get("/admin").body
	for _, want := range []string{`id="users"`, `data-user="alice"`, `id="keys"`, `data-key="dhcp"`, `id="all-hosts"`, `data-host="home.dyn.example.test"`,
		`id="fleet"`, `<tr data-node="ns1">`, `class="state state-caught-up" data-label="State">caught-up`, `class="state state-behind" data-label="State">behind`} {
		if !strings.Contains(body, want) {
			t.Errorf("admin page lacks %q", want)
		}
	}
	if strings.Contains(body, secret) {
		t.Fatal("the admin page shows a TSIG secret")
	}
	// Add a user, with a generated password shown once.
	res := c.post("/admin/users", url.Values{"username": {"bob"}, "zones": {"dyn.example.test, other.example.test"}, "quota": {"7"}})
	gen := regexpFind(t, res.body, `<code id="new-user-password">([A-Z2-7]+)</code>`)
	u, _, err := e.store.User(context.Background(), "bob")
	if err != nil || u.Quota != 7 || len(u.Zones) != 2 || !account.CheckPassword(u.PasswordHash, gen) {
		t.Fatalf("bob %+v %v", u, err)
	}
	if res := c.post("/admin/users", url.Values{"username": {"carol"}, "zones": {"elsewhere.test"}}); res.code != http.StatusBadRequest {
		t.Fatalf("a zone the gateway does not serve: %d", res.code)
	}
	if res := c.post("/admin/users", url.Values{"username": {"bob"}}); res.code != http.StatusBadRequest {
		t.Fatalf("bob twice: %d", res.code)
	}
	// Edit: the quota, and a lock cleared.
	for range 6 {
		u, rev, _ := e.store.User(context.Background(), "alice")
		_, _ = e.store.PutUser(context.Background(), u.Failed(e.clock.Now()), rev)
	}
	if res := c.post("/admin/users/alice", url.Values{"zones": {testZone}, "quota": {"9"}, "unlock": {"on"}}); res.code != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", res.code, res.body)
	}
	if u, _, _ := e.store.User(context.Background(), "alice"); u.Quota != 9 || u.FailedLogins != 0 || u.Admin {
		t.Fatalf("alice %+v", u)
	}
	if res := c.post("/admin/users/root", url.Values{"zones": {testZone}, "quota": {"5"}}); res.code != http.StatusBadRequest {
		t.Fatalf("an admin dropping their own admin flag: %d", res.code)
	}
	// Remove: alice's host stays, the operator's now; her sessions end.
	a := e.client("192.0.2.5:1")
	a.login("alice", pw)
	c.get("/admin")
	if res := c.post("/admin/users/alice/delete", nil); res.code != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", res.code, res.body)
	}
	if h, err := e.host("home." + testZone); err != nil || h.Owner != "" || len(h.Tokens) != 0 {
		t.Fatalf("alice's host after her removal: %+v %v", h, err)
	}
	if res := a.get("/"); res.code != http.StatusSeeOther {
		t.Fatalf("a removed user's session: %d", res.code)
	}
	if res := c.post("/admin/users/root/delete", nil); res.code != http.StatusBadRequest {
		t.Fatalf("removing oneself: %d", res.code)
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	other := e.client("192.0.2.2:1")
	other.login("alice", pw)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	c.get("/account")
	if res := c.post("/account/password", url.Values{"current": {"not it"}, "new": {"new password!"}, "confirm": {"new password!"}}); res.code != http.StatusBadRequest {
		t.Fatalf("a wrong current password: %d", res.code)
	}
	if res := c.post("/account/password", url.Values{"current": {pw}, "new": {"new password!"}, "confirm": {"new password!"}}); res.code != http.StatusSeeOther {
		t.Fatalf("change: %d\n%s", res.code, res.body)
	}
	if res := c.get("/account"); res.code != http.StatusOK {
		t.Fatalf("this browser after the change: %d", res.code)
	}
	if res := other.get("/"); res.code != http.StatusSeeOther {
		t.Fatalf("another session after the change: %d", res.code)
	}
	u, _, _ := e.store.User(context.Background(), "alice")
	if !account.CheckPassword(u.PasswordHash, "new password!") {
		t.Fatal("password not changed")
	}
}

func TestSignup(t *testing.T) {
	t.Parallel()
	off := newTestEnv(t)
	if res := off.client("192.0.2.1:1").get("/signup"); res.code != http.StatusNotFound {
		t.Fatalf("sign-up off: %d", res.code)
	}
	if strings.Contains(off.client("192.0.2.1:1").get("/login").body, "/signup") {
		t.Fatal("the login page links the sign-up while it is off")
	}
	e := newTestEnv(t, func(c *Config) { c.Signup, c.SignupZones, c.SignupQuota = true, []string{otherZone}, 2 })
	c := e.client("192.0.2.1:1")
	c.get("/signup")
	if res := c.post("/signup", url.Values{"username": {"dora"}, "password": {"dora's password"}, "confirm": {"dora's password"}}); res.code != http.StatusSeeOther {
		t.Fatalf("sign-up: %d\n%s", res.code, res.body)
	}
	u, _, err := e.store.User(context.Background(), "dora")
	if err != nil || u.Quota != 2 || len(u.Zones) != 1 || u.Zones[0] != otherZone || u.Admin {
		t.Fatalf("dora %+v %v", u, err)
	}
	if res := c.get("/"); res.code != http.StatusOK {
		t.Fatalf("after sign-up: %d", res.code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for _, p := range []string{"/login", "/static/style.css", "/nope"} {
		res := e.client("192.0.2.1:1").get(p)
		if !strings.Contains(res.header.Get("Content-Security-Policy"), "default-src 'self'") ||
			res.header.Get("X-Frame-Options") != "DENY" || res.header.Get("Referrer-Policy") != "no-referrer" ||
			res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", p, res.header)
		}
	}
	if cc := e.client("192.0.2.1:1").get("/login").header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("pages: Cache-Control %q", cc)
	}
	res := e.client("192.0.2.1:1").get("/login")
	if !strings.Contains(res.body, `<meta name="viewport" content="width=device-width, initial-scale=1">`) || strings.Contains(res.body, "<script>") ||
		strings.Contains(res.body, "style=") {
		t.Fatalf("the page has inline script or style, or no viewport")
	}
	for _, p := range []string{"/", "/account", "/admin", "/hosts/x.dyn.example.test"} {
		if res := e.client("192.0.2.1:1").get(p); res.code != http.StatusSeeOther || res.header.Get("Location") != "/login" {
			t.Errorf("%s without a session: %d %q", p, res.code, res.header.Get("Location"))
		}
	}
}

func TestRequestsCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newTestEnv(t, func(c *Config) { c.Metrics = NewMetrics(reg) })
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	c.get("/hosts/none.dyn.example.test")
	if n := testutil.ToFloat64(e.srv.m.requests.WithLabelValues("host", "404")); n != 1 {
		t.Errorf("host 404 counted %v", n)
	}
	if n := testutil.ToFloat64(e.srv.m.logins.WithLabelValues(loginOK)); n != 1 {
		t.Errorf("logins ok counted %v", n)
	}
}

func TestFleetRows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	nodes := []status.Node{{Node: "b", Ready: true, Time: now.Add(-2 * time.Second)}, {Node: "a", Ready: false, Time: now},
		{Node: "s", Ready: true, Time: now, Signer: &status.Signer{}}}
	rows := []status.Row{{Node: "b", Zone: "x.", State: status.CaughtUp}, {Node: "b", Zone: "y.", State: status.Stale},
		{Node: "a", Zone: "x.", State: status.NotReady}, {Node: "s", Zone: "-", State: status.CaughtUp},
		{Node: "junk", Zone: "-", State: "undecodable"}}
	got := fleetRows(nodes, rows, now)
	want := []struct {
		node, role string
		ready      bool
		state      status.State
		zones      int
	}{{"a", "syncer", false, status.NotReady, 1}, {"b", "syncer", false, status.Stale, 2}, {"junk", "syncer", false, "undecodable", 0},
		{"s", "signer", true, status.CaughtUp, 0}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		g := got[i]
		if g.Node != w.node || g.Role != w.role || g.Ready != w.ready || g.State != w.state || len(g.Zones) != w.zones {
			t.Errorf("row %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestHistoryChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    gwstore.HistoryEntry
		want string
	}{
		{gwstore.HistoryEntry{A: []string{"192.0.2.1"}}, "A 192.0.2.1"},
		{gwstore.HistoryEntry{A: []string{}, AAAA: []string{"2001:db8::1", "2001:db8::2"}}, "A removed; AAAA 2001:db8::1, 2001:db8::2"},
		{gwstore.HistoryEntry{}, "renewed"},
	} {
		if got := historyChange(tc.e); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}

// The gateway's type is what the fake returns: a compile-time check that
// the real gateway fits the interface.
var _ Gateway = (*gateway.Gateway)(nil)
var _ Store = (*gwstore.Store)(nil)
var _ Store = gwstore.CachedStore{}
var _ Directory = (*gwstore.Cache)(nil)

func regexpFind(t *testing.T, body, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in:\n%s", re, body)
	}
	return m[1]
}

// withoutCSRF blanks the CSRF tokens of a page, which differ per browser.
func withoutCSRF(body string) string { return csrfRe.ReplaceAllString(body, `name="csrf" value=""`) }

// TestUnlistedZoneNotOffered: a zone of the user's that the fleet's zone
// list does not allow now is neither offered nor accepted for a new host,
// and is again once listed.
func TestUnlistedZoneNotOffered(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	e.gw.mu.Lock()
	e.gw.unlisted = []string{testZone}
	e.gw.mu.Unlock()
	if body := c.get("/").body; strings.Contains(body, `<option value="dyn.example.test.">`) {
		t.Fatalf("an unlisted zone is offered:\n%s", body)
	}
	if res := c.post("/hosts", url.Values{"label": {"router"}, "zone": {testZone}}); res.code != http.StatusBadRequest {
		t.Fatalf("a host in an unlisted zone: %d", res.code)
	}
	e.gw.mu.Lock()
	e.gw.unlisted = nil
	e.gw.mu.Unlock()
	if body := c.get("/").body; !strings.Contains(body, `<option value="dyn.example.test.">`) {
		t.Fatalf("a listed zone is not offered:\n%s", body)
	}
	if res := c.post("/hosts", url.Values{"label": {"router"}, "zone": {testZone}}); res.code != http.StatusSeeOther {
		t.Fatalf("a host in a listed zone: %d\n%s", res.code, res.body)
	}
}
