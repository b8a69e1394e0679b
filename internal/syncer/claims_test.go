package syncer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/zonecast/zonecast/internal/claimlog"
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/pdnsapi"
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
		RectifyDelay: 50 * time.Millisecond, CheckpointDelay: 50 * time.Millisecond, Claims: l})
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
	synctest.Test(t, func(t *testing.T) {
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
	})
}

// TestClaimLogAfterCrash: claims logged by a run that stopped before they
// reached the metadata still count at the next start: the RRset is the
// syncer's, so a stream that no longer wants it gets it deleted (not
// reported as a foreign conflict).
func TestClaimLogAfterCrash(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
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
	})
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

// TestFullPassInParts: a start-up pass over more RRsets than one part is
// written part by part (claims logged while the previous part is in
// flight), every RRset ends up written and owned, and the SOA serial only
// comes with the last part.
func TestFullPassInParts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		soa := rrset.Key{Name: zone, Type: "SOA"}
		const n = firstPart + passPart + 500
		var early []string
		f.afterApply = func(always []pdnsapi.Change) {
			if len(always) > 0 && f.patched < n { // f.patched includes this call
				early = append(early, always[0].Set.Records[0])
			}
		}
		s, stop := startWithLog(t, f, filepath.Join(t.TempDir(), "claims.log"))
		defer stop()
		for i := 0; i < n; i++ {
			deliverPending(t, s, uint64(i+1), uint64(n-1-i), fmt.Sprintf("h%d.%s", i, zone), fmt.Sprintf("2001:db8::%x", i+1))
		}
		s.Replayed()
		<-s.Ready()
		applies, patched, _ := f.counts()
		if patched != n || applies != 3 {
			t.Fatalf("%d RRsets in %d applies, want %d in 3 parts", patched, applies, n)
		}
		f.mu.Lock()
		serial := strings.Fields(f.sets[soa].Records[0])[2]
		f.mu.Unlock()
		if serial != fmt.Sprint(n) || len(early) > 0 {
			t.Fatalf("serial %s (want %d); SOA written with an early part: %v", serial, n, early)
		}
		waitFor(t, "the claims in the zone metadata", func() bool { return len(f.owned(t)) == n })
	})
}
