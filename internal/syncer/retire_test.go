package syncer

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/valve"
)

// retireRig writes n RRsets into zone with a syncer that manages it, stops
// it, and starts one on the same PowerDNS for which zone was removed from
// the zone list.
func retireRig(t *testing.T, f *fakePDNS, n int) (*Syncer, func()) {
	t.Helper()
	_, _, stop := holdRigOn(t, f, n, valve.Default)
	stop()
	s, stop := startWith(t, f, Config{Retiring: []string{zone}, MaxBackoff: 20 * time.Millisecond})
	s.Replayed()
	<-s.Ready()
	return s, stop
}

// holdRigOn is holdRig on f.
func holdRigOn(t *testing.T, f *fakePDNS, n int, policy valve.Policy) (*fakePDNS, *Syncer, func()) {
	t.Helper()
	s, stop := startWith(t, f, Config{Zones: []string{zone}, MaxBackoff: 20 * time.Millisecond, DeleteLimit: policy})
	for i := range n {
		deliver(t, s, uint64(i+1), fmt.Sprintf("h%d.%s", i, zone), fmt.Sprintf("2001:db8::%x", i+1))
	}
	s.Replayed()
	<-s.Ready()
	waitFor(t, "every record written", func() bool { return countHosts(f) == n })
	return f, s, stop
}

func (f *fakePDNS) gone() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.missing
}

// TestRetireSmallZone: a zone removed from the list in which the syncer
// owns fewer RRsets than the delete limit's minimum loses them at once,
// and then the zone itself; the syncer forgets it.
func TestRetireSmallZone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, stop := retireRig(t, f, 10)
		defer stop()
		waitFor(t, "the zone deleted", f.gone)
		if f.deletes() != 10 {
			t.Fatalf("%d RRsets deleted, want the 10 owned", f.deletes())
		}
		if h := s.Holds(); len(h) != 0 {
			t.Fatalf("holds %v", h)
		}
		if _, ok := s.Progress().Zones[zone]; ok {
			t.Fatal("the retired zone is still in the progress")
		}
	})
}

// TestRetireHeld: withdrawing from a big zone is held by the delete limit
// (PowerDNS keeps everything, the SOA stays, the hold is reported) until
// an operator approves; then the RRsets and the zone go.
func TestRetireHeld(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		soa := func() string {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.sets[rrset.Key{Name: zone, Type: "SOA"}].Records[0]
		}
		_, _, stop := holdRigOn(t, f, 200, valve.Default)
		stop()
		before := soa()
		s, stop := startWith(t, f, Config{Retiring: []string{zone}, MaxBackoff: 20 * time.Millisecond})
		defer stop()
		s.Replayed()
		waitFor(t, "the hold", func() bool { h := s.Holds(); return len(h) == 1 && h[0].Held == 200 && h[0].Zone == zone })
		<-s.Ready()
		advance(time.Second)
		if n := countHosts(f); n != 200 || f.gone() || soa() != before {
			t.Fatalf("before the approval: %d RRsets, zone gone %v, SOA %s (was %s)", n, f.gone(), soa(), before)
		}
		if zp := s.Progress().Zones[zone]; zp.Held != 200 || zp.Owned != 200 {
			t.Fatalf("progress %+v", zp)
		}
		n, err := s.Approve(context.Background(), zone)
		if err != nil || n != 200 {
			t.Fatalf("approve: %d, %v", n, err)
		}
		waitFor(t, "the zone deleted", f.gone)
		if f.deletes() != 200 || len(s.Holds()) != 0 {
			t.Fatalf("%d deletions, holds %v", f.deletes(), s.Holds())
		}
		if _, err := s.Approve(context.Background(), "other.test."); err == nil {
			t.Fatal("approved in a zone of no one")
		}
	})
}

// TestRetireLeavesOthersRRsets: a zone in which others wrote RRsets loses
// the syncer's and stays, no longer managed.
func TestRetireLeavesOthersRRsets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		hand := rrset.Set{Key: rrset.Key{Name: "hand." + zone, Type: "TXT"}, TTL: 60, Records: []string{`"by hand"`}}
		_, _, stop := holdRigOn(t, f, 5, valve.Default)
		stop()
		f.mu.Lock()
		f.sets[hand.Key] = hand
		f.mu.Unlock()
		s, stop := startWith(t, f, Config{Retiring: []string{zone}, MaxBackoff: 20 * time.Millisecond})
		defer stop()
		s.Replayed()
		<-s.Ready()
		waitFor(t, "the syncer's RRsets deleted", func() bool { return countHosts(f) == 0 })
		waitFor(t, "the zone forgotten", func() bool { _, ok := s.Progress().Zones[zone]; return !ok })
		if f.gone() || !f.has(hand.Key) {
			t.Fatalf("zone gone %v, hand-made RRset kept %v", f.gone(), f.has(hand.Key))
		}
	})
}

// TestRetireMissingZone: a removed zone PowerDNS does not have is neither
// created nor written.
func TestRetireMissingZone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.missing = true
		s, stop := startWith(t, f, Config{Retiring: []string{zone}, MaxBackoff: 20 * time.Millisecond})
		defer stop()
		s.Replayed()
		<-s.Ready()
		advance(time.Second)
		if applies, _, _ := f.counts(); applies != 0 || len(f.created) != 0 || len(s.Holds()) != 0 {
			t.Fatalf("%d applies, %d zones created, holds %v", applies, len(f.created), s.Holds())
		}
	})
}

// TestPerZoneSettings: a zone of the list is created with its own NS and
// NS TTL, and its SOA follows its own template; other zones keep the
// syncer's.
func TestPerZoneSettings(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.missing = true
		own := ZoneConfig{SOA: SOA{RName: "dns.example.", Refresh: 1, Retry: 2, Expire: 3, Minimum: 4, TTL: 5},
			NS: []string{"a.ns.example.", "b.ns.example."}, NSTTL: 120}
		s, stop := startWith(t, f, Config{Zones: []string{zone}, PerZone: map[string]ZoneConfig{zone: own},
			SOA: SOA{Refresh: 10800, Retry: 3600, Expire: 604800, Minimum: 60, TTL: 3600}, NS: []string{"ns1.flags."},
			MaxBackoff: 20 * time.Millisecond})
		defer stop()
		deliver(t, s, 1, "h."+zone, "2001:db8::1")
		s.Replayed()
		<-s.Ready()
		if len(f.created) != 1 {
			t.Fatalf("%d zones created", len(f.created))
		}
		spec := f.created[0]
		if !slices.Equal(spec.NS, own.NS) || spec.NSTTL != 120 || spec.SOA.TTL != 5 ||
			spec.SOA.Records[0] != "a.ns.example. dns.example. 0 1 2 3 4" {
			t.Fatalf("created with %+v", spec)
		}
		waitFor(t, "the SOA at sequence 1", func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			r := f.sets[rrset.Key{Name: zone, Type: "SOA"}].Records
			return len(r) == 1 && r[0] == "a.ns.example. dns.example. 1 1 2 3 4"
		})
		// Without its own NS, a zone of the list takes the syncer's.
		s2 := New(Config{Zones: []string{zone}, PerZone: map[string]ZoneConfig{zone: {SOA: own.SOA}}, NS: []string{"ns1.flags."}}, f, s.m, s.log)
		if got := s2.soa(zone, 7).Records[0]; got != "ns1.flags. dns.example. 7 1 2 3 4" || !slices.Equal(s2.nsFor(zone), []string{"ns1.flags."}) {
			t.Fatalf("SOA %s, NS %v", got, s2.nsFor(zone))
		}
	})
}
