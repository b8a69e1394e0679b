package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gateway"
	"github.com/zonecast/zonecast/internal/gwstore"
)

// TestAddRefusesANameInUse: a name with records of another source (a
// TSIG key's, a watcher's, a claim's, a removed host's) is taken, as one
// another user's host has.
func TestAddRefusesANameInUse(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	e.gw.inUse = map[string]bool{"www." + testZone: true}
	e.gw.state["left."+testZone] = gateway.HostState{A: []string{"192.0.2.1"}} // a host removed, its records left
	e.addHost("bobs."+testZone, "bob")
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	for _, label := range []string{"www", "left", "bobs"} {
		res := c.post("/hosts", url.Values{"label": {label}, "zone": {testZone}})
		if res.code != http.StatusBadRequest || !strings.Contains(res.body, label+"."+strings.TrimSuffix(testZone, ".")+" is taken") {
			t.Errorf("adding %s: %d\n%s", label, res.code, res.body)
		}
	}
	if own := e.store.Owned("alice"); len(own) != 0 {
		t.Fatalf("alice has %v", own)
	}
	if res := c.post("/hosts", url.Values{"label": {"free"}, "zone": {testZone}}); res.code != http.StatusSeeOther {
		t.Fatalf("a free name: %d", res.code)
	}
}

// Owned is the fake Directory's, on the store (tests read it directly).
func (f *fakeStore) Owned(user string) []gwstore.Host { return fakeDir{f}.Owned(user) }

// TestAddRefusesANestedZone: with sub.dyn.example.test served as a zone of
// its own, the label sub of dyn.example.test would be its apex.
func TestAddRefusesANestedZone(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.gw.zones = append(e.gw.zones, "sub."+testZone)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	res := c.post("/hosts", url.Values{"label": {"sub"}, "zone": {testZone}})
	if res.code != http.StatusBadRequest || !strings.Contains(res.body, "is a zone of its own") {
		t.Fatalf("the apex of a zone inside: %d\n%s", res.code, res.body)
	}
	if _, err := e.host("sub." + testZone); err == nil {
		t.Fatal("stored")
	}
	if res := c.post("/hosts", url.Values{"label": {"subway"}, "zone": {testZone}}); res.code != http.StatusSeeOther {
		t.Fatalf("another label: %d", res.code)
	}
}

// laggingDir is a Directory that has not seen any host yet, as a cache
// an instant behind the bucket: the quota's first count passes.
type laggingDir struct{ fakeDir }

func (laggingDir) Owned(string) []gwstore.Host { return nil }

// TestQuotaHoldsUnderConcurrentAdds: many additions at once, on a
// Directory that counts none of them, leave at most the quota.
func TestQuotaHoldsUnderConcurrentAdds(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Directory = laggingDir{fakeDir{c.Store.(*fakeStore)}} })
	e.addUser("alice", pw) // quota 3
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	const n = 12
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			form := url.Values{"label": {fmt.Sprintf("h%d", i)}, "zone": {testZone}, "csrf": {c.csrf}}
			req := httptest.NewRequest(http.MethodPost, "/hosts", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = c.remote
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.cookies[sessionCookie].Value})
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			codes[i] = rec.Code
			if rec.Code == http.StatusBadRequest && !strings.Contains(rec.Body.String(), "quota") {
				t.Errorf("add %d refused for another reason:\n%s", i, rec.Body.String())
			}
		})
	}
	wg.Wait()
	own := e.store.Owned("alice")
	added := 0
	for _, code := range codes {
		if code == http.StatusSeeOther {
			added++
		}
	}
	if len(own) > 3 || len(own) != added {
		t.Fatalf("%d hosts stored, %d additions answered as done (quota 3): %v", len(own), added, codes)
	}
	// One at a time, the quota fills up exactly.
	for i := len(own); i < 3; i++ {
		if res := c.post("/hosts", url.Values{"label": {fmt.Sprintf("one%d", i)}, "zone": {testZone}}); res.code != http.StatusSeeOther {
			t.Fatalf("an addition within the quota: %d\n%s", res.code, res.body)
		}
	}
	if res := c.post("/hosts", url.Values{"label": {"over"}, "zone": {testZone}}); res.code != http.StatusBadRequest {
		t.Fatalf("over the quota: %d", res.code)
	}
	if own := e.store.Owned("alice"); len(own) != 3 {
		t.Fatalf("%d hosts", len(own))
	}
}

