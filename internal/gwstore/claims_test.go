package gwstore

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/claim"
)

// TestClaims: the bucket takes one claim of a name (the second create
// conflicts), an update only over the revision read, a delete likewise;
// the cache follows and counts the live claims per subnet.
func TestClaims(t *testing.T) {
	t.Parallel()
	st, ctx := openStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	c := claim.Claim{Name: "laptop.dyn.example.test.", Zone: "dyn.example.test.",
		Key: "512 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=", Source: "192.0.2.7",
		Created: now, Refreshed: now, KeyLeaseSeconds: 3600}
	rev, err := st.PutClaim(ctx, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutClaim(ctx, c, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second claim of the name: %v", err)
	}
	got, grev, err := st.Claim(ctx, c.Name)
	if err != nil || grev != rev || got.Key != c.Key || !got.Refreshed.Equal(now) {
		t.Fatalf("read back %+v rev %d (%v), want rev %d", got, grev, err, rev)
	}
	c.Refreshed = now.Add(time.Minute)
	rev2, err := st.PutClaim(ctx, c, rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutClaim(ctx, c, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("an update over a revision no longer the last: %v", err)
	}
	if _, err := st.PutClaim(ctx, claim.Claim{Name: "a.b.dyn.example.test.", Zone: "dyn.example.test.", Key: c.Key, KeyLeaseSeconds: 1}, 0); !errors.Is(err, claim.ErrInvalid) {
		t.Fatalf("a claim two labels deep: %v", err)
	}

	cache := NewCache()
	ready := make(chan struct{})
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() { _ = st.Watch(wctx, cache, func() { close(ready) }, zerolog.Nop()) }()
	<-ready
	subnet := claim.Subnet(netip.MustParseAddr("192.0.2.99"))
	if n := cache.SubnetClaims(subnet, "other.dyn.example.test.", now); n != 1 {
		t.Errorf("live claims of %s: %d, want 1", subnet, n)
	}
	if n := cache.SubnetClaims(subnet, c.Name, now); n != 0 {
		t.Errorf("live claims of %s but the claim's own name: %d, want 0", subnet, n)
	}
	if n := cache.SubnetClaims(subnet, "other.dyn.example.test.", now.Add(2*time.Hour)); n != 0 {
		t.Errorf("claims of %s live after their key lease: %d, want 0", subnet, n)
	}

	if err := st.DeleteClaim(ctx, c.Name, rev); !errors.Is(err, ErrConflict) {
		t.Fatalf("a delete over an old revision: %v", err)
	}
	if err := st.DeleteClaim(ctx, c.Name, rev2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Claim(ctx, c.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted claim: %v", err)
	}
}
