package monitor

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/syncer"
)

func TestDue(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	look := func(seq uint64, ready bool) Look { return Look{Seq: map[string]uint64{"z.": seq}, Ready: ready} }
	put := func(l Look, stored bool) due {
		var d due
		d.put(t0, l, stored)
		return d
	}
	tests := map[string]struct {
		d    due
		now  time.Time
		l    Look
		want bool
	}{
		"first":                  {d: due{}, now: t0, l: look(0, false), want: true},
		"nothing new":            {d: put(look(5, true), true), now: t0.Add(4 * time.Second), l: look(5, true), want: false},
		"period":                 {d: put(look(5, true), true), now: t0.Add(5 * time.Second), l: look(5, true), want: true},
		"applied moved":          {d: put(look(5, true), true), now: t0.Add(time.Second), l: look(6, true), want: true},
		"became ready":           {d: put(look(5, false), true), now: t0.Add(time.Second), l: look(5, true), want: true},
		"bucket did not take it": {d: put(look(5, true), false), now: t0.Add(time.Second), l: look(5, true), want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.d.at(tc.now, tc.l, 5*time.Second); got != tc.want {
				t.Fatalf("due %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStatusFromProgress: the status says what the syncer's progress and
// the healer's reads say, and nothing else.
func TestStatusFromProgress(t *testing.T) {
	t.Parallel()
	src := newFakeSyncer()
	src.wrote("a.", 9)
	src.edit("a.", false, func(zp *syncer.ZoneProgress) { zp.Owned, zp.Drift, zp.Conflicts, zp.Held = 4, 1, 2, 3 })
	// r. was removed from the zone list and is being withdrawn from;
	// gone. is done with (no progress any more).
	src.edit("r.", false, func(zp *syncer.ZoneProgress) { zp.Owned, zp.Held = 70, 70 })
	reconciled := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src.mu.Lock()
	src.prog.Desired, src.prog.LastReconcile = 11, reconciled
	src.mu.Unlock()
	src.ObserveReachable(false)
	recent := status.NewRecent(5)
	recent.Add(status.Error{Level: "warn", Message: "x"})
	p := NewPublisher(StatusConfig{Node: "ns1", Version: "v1", Stream: "ZONECAST", Zones: []string{"a.", "b."},
		Retiring: []string{"gone.", "r."}, ZoneList: "zonecast_zones",
		Progress: src, Applied: NewApplied(src, []string{"a.", "b."}, nil), Recent: recent,
		Served: func() Served {
			return Served{Zones: map[string]Read{"b.": {Applied: 0, Missing: true}}, Heals: 2}
		},
		StreamAlarm: func() string { return "emptied" }, Log: zerolog.Nop()})
	now := reconciled.Add(time.Minute)
	n := p.take(now, p.cfg.Applied.Look())
	if !n.Ready || n.PDNSReachable || n.DesiredRRsets != 11 || !n.LastReconcile.Equal(reconciled) || n.Heals != 2 ||
		n.StreamAlarm != "emptied" || len(n.Errors) != 1 || n.Node != "ns1" || n.Stream != "ZONECAST" || !n.Time.Equal(now) ||
		n.ZoneList != "zonecast_zones" {
		t.Fatalf("node %+v", n)
	}
	want := []status.Zone{
		{Zone: "a.", Filter: events.ZoneFilter(events.DefaultSubjectPrefix, "a."), AppliedSeq: 9, Serial: 9, SerialKnown: true, Owned: 4, Drift: 1, Conflicts: 2, Held: 3},
		{Zone: "b.", Filter: events.ZoneFilter(events.DefaultSubjectPrefix, "b."), Missing: true},
		{Zone: "r.", Removing: true, Owned: 70, Held: 70},
	}
	if len(n.Zones) != len(want) {
		t.Fatalf("zones %+v", n.Zones)
	}
	for i := range want {
		if n.Zones[i] != want[i] {
			t.Errorf("zone %d: %+v, want %+v", i, n.Zones[i], want[i])
		}
	}
	if last := p.Last(); last.Time != n.Time {
		t.Fatalf("Last %v, want the status taken", last.Time)
	}
}

// TestStatusTruthful: a status says "ready" within a poll of the syncer
// becoming ready, and never pairs an applied sequence with a serial
// PowerDNS no longer (or not yet) serves: not between two reads of
// PowerDNS after a burst, not when a round lands during a read.
// (Fake time: testing/synctest.)
func TestStatusTruthful(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSyncer()
		pdns := &soaPDNS{}
		sink := &statuses{}
		ready := make(chan struct{})
		const zone = "z."
		m := New(Config{Node: "ns1", Zones: []string{zone}, Syncer: src, PDNS: pdns, Sink: sink, Ready: ready,
			Interval: 5 * time.Second, Poll: time.Second, HealInterval: 10 * time.Second,
			Started: time.Now(), Log: zerolog.Nop()}, prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.Run(ctx)
		// write is an apply round: PowerDNS takes the PATCH with the
		// sequence's serial, then the syncer's positions move. The polls
		// fall on whole seconds, the reads (from readiness on) on half
		// ones, the rounds after a millisecond: a status never looks in
		// the middle of a round, which this test does not judge.
		write := func(seq uint64) {
			pdns.write(uint32(seq))
			src.wrote(zone, seq)
		}
		write(1)
		time.Sleep(3500 * time.Millisecond)
		start := len(sink.since(0))
		close(ready)
		time.Sleep(time.Second + time.Millisecond)
		if got := sink.since(start); len(got) == 0 || !got[len(got)-1].Ready {
			t.Fatalf("no ready status within a poll of readiness: %+v", got)
		}

		check := func(what string, from int) {
			t.Helper()
			for _, n := range sink.since(from) {
				for _, r := range status.Classify(n, nil, n.Time, status.Options{StaleAfter: time.Minute, MaxBehind: time.Minute}) {
					if r.State != status.CaughtUp {
						t.Fatalf("%s: status at %v says %s (applied %d, serial %s)", what, n.Time, r.State, r.AppliedSeq, r.Serial)
					}
				}
			}
		}
		// A burst over 30 s, a round every 100 ms: three reads of
		// PowerDNS fall in it, the other statuses come between them.
		from := len(sink.since(0))
		for seq := uint64(2); seq <= 300; seq++ {
			write(seq)
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
		check("after a burst", from)
		if got := sink.since(from); got[len(got)-1].Zones[0].Serial != 300 {
			t.Fatalf("last status: %+v", got[len(got)-1])
		}

		// A round lands between the look at the positions and the read.
		from = len(sink.since(0))
		var once sync.Once
		pdns.set(func(p *soaPDNS) { p.onRead = func() { once.Do(func() { write(301) }) } })
		// /status serves the last status taken, published or not.
		var served []status.Node
		for range 120 {
			time.Sleep(100 * time.Millisecond)
			served = append(served, m.Status.Last())
		}
		check("a round during a read", from)
		sink.mu.Lock()
		sink.all = append(sink.all, served...)
		sink.mu.Unlock()
		check("a round during a read, /status", from)
		if r := m.Healer.Served().Zones[zone]; r.Applied != 301 || r.Serial != 301 {
			t.Fatalf("read of a round during a read: %+v", r)
		}

		// Two rounds land during a read: the read gets the first one's
		// serial before the positions move, the second lands whole after
		// it.
		from = len(sink.since(0))
		var first, second sync.Once
		pdns.set(func(p *soaPDNS) {
			p.onRead = func() { first.Do(func() { pdns.write(302) }) }
			p.afterRead = func() { second.Do(func() { write(303) }) }
		})
		time.Sleep(12 * time.Second)
		check("two rounds during a read", from)
		if r := m.Healer.Served().Zones[zone]; r.Applied != 303 || r.Serial != 303 {
			t.Fatalf("read of two rounds during a read: %+v", r)
		}
	})
}

// TestIdleSyncerSeesPDNSGone: a syncer that writes nothing learns from
// the healer's reads that PowerDNS stopped answering, and that it
// answers again: the syncer is told, the failed reads are counted, and
// the status follows within a heal period. (Fake time: testing/synctest.)
func TestIdleSyncerSeesPDNSGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSyncer()
		pdns := &soaPDNS{serial: 7}
		src.wrote("z.", 7)
		sink := &statuses{}
		var mu sync.Mutex
		failed := 0
		m := New(Config{Node: "ns1", Zones: []string{"z."}, Syncer: src, PDNS: pdns, Sink: sink,
			Interval: 5 * time.Second, HealInterval: 10 * time.Second,
			ReadFailed: func(error) { mu.Lock(); failed++; mu.Unlock() },
			Started:    time.Now(), Log: zerolog.Nop()}, prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.Run(ctx)
		time.Sleep(15 * time.Second)
		if !src.reachable() {
			t.Fatal("unreachable while PowerDNS answers")
		}
		pdns.set(func(p *soaPDNS) { p.down = true })
		from := len(sink.since(0))
		time.Sleep(11 * time.Second)
		if src.reachable() {
			t.Fatal("reachable a heal period after PowerDNS stopped answering")
		}
		if got := sink.since(from); len(got) == 0 || got[len(got)-1].PDNSReachable {
			t.Fatalf("statuses after PowerDNS stopped: %+v", got)
		}
		mu.Lock()
		n := failed
		mu.Unlock()
		if n == 0 {
			t.Fatal("failed reads not passed on")
		}
		pdns.set(func(p *soaPDNS) { p.down = false })
		time.Sleep(11 * time.Second)
		if !src.reachable() {
			t.Fatal("unreachable a heal period after PowerDNS answers again")
		}
	})
}

// TestStatusSentAgainAfterAFailedPut: a status the bucket did not take
// (no leader) is sent again at the next poll, not a period later, so that
// "starting" does not outlive readiness once the bucket has a leader.
// (Fake time: testing/synctest.)
func TestStatusSentAgainAfterAFailedPut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSyncer()
		sink := &statuses{down: true}
		ready := make(chan struct{})
		p := NewPublisher(StatusConfig{Node: "ns1", Zones: []string{"z."}, Progress: src,
			Applied: NewApplied(src, []string{"z."}, ready), Sink: sink, Interval: 5 * time.Second, Poll: time.Second,
			Started: time.Now(), Log: zerolog.Nop()})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go p.Run(ctx)
		time.Sleep(2 * time.Second)
		close(ready) // the ready status fails: the bucket is electing
		time.Sleep(1500 * time.Millisecond)
		sink.setDown(false)
		time.Sleep(time.Second + time.Millisecond)
		got := sink.since(0)
		if len(got) == 0 || !got[len(got)-1].Ready {
			t.Fatalf("no ready status within a poll of the bucket answering again: %+v", got)
		}
	})
}
