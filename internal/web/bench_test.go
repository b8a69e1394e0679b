package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/zonecast/zonecast/internal/account"
	"github.com/zonecast/zonecast/internal/gateway"
	"github.com/zonecast/zonecast/internal/gwstore"
)

// BenchmarkHostsPage: one user's host list (5 hosts with an A record, in
// a fleet of 500), rendered by the handler on fakes: the page's own CPU
// per load, without the network or the bucket.
func BenchmarkHostsPage(b *testing.B) {
	t := &testing.T{}
	e := newTestEnv(t)
	e.t = t
	e.addUser("alice", pw, func(u *account.User) { u.Quota = 5 })
	for i := range 500 {
		owner := fmt.Sprintf("user%03d", i/5)
		if i < 5 {
			owner = "alice"
		}
		h := e.addHost(fmt.Sprintf("h%d-%s.%s", i%5, owner, testZone), owner)
		e.gw.state[h.Name] = gateway.HostState{A: []string{fmt.Sprintf("10.%d.%d.1", i/5, i%5)}, TTL: 60, Changed: e.clock.Now()}
	}
	// As gwstore.Cache, indexed by owner: the fake's scan of 500 hosts
	// is not the page's cost.
	e.srv.cfg.Directory = ownedDir{fakeDir{e.store}, e.store.Owned("alice")}
	c := e.client("192.0.2.1:1")
	c.login("alice", pw)
	cookie := &http.Cookie{Name: sessionCookie, Value: c.cookies[sessionCookie].Value}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.remote
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

type ownedDir struct {
	fakeDir
	alice []gwstore.Host
}

func (d ownedDir) Owned(string) []gwstore.Host { return slices.Clone(d.alice) }