// TestTOTPLinkIsAnOtpauthHref: html/template turns an otpauth: link it
// does not know to be safe into #ZgotmplZ.
func TestTOTPLinkIsAnOtpauthHref(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	body := c.get("/account").body
	secret := regexpFind(t, body, `name="secret" value="([A-Z2-7]+)"`)
	href := regexpFind(t, body, `<a id="totp-uri"[^>]* href="([^"]+)"`)
	want := strings.ReplaceAll(account.TOTPURI("zonecast", "alice", secret), "&", "&amp;")
	if href != want || strings.Contains(body, "ZgotmplZ") {
		t.Fatalf("href %q, want %q", href, want)
	}
}

// TestTokensAtOnceAllStay: tokens issued at once, and one revoked
// meanwhile, are each kept or gone: no write undoes another.
func TestTokensAtOnceAllStay(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	h := e.addHost("home."+testZone, "alice")
	_, old, _ := gwstore.NewToken(e.clock.Now())
	h.Tokens = []gwstore.Token{old}
	e.putHost(h)
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	session := c.cookies[sessionCookie].Value
	post := func(path string) int {
		form := url.Values{"csrf": {c.csrf}}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = c.remote
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		return rec.Code
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if code := post("/hosts/home.dyn.example.test/tokens"); code != http.StatusOK {
				t.Errorf("issue: %d", code)
			}
		})
	}
	wg.Go(func() {
		if code := post("/hosts/home.dyn.example.test/tokens/" + old.ID + "/revoke"); code != http.StatusSeeOther {
			t.Errorf("revoke: %d", code)
		}
	})
	wg.Wait()
	got, _ := e.host(h.Name)
	if len(got.Tokens) != 6 || slices.ContainsFunc(got.Tokens, func(t gwstore.Token) bool { return t.ID == old.ID }) {
		t.Fatalf("%d tokens after 6 issued and the old one revoked: %+v", len(got.Tokens), got.Tokens)
	}
	// An issue on a host deleted meanwhile does not bring it back.
	if err := e.store.DeleteHost(context.Background(), h.Name); err != nil {
		t.Fatal(err)
	}
	if code := post("/hosts/home.dyn.example.test/tokens"); code != http.StatusNotFound {
		t.Fatalf("issue on a deleted host: %d", code)
	}
	if _, err := e.host(h.Name); err == nil {
		t.Fatal("the deleted host is back")
	}
}

// TestDeleteGoesBeforeTheWithdrawal: when the records are withdrawn the
// host is gone from the store and the Directory, so that no dyndns update
// publishes them again.
func TestDeleteGoesBeforeTheWithdrawal(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	e.addHost("home."+testZone, "alice")
	var cached []bool
	e.gw.withdrawing = func(h gwstore.Host) {
		_, ok := fakeDir{e.store}.Host(h.Name)
		cached = append(cached, ok)
	}
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	if res := c.post("/hosts/home.dyn.example.test/delete", nil); res.code != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.code)
	}
	if !slices.Equal(cached, []bool{false}) {
		t.Fatalf("withdrawn with the host still there: %v", cached)
	}
	if got := e.gw.called(); !slices.Equal(got, []string{"withdraw home.dyn.example.test."}) {
		t.Fatalf("calls %v", got)
	}
}

// TestRemovedUsersTokensGo: a removed user's hosts become the operator's,
// without their tokens: the user's clients update nothing any more.
func TestRemovedUsersTokensGo(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("root", pw, func(u *account.User) { u.Admin = true })
	e.addUser("alice", pw)
	h := e.addHost("home."+testZone, "alice")
	tok, rec, _ := gwstore.NewToken(e.clock.Now())
	h.Tokens = []gwstore.Token{rec}
	e.putHost(h)
	c := e.client("192.0.2.1:1")
	c.login("root", pw)
	c.get("/admin")
	if res := c.post("/admin/users/alice/delete", nil); res.code != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", res.code, res.body)
	}
	got, err := e.host(h.Name)
	if err != nil || got.Owner != "" || len(got.Tokens) != 0 || got.Check(tok) {
		t.Fatalf("alice's host after her removal: %+v %v", got, err)
	}
}

