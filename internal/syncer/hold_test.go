package syncer

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/valve"
)

// holdRig starts a syncer whose zone holds n RRsets it wrote itself.
func holdRig(t *testing.T, n int, policy valve.Policy) (*fakePDNS, *Syncer, func()) {
	t.Helper()
	f := newFake()
	s, stop := startWith(t, f, Config{Zones: []string{zone}, MaxBackoff: 20 * time.Millisecond, DeleteLimit: policy})
	for i := range n {
		deliver(t, s, uint64(i+1), fmt.Sprintf("h%d.%s", i, zone), fmt.Sprintf("2001:db8::%x", i+1))
	}
	s.Replayed()
	<-s.Ready()
	waitFor(t, "every record written", func() bool { _, patched, _ := f.counts(); return patched >= n })
	return f, s, stop
}

func countHosts(f *fakePDNS) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k := range f.sets {
		if k.Type == "AAAA" {
			n++
		}
	}
	return n
}

// TestMassTombstonesHeld: a burst of tombstones for most of a zone is held
// whole (PowerDNS keeps every RRset, the SOA serial stays), other changes
// still go through, and an approval writes exactly the held deletions.
func TestMassTombstonesHeld(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f, s, stop := holdRig(t, 200, valve.Default)
		defer stop()
		soa := func() string {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.sets[rrset.Key{Name: zone, Type: "SOA"}].Records[0]
		}
		before := soa()
		for i := range 150 {
			deliverPending(t, s, uint64(201+i), uint64(149-i), fmt.Sprintf("h%d.%s", i, zone))
		}
		deliver(t, s, 351, "new."+zone, "2001:db8::ffff") // not a deletion: written
		waitFor(t, "the new record", func() bool { return f.has(rrset.Key{Name: "new." + zone, Type: "AAAA"}) })
		waitFor(t, "the hold", func() bool { h := s.Holds(); return len(h) == 1 && h[0].Held == 150 })
		if n := countHosts(f); n != 201 {
			t.Fatalf("PowerDNS holds %d host RRsets, want all 200 and the new one", n)
		}
		if soa() != before {
			t.Fatalf("the SOA serial moved while deletions are held: %s -> %s", before, soa())
		}
		n, err := s.Approve(context.Background(), zone)
		if err != nil || n != 150 {
			t.Fatalf("approve: %d, %v", n, err)
		}
		waitFor(t, "the approved deletions", func() bool { return countHosts(f) == 51 })
		waitFor(t, "the hold lifted", func() bool { return len(s.Holds()) == 0 })
		waitFor(t, "the SOA at the stream's position", func() bool { return soa() != before })
	})
}

// TestHoldLiftsWhenDesiredAgain: deletions held after the desired state
// emptied (an emptied stream replayed) are dropped from the hold, and the
// zone follows the stream again, once the records are published again:
// nothing was deleted at any moment.
func TestHoldLiftsWhenDesiredAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f, s, stop := holdRig(t, 100, valve.Default)
		defer stop()
		for i := range 100 {
			deliverPending(t, s, uint64(101+i), uint64(99-i), fmt.Sprintf("h%d.%s", i, zone))
		}
		waitFor(t, "the hold", func() bool { h := s.Holds(); return len(h) == 1 && h[0].Held == 100 })
		for i := range 100 {
			deliverPending(t, s, uint64(201+i), uint64(99-i), fmt.Sprintf("h%d.%s", i, zone), fmt.Sprintf("2001:db8::%x", i+1))
		}
		waitFor(t, "the hold lifted", func() bool { return len(s.Holds()) == 0 })
		if n := countHosts(f); n != 100 {
			t.Fatalf("PowerDNS holds %d RRsets, want 100", n)
		}
		_, patched, _ := f.counts()
		if f.deletes() != 0 {
			t.Fatalf("%d deletions written (patched %d)", f.deletes(), patched)
		}
	})
}

// TestSmallDeletionsPass: deletions under the limit are written at once.
func TestSmallDeletionsPass(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f, s, stop := holdRig(t, 100, valve.Default)
		defer stop()
		for i := range 20 {
			deliver(t, s, uint64(101+i), fmt.Sprintf("h%d.%s", i, zone))
		}
		waitFor(t, "20 deletions", func() bool { return countHosts(f) == 80 })
		if len(s.Holds()) != 0 {
			t.Fatalf("held %v", s.Holds())
		}
	})
}

// TestTrickleOfTombstonesHeldWhole: tombstones that keep arriving a few
// milliseconds apart wait for each other (deleteSettle), so the delete
// limit sees the whole burst and holds it: not one is written. A lone
// deletion is written once deletions stop arriving. (Fake time.)
func TestTrickleOfTombstonesHeldWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, s, stop := holdRig(t, 200, valve.Default)
		defer stop()
		for i := range 100 {
			deliver(t, s, uint64(201+i), fmt.Sprintf("h%d.%s", i, zone))
			advance(10 * time.Millisecond)
		}
		advance(time.Second)
		if f.deletes() != 0 {
			t.Fatalf("%d deletions written from a burst of 100 tombstones", f.deletes())
		}
		if h := s.Holds(); len(h) != 1 || h[0].Held != 100 {
			t.Fatalf("holds %v", h)
		}
	})
}

func TestLoneDeletionWaitsForQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, s, stop := holdRig(t, 10, valve.Default)
		defer stop()
		deliver(t, s, 11, "h0."+zone)
		advance(deleteSettle / 2)
		if f.deletes() != 0 {
			t.Fatal("deleted before deletions stopped arriving")
		}
		advance(deleteSettle)
		if f.deletes() != 1 {
			t.Fatalf("%d deletions written after %v of quiet, want 1", f.deletes(), deleteSettle)
		}
	})
}

// TestApprovalCoversWhatWasHeld: an approval, even given twice, lets
// through exactly the deletions held at the time; a later mass deletion is
// held again.
func TestApprovalCoversWhatWasHeld(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f, s, stop := holdRig(t, 300, valve.Default)
		defer stop()
		for i := range 150 {
			deliverPending(t, s, uint64(301+i), uint64(149-i), fmt.Sprintf("h%d.%s", i, zone))
		}
		waitFor(t, "the first hold", func() bool { h := s.Holds(); return len(h) == 1 && h[0].Held == 150 })
		for range 2 {
			if _, err := s.Approve(context.Background(), zone); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the approved deletions", func() bool { return countHosts(f) == 150 })
		for i := 150; i < 250; i++ {
			deliverPending(t, s, uint64(301+i), uint64(249-i), fmt.Sprintf("h%d.%s", i, zone))
		}
		waitFor(t, "the second hold", func() bool { h := s.Holds(); return len(h) == 1 && h[0].Held == 100 })
		if n := countHosts(f); n != 150 {
			t.Fatalf("PowerDNS holds %d host RRsets, want 150: the approval let later deletions through", n)
		}
	})
}
