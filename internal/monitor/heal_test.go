package monitor

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

func TestLosses(t *testing.T) {
	t.Parallel()
	z := func(applied uint64, serial uint32, missing bool) Read {
		return Read{Applied: applied, Serial: serial, Known: !missing, Missing: missing}
	}
	tests := map[string]struct {
		checks []Read
		want   []int // how many zones each check reports
		signed bool  // the zone's serial is the signer's
	}{
		"signed: the signer's serial": {checks: []Read{z(9, 4, false), z(9, 4, false), z(9, 4, false)}, want: []int{0, 0, 0}, signed: true},
		"signed: missing":             {checks: []Read{z(9, 0, true)}, want: []int{1}, signed: true},
		"in sync":                     {checks: []Read{z(5, 5, false), z(5, 5, false)}, want: []int{0, 0}},
		"missing at once":             {checks: []Read{z(5, 0, true)}, want: []int{1}},
		"mismatch once (a round)":     {checks: []Read{z(5, 4, false), z(6, 6, false)}, want: []int{0, 0}},
		"mismatch twice":              {checks: []Read{z(5, 4, false), z(5, 4, false), z(5, 4, false), z(5, 4, false)}, want: []int{0, 1, 0, 1}},
		"moving mismatch":             {checks: []Read{z(5, 4, false), z(6, 5, false)}, want: []int{0, 0}},
		"read failed":                 {checks: []Read{{Applied: 5}, {Applied: 5}}, want: []int{0, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := losses{seen: map[string]Read{}}
			if tc.signed {
				l.signed = []string{"z."}
			}
			for i, r := range tc.checks {
				if got := len(l.check([]string{"z."}, map[string]Read{"z.": r})); got != tc.want[i] {
					t.Fatalf("check %d reported %d zones, want %d", i, got, tc.want[i])
				}
			}
		})
	}
}

// TestHealReadDuringRounds: a serial the syncer wrote between the looks
// before and after a read is no mismatch; one it did not write is.
func TestHealReadDuringRounds(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		onRead, afterRead func(src *fakeSyncer, pdns *soaPDNS)
		want              Read
	}{
		"quiet": {want: Read{Applied: 7, Serial: 7, Known: true}},
		"a round lands during the read": {
			onRead: func(src *fakeSyncer, pdns *soaPDNS) { pdns.write(8); src.wrote("z.", 8) },
			want:   Read{Applied: 8, Serial: 8, Known: true}},
		"read before the positions move, a second round after": {
			onRead:    func(_ *fakeSyncer, pdns *soaPDNS) { pdns.write(8) },
			afterRead: func(src *fakeSyncer, pdns *soaPDNS) { pdns.write(9); src.wrote("z.", 9) },
			want:      Read{Applied: 9, Serial: 9, Known: true}},
		"served before the positions move, nothing after": {
			onRead: func(_ *fakeSyncer, pdns *soaPDNS) { pdns.write(8) },
			want:   Read{Applied: 7, Serial: 8, Known: true}},
		"someone else's serial": {
			onRead: func(_ *fakeSyncer, pdns *soaPDNS) { pdns.write(3) },
			want:   Read{Applied: 7, Serial: 3, Known: true}},
		"missing": {
			onRead: func(_ *fakeSyncer, pdns *soaPDNS) { pdns.set(func(p *soaPDNS) { p.missing = true }) },
			want:   Read{Applied: 7, Missing: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src, pdns := newFakeSyncer(), &soaPDNS{serial: 7}
			src.wrote("z.", 7)
			var once, after sync.Once
			if tc.onRead != nil {
				pdns.onRead = func() { once.Do(func() { tc.onRead(src, pdns) }) }
			}
			if tc.afterRead != nil {
				pdns.afterRead = func() { after.Do(func() { tc.afterRead(src, pdns) }) }
			}
			h := NewHealer(HealConfig{Zones: []string{"z."}, PDNS: pdns, Applied: NewApplied(src, []string{"z."}, nil),
				Log: zerolog.Nop()}, prometheus.NewRegistry())
			h.check(context.Background())
			if got := h.Served().Zones["z."]; got != tc.want {
				t.Fatalf("read %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestHealReconciles: a missing zone starts a reconciliation at the next
// check, a serial nobody wrote on the second check in a row; the heals
// are counted and the served serial exported. (Fake time:
// testing/synctest.)
func TestHealReconciles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src, pdns := newFakeSyncer(), &soaPDNS{serial: 7}
		src.wrote("z.", 7)
		ready := make(chan struct{})
		var mu sync.Mutex
		reconciles := 0
		reg := prometheus.NewRegistry()
		h := NewHealer(HealConfig{Zones: []string{"z."}, Interval: 10 * time.Second, PDNS: pdns,
			Applied: NewApplied(src, []string{"z."}, ready), Reachable: src.ObserveReachable,
			Reconcile: func() { mu.Lock(); reconciles++; mu.Unlock() }, Log: zerolog.Nop()}, reg)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go h.Run(ctx)
		count := func() int { mu.Lock(); defer mu.Unlock(); return reconciles }

		time.Sleep(time.Minute)
		synctest.Wait()
		pdns.mu.Lock()
		reads := pdns.reads
		pdns.mu.Unlock()
		if reads != 0 {
			t.Fatalf("%d reads before the syncer is ready", reads)
		}
		close(ready)
		synctest.Wait() // the first check, at once
		if v := testutil.ToFloat64(h.served.WithLabelValues("z.")); v != 7 {
			t.Fatalf("served serial %v", v)
		}
		if count() != 0 {
			t.Fatal("reconciled a zone in sync")
		}

		pdns.write(3) // restored from an old backup
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if count() != 0 {
			t.Fatal("reconciled on the first check of a mismatch")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if count() != 1 || h.Served().Heals != 1 || testutil.ToFloat64(h.heals) != 1 {
			t.Fatalf("after two checks of a mismatch: %d reconciliations, %d heals", count(), h.Served().Heals)
		}
		if v := testutil.ToFloat64(h.served.WithLabelValues("z.")); v != 3 {
			t.Fatalf("served serial %v", v)
		}

		pdns.set(func(p *soaPDNS) { p.missing = true })
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if count() != 2 || h.Served().Heals != 2 {
			t.Fatalf("missing zone: %d reconciliations", count())
		}
		if !src.reachable() {
			t.Fatal("a missing zone is an answer, not PowerDNS gone")
		}
	})
}

// TestHealEmptyZone: a zone that no message reached yet serves serial 0,
// which is no loss, check after check; one that lost its SOA after a
// write (serial 0 again) is.
func TestHealEmptyZone(t *testing.T) {
	t.Parallel()
	src, pdns := newFakeSyncer(), &soaPDNS{serial: 0}
	src.wrote("z.", 0)
	heals := 0
	h := NewHealer(HealConfig{Zones: []string{"z."}, PDNS: pdns, Applied: NewApplied(src, []string{"z."}, nil),
		Reconcile: func() { heals++ }, Log: zerolog.Nop()}, prometheus.NewRegistry())
	for range 3 {
		h.check(context.Background())
	}
	if got, want := h.Served().Zones["z."], (Read{Serial: 0, Known: true}); got != want || heals != 0 {
		t.Fatalf("empty zone: read %+v, %d heals; want %+v and none", got, heals, want)
	}
	src.wrote("z.", 5)
	for range 2 {
		h.check(context.Background())
	}
	if heals != 1 {
		t.Fatalf("a zone whose SOA is gone after a write: %d heals, want 1", heals)
	}
}