// TestZoneNotTakenWhileHostsAreInIt: a user's zone cannot be taken away
// while they have hosts there; once they are gone it can.
func TestZoneNotTakenWhileHostsAreInIt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("root", pw, func(u *account.User) { u.Admin = true })
	e.addUser("alice", pw, func(u *account.User) { u.Zones = []string{testZone, otherZone} })
	e.addHost("home."+testZone, "alice")
	e.addHost("nas."+testZone, "alice")
	c := e.client("192.0.2.1:1")
	c.login("root", pw)
	c.get("/admin")
	res := c.post("/admin/users/alice", url.Values{"zones": {otherZone}, "quota": {"3"}})
	if res.code != http.StatusBadRequest || !strings.Contains(res.body, "hosts left in dyn.example.test (home.dyn.example.test, nas.dyn.example.test)") {
		t.Fatalf("dropping a zone with hosts: %d\n%s", res.code, res.body)
	}
	if u, _, _ := e.store.User(context.Background(), "alice"); len(u.Zones) != 2 {
		t.Fatalf("alice's zones %v", u.Zones)
	}
	// The other zone, without hosts, goes.
	if res := c.post("/admin/users/alice", url.Values{"zones": {testZone}, "quota": {"3"}}); res.code != http.StatusSeeOther {
		t.Fatalf("dropping a zone without hosts: %d\n%s", res.code, res.body)
	}
	for _, n := range []string{"home", "nas"} {
		if err := e.store.DeleteHost(context.Background(), n+"."+testZone); err != nil {
			t.Fatal(err)
		}
	}
	if res := c.post("/admin/users/alice", url.Values{"zones": {""}, "quota": {"3"}}); res.code != http.StatusSeeOther {
		t.Fatalf("dropping the zone once its hosts are gone: %d\n%s", res.code, res.body)
	}
}

// TestOptionsOfAHostBehindARouter: a new TTL republishes the host's own A
// with it, its AAAA follows the router's.
func TestOptionsOfAHostBehindARouter(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	e.addHost("router."+testZone, "alice")
	nas := e.addHost("nas."+testZone, "alice")
	nas.PrefixFrom, nas.InterfaceID = "router."+testZone, "::5"
	e.putHost(nas)
	e.gw.state[nas.Name] = gateway.HostState{A: []string{"192.0.2.5"}, AAAA: []string{"2001:db8::5"}, TTL: 60}
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	c.get("/hosts/nas.dyn.example.test")
	form := url.Values{"ttl": {"300"}, "lease": {"0"}, "prefix_from": {"router." + testZone}, "interface_id": {"::5"}}
	if res := c.post("/hosts/nas.dyn.example.test/options", form); res.code != http.StatusSeeOther {
		t.Fatalf("options: %d\n%s", res.code, res.body)
	}
	want := []string{"follow nas.dyn.example.test. from router.dyn.example.test. /64 ::5",
		"set nas.dyn.example.test. [192.0.2.5] [] web 192.0.2.1 ttl 300"}
	if got := e.gw.called(); !slices.Equal(got, want) {
		t.Fatalf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The same options again: nothing but the prefix followed.
	c.get("/hosts/nas.dyn.example.test")
	c.post("/hosts/nas.dyn.example.test/options", form)
	if got := e.gw.called(); len(got) != 3 || !strings.HasPrefix(got[2], "follow ") {
		t.Fatalf("calls %v", got)
	}
}

// TestAddressOutsideTheZonesIsShown: a host of a zone this gateway does
// not serve (the operator's doing) gets the reason, not an error page.
func TestAddressOutsideTheZonesIsShown(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addUser("alice", pw)
	e.addHost("home.elsewhere.test.", "alice")
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	c.get("/hosts/home.elsewhere.test")
	res := c.post("/hosts/home.elsewhere.test/address", url.Values{"a": {"192.0.2.1"}})
	if res.code != http.StatusBadRequest || !strings.Contains(res.body, "home.elsewhere.test. is in none of the gateway&#39;s zones") {
		t.Fatalf("%d\n%s", res.code, res.body)
	}
}
