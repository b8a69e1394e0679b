package syncer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/claimlog"
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/rrset"
)

func startWithLog(t *testing.T, f *fakePDNS, path string) (*Syncer, func()) {
	t.Helper()
	l, err := claimlog.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return startWith(t, f, Config{Zones: []string{zone}, MaxBackoff: 20 * time.Millisecond,
		RectifyDelay: 50 * time.Millisecond, Claims: l})
}

func (f *fakePDNS) owned(t *testing.T) owner.Set {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, err := owner.Decode(zone, f.meta)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Owned
}

// TestClaimLog: a new RRset's claim is in the local log before its PATCH
// and reaches the zone metadata once the syncer is idle, after which the
// log is empty.
func TestClaimLog(t *testing.T) {
	t.Parallel()
	f := newFake()
	path := filepath.Join(t.TempDir(), "claims.log")
	k := rrset.Key{Name: "web." + zone, Type: "AAAA"}
	f.onApply = func() {
		claims, _, err := claimlog.Parse(mustOpen(t, path))
		if err == nil && len(claims) > 0 && !claims[zone].Has(k) {
			t.Errorf("a PATCH before the claim of %v was logged", k)
		}
	}
	s, stop := startWithLog(t, f, path)
	defer stop()
	s.Replayed()
	<-s.Ready()
	deliver(t, s, 1, k.Name, "2001:db8::1")
	waitFor(t, "the RRset", func() bool { return f.has(k) })
	waitFor(t, "the claim in the zone metadata", func() bool { return f.owned(t).Has(k) })
	waitFor(t, "an empty claim log", func() bool {
		claims, _, _ := claimlog.Parse(mustOpen(t, path))
		return len(claims) == 0
	})
}

// TestClaimLogAfterCrash: claims logged by a run that stopped before they
// reached the metadata still count at the next start: the RRset is the
// syncer's, so a stream that no longer wants it gets it deleted (not
// reported as a foreign conflict).
func TestClaimLogAfterCrash(t *testing.T) {
	t.Parallel()
	f := newFake()
	path := filepath.Join(t.TempDir(), "claims.log")
	k := rrset.Key{Name: "gone." + zone, Type: "AAAA"}
	f.sets[k] = rrset.Set{Key: k, TTL: 60, Records: []string{"2001:db8::9"}}
	l, err := claimlog.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(zone, []rrset.Key{k}, true); err != nil {
		t.Fatal(err)
	}
	l.Close()
	s, stop := startWithLog(t, f, path)
	defer stop()
	s.Replayed() // the stream holds nothing for k
	<-s.Ready()
	if f.has(k) {
		t.Fatal("the logged RRset was not deleted at start-up")
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh
}
