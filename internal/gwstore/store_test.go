package gwstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/testenv"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	tok, rec, err := NewToken(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := Host{Name: "h.example.test.", Tokens: []Token{rec}}
	if !h.Check(tok) {
		t.Fatal("issued token refused")
	}
	for _, bad := range []string{"", tok + "x", tok[1:], rec.Hash} {
		if h.Check(bad) {
			t.Fatalf("token %q accepted", bad)
		}
	}
}

func TestKeyValidate(t *testing.T) {
	t.Parallel()
	secret, _ := NewSecret("hmac-sha256.")
	cases := map[string]struct {
		k  Key
		ok bool
	}{
		"ok":             {Key{Name: "Dhcp-Key", Algorithm: "HMAC-SHA256", Secret: secret, Zones: []string{"Example.test"}, Types: []string{"a"}}, true},
		"sha1":           {Key{Name: "k", Algorithm: "hmac-sha1", Secret: secret, Zones: []string{"example.test"}}, false},
		"no zone":        {Key{Name: "k", Algorithm: "hmac-sha256", Secret: secret}, false},
		"short secret":   {Key{Name: "k", Algorithm: "hmac-sha256", Secret: "YWJj", Zones: []string{"example.test"}}, false},
		"bad type":       {Key{Name: "k", Algorithm: "hmac-sha256", Secret: secret, Zones: []string{"example.test"}, Types: []string{"SOA"}}, false},
		"wildcard names": {Key{Name: "k", Algorithm: "hmac-sha512", Secret: secret, Zones: []string{"example.test"}, Names: []string{"*.dhcp.example.test"}}, true},
	}
	for name, c := range cases {
		k, err := c.k.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", name, err)
		}
		if err == nil && (k.Name != dnsLower(c.k.Name)+"." || k.Zones[0][len(k.Zones[0])-1] != '.') {
			t.Errorf("%s: not canonical: %+v", name, k)
		}
	}
}

func dnsLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// openStore opens the bucket on an embedded NATS server of the test's
// own, and returns it with a context that ends with the test.
func openStore(t *testing.T) (*Store, context.Context) {
	t.Helper()
	js, ctx := testenv.JetStream(t, "gwstore-test")
	st, err := Open(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	return st, ctx
}

func TestStoreAndCache(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	secret, _ := NewSecret("hmac-sha256.")
	k, err := st.PutKey(ctx, Key{Name: "k1", Algorithm: "hmac-sha256", Secret: secret, Zones: []string{"example.test"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutKey(ctx, k, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := st.PutKey(ctx, Key{Name: "k1.", Algorithm: "hmac-sha256", Secret: secret, Zones: []string{"x.test"}}, false); err != nil {
		t.Fatalf("replace: %v", err)
	}
	// "k-1" and "k.1" share an origin: refused.
	if _, err := st.PutKey(ctx, Key{Name: "k-1", Algorithm: "hmac-sha256", Secret: secret, Zones: []string{"x.test"}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutKey(ctx, Key{Name: "k.1", Algorithm: "hmac-sha256", Secret: secret, Zones: []string{"x.test"}}, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("origin collision: %v", err)
	}
	tok, rec, _ := NewToken(time.Now())
	if _, _, err := st.PutHost(ctx, Host{Name: "home.example.test", Tokens: []Token{rec}}, 0); err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	ready := make(chan struct{})
	wctx, wcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Watch(wctx, c, func() { close(ready) }, zerolog.Nop()) }()
	<-ready
	if got, ok := c.Key("k1."); !ok || got.Zones[0] != "x.test." {
		t.Fatalf("cached key %+v %v", got, ok)
	}
	if h, ok := c.Host("home.example.test."); !ok || !h.Check(tok) {
		t.Fatalf("cached host %+v %v", h, ok)
	}
	if err := st.DeleteKey(ctx, "k1."); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteKey(ctx, "k1."); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := c.Key("k1."); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleted key still cached")
		}
		time.Sleep(10 * time.Millisecond)
	}
	keys, err := st.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "k-1." {
		t.Fatalf("keys %v %v", keys, err)
	}
	wcancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPutHostRevisions: a host is created once, then written over the
// revision it was read at; a write in between is a conflict, which
// UpdateHost reads again and applies anew. Tokens issued at once all
// stay, a revoked one does not come back, a deleted host is not made
// again.
func TestPutHostRevisions(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	const name = "home.example.test."
	h, rev, err := st.PutHost(ctx, Host{Name: name}, 0)
	if err != nil || rev == 0 {
		t.Fatalf("create: rev %d %v", rev, err)
	}
	if _, _, err := st.PutHost(ctx, h, 0); !errors.Is(err, ErrExists) {
		t.Fatalf("create again: %v", err)
	}
	_, old, _ := NewToken(time.Now())
	h.Tokens = []Token{old}
	if _, _, err := st.PutHost(ctx, h, rev); err != nil {
		t.Fatal(err)
	}
	h.TTL = 300
	if _, _, err := st.PutHost(ctx, h, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("a write over a stale revision: %v", err)
	}
	// Ten tokens issued at once, the old one revoked meanwhile.
	var wg sync.WaitGroup
	errs := make(chan error, 11)
	for range 10 {
		wg.Go(func() {
			_, tok, _ := NewToken(time.Now())
			_, err := UpdateHost(ctx, st, name, func(h *Host) error { h.Tokens = append(h.Tokens, tok); return nil })
			errs <- err
		})
	}
	wg.Go(func() {
		_, err := UpdateHost(ctx, st, name, func(h *Host) error {
			h.Tokens = slices.DeleteFunc(h.Tokens, func(t Token) bool { return t.ID == old.ID })
			return nil
		})
		errs <- err
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := st.Host(ctx, name)
	if err != nil || len(got.Tokens) != 10 || slices.ContainsFunc(got.Tokens, func(t Token) bool { return t.ID == old.ID }) {
		t.Fatalf("after 10 issues and a revoke: %d tokens, %v", len(got.Tokens), err)
	}
	// An error of the change stores nothing; a deleted host stays deleted.
	stop := errors.New("stop")
	if _, err := UpdateHost(ctx, st, name, func(h *Host) error { h.Tokens = nil; return stop }); !errors.Is(err, stop) {
		t.Fatalf("a change failing: %v", err)
	}
	if err := st.DeleteHost(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutHost(ctx, got, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("a write over a deleted host: %v", err)
	}
	if _, err := UpdateHost(ctx, st, name, func(*Host) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("updating a deleted host: %v", err)
	}
	if _, _, err := st.Host(ctx, name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the deleted host came back: %v", err)
	}
}
