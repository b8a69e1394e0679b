package gwstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/account"
)

func TestUsers(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	hash, err := account.HashPassword("password1")
	if err != nil {
		t.Fatal(err)
	}
	u := account.User{Name: "alice", PasswordHash: hash, Zones: []string{"Dyn.Example.test"}, Created: time.Now().UTC()}
	rev, err := st.PutUser(ctx, u, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUser(ctx, u, 0); !errors.Is(err, ErrExists) {
		t.Fatalf("a second create: %v", err)
	}
	if _, err := st.PutUser(ctx, account.User{Name: "Bad Name", PasswordHash: hash}, 0); !errors.Is(err, account.ErrInvalid) {
		t.Fatalf("an invalid user: %v", err)
	}
	got, grev, err := st.User(ctx, "alice")
	if err != nil || grev != rev || got.Quota != account.DefaultQuota || !slices.Equal(got.Zones, []string{"dyn.example.test."}) {
		t.Fatalf("read back %+v rev %d (%v), want rev %d", got, grev, err, rev)
	}
	// Two gateways count a failed login from the same revision: the
	// second conflicts, reads again and counts on top.
	first := got.Failed(time.Now())
	rev2, err := st.PutUser(ctx, first, rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUser(ctx, got.Failed(time.Now()), rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("an update over an old revision: %v", err)
	}
	again, rev3, _ := st.User(ctx, "alice")
	if rev3 != rev2 || again.FailedLogins != 1 {
		t.Fatalf("after the conflict %+v rev %d", again, rev3)
	}
	if _, _, err := st.User(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing user: %v", err)
	}
	if _, _, err := st.User(ctx, "../x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an impossible name: %v", err)
	}
	if _, err := st.PutUser(ctx, account.User{Name: "bob", PasswordHash: hash}, 0); err != nil {
		t.Fatal(err)
	}
	users, err := st.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob" {
		t.Fatalf("users %+v %v", users, err)
	}

	// An owner of hosts is not removed; once they are gone it is, with
	// its sessions.
	if _, _, err := st.PutHost(ctx, Host{Name: "a.dyn.example.test", Owner: "alice"}, 0); err != nil {
		t.Fatal(err)
	}
	cookie, sess, _ := account.NewSession("alice", time.Now(), time.Hour)
	if err := st.PutSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, "alice"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("removing an owner of hosts: %v", err)
	}
	if err := st.DeleteHost(ctx, "a.dyn.example.test."); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, account.SessionID(cookie)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the session of a removed user: %v", err)
	}
	if err := st.DeleteUser(ctx, "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
	// A new account of the name starts afresh.
	if _, err := st.PutUser(ctx, u, 0); err != nil {
		t.Fatalf("creating again: %v", err)
	}
}

func TestSessions(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	now := time.Now()
	cookie, s, _ := account.NewSession("alice", now, time.Hour)
	if err := st.PutSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Session(ctx, account.SessionID(cookie))
	if err != nil || got.CSRF != s.CSRF || got.User != "alice" {
		t.Fatalf("read back %+v %v", got, err)
	}
	if _, err := st.Session(ctx, cookie); !errors.Is(err, ErrNotFound) {
		t.Fatalf("looked up by the cookie itself: %v", err)
	}
	s.Pending = true
	if err := st.PutSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Session(ctx, s.ID); !got.Pending {
		t.Fatal("update lost")
	}
	if err := st.PutSession(ctx, account.Session{ID: "x", User: "alice"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad id: %v", err)
	}
	if err := st.DeleteSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSession(ctx, s.ID); err != nil {
		t.Fatalf("a second logout: %v", err)
	}
	if _, err := st.Session(ctx, s.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after logout: %v", err)
	}
	// An expired session is not returned, and is removed.
	_, old, _ := account.NewSession("bob", now.Add(-2*time.Hour), time.Hour)
	if err := st.PutSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, old.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired session: %v", err)
	}
	_, old2, _ := account.NewSession("bob", now.Add(-2*time.Hour), time.Hour)
	_, live, _ := account.NewSession("bob", now, time.Hour)
	for _, x := range []account.Session{old2, live} {
		if err := st.PutSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.ExpireSessions(ctx, now); err != nil || n != 1 {
		t.Fatalf("expired %d (%v), want 1", n, err)
	}
	if _, err := st.Session(ctx, live.ID); err != nil {
		t.Fatalf("the live session: %v", err)
	}
	if err := st.DeleteUserSessions(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, live.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the user's sessions ended: %v", err)
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	host := "h.dyn.example.test."
	if h, err := st.History(ctx, host); err != nil || len(h) != 0 {
		t.Fatalf("no history yet: %v %v", h, err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// Appended from several gateways at once: every one is kept.
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	for i := range 10 {
		wg.Go(func() {
			errs <- st.AppendHistory(ctx, host, HistoryEntry{Time: t0.Add(time.Duration(i) * time.Second),
				Remote: "192.0.2.1", Via: "dyndns", A: []string{fmt.Sprintf("192.0.2.%d", i)}})
		})
	}
	wg.Wait()
	for i := 10; i < 25; i++ {
		errs <- st.AppendHistory(ctx, host, HistoryEntry{Time: t0.Add(time.Duration(i) * time.Second), Via: "web"})
	}
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if !errors.Is(err, ErrConflict) {
				t.Fatal(err)
			}
			failed++
		}
	}
	h, err := st.History(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != HistoryLen || failed > 0 {
		t.Fatalf("%d entries kept, want %d (%d appends gave up)", len(h), HistoryLen, failed)
	}
	for i, e := range h {
		if want := t0.Add(time.Duration(24-i) * time.Second); !e.Time.Equal(want) {
			t.Fatalf("entry %d at %v, want %v: not newest first", i, e.Time, want)
		}
	}
	if err := st.AppendHistory(ctx, host, HistoryEntry{Time: t0.Add(time.Hour), Via: "web", AAAA: []string{}}); err != nil {
		t.Fatal(err)
	}
	h, _ = st.History(ctx, host)
	if len(h) != HistoryLen || h[0].Via != "web" || h[0].A != nil || h[0].AAAA == nil || len(h[0].AAAA) != 0 {
		t.Fatalf("newest %+v of %d", h[0], len(h))
	}
	// The history goes with its host.
	if _, _, err := st.PutHost(ctx, Host{Name: host}, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteHost(ctx, host); err != nil {
		t.Fatal(err)
	}
	if h, err := st.History(ctx, host); err != nil || len(h) != 0 {
		t.Fatalf("history of a removed host: %v %v", h, err)
	}
}

// TestCacheHosts: the cache lists hosts by name and finds the hosts
// behind a router as they come, change and go; the web page's entries
// are not cached and not warned about.
func TestCacheHosts(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	put := func(h Host) {
		t.Helper()
		if _, err := UpdateHost(ctx, st, h.Name+".", func(old *Host) error { *old = h; return nil }); errors.Is(err, ErrNotFound) {
			_, _, err = st.PutHost(ctx, h, 0)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	put(Host{Name: "router.dyn.example.test", Owner: "alice"})
	put(Host{Name: "nas.dyn.example.test", PrefixFrom: "router.dyn.example.test", InterfaceID: "::2", Owner: "alice"})
	put(Host{Name: "cam.dyn.example.test", PrefixFrom: "router.dyn.example.test", InterfaceID: "::3"})
	hash, _ := account.HashPassword("password1")
	if _, err := st.PutUser(ctx, account.User{Name: "alice", PasswordHash: hash}, 0); err != nil {
		t.Fatal(err)
	}
	_, sess, _ := account.NewSession("alice", time.Now(), time.Hour)
	if err := st.PutSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendHistory(ctx, "router.dyn.example.test.", HistoryEntry{Via: "web"}); err != nil {
		t.Fatal(err)
	}
	var logged syncBuffer
	c := NewCache()
	ready := make(chan struct{})
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() { _ = st.Watch(wctx, c, func() { close(ready) }, zerolog.New(&logged)) }()
	<-ready
	names := func(hs []Host) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Name)
		}
		return out
	}
	if got := names(c.Hosts()); !slices.Equal(got, []string{"cam.dyn.example.test.", "nas.dyn.example.test.", "router.dyn.example.test."}) {
		t.Fatalf("hosts %v", got)
	}
	if got := names(c.Dependents("router.dyn.example.test.")); !slices.Equal(got, []string{"cam.dyn.example.test.", "nas.dyn.example.test."}) {
		t.Fatalf("dependents %v", got)
	}
	if got := c.Dependents("nas.dyn.example.test."); len(got) != 0 {
		t.Fatalf("dependents of a host behind a router: %v", got)
	}
	if got := names(c.Owned("alice")); !slices.Equal(got, []string{"nas.dyn.example.test.", "router.dyn.example.test."}) {
		t.Fatalf("alice's hosts %v", got)
	}
	if got := names(c.Owned("")); !slices.Equal(got, []string{"cam.dyn.example.test."}) {
		t.Fatalf("the operator's hosts %v", got)
	}
	// The camera moves behind another router and to bob, the NAS goes.
	put(Host{Name: "cam.dyn.example.test", PrefixFrom: "other.dyn.example.test", InterfaceID: "::3", Owner: "bob"})
	if err := st.DeleteHost(ctx, "nas.dyn.example.test."); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return len(c.Dependents("router.dyn.example.test.")) == 0 && len(c.Dependents("other.dyn.example.test.")) == 1 &&
			len(c.Owned("alice")) == 1 && len(c.Owned("bob")) == 1 && len(c.Owned("")) == 0
	})
	if c.Owned("alice")[0].Name != "router.dyn.example.test." {
		t.Fatalf("alice's hosts %v", names(c.Owned("alice")))
	}
	if _, hosts := c.Len(); hosts != 2 {
		t.Fatalf("%d hosts cached", hosts)
	}
	if s := logged.String(); s != "" {
		t.Fatalf("logged %s", s)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return string(s.b) }

// waitFor polls cond: the cache follows the bucket a delivery later.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
