package monitor

import (
	"context"
	"errors"
	"github.com/zonecast/zonecast/internal/events"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/syncer"
)

// fakeSyncer is the syncer as the monitor sees it: its progress, its
// positions with their change notification, and what it is told of
// PowerDNS's reachability.
type fakeSyncer struct {
	mu       sync.Mutex
	prog     syncer.Progress
	changed  chan struct{}
	observed []bool // ObserveReachable's arguments
}

func newFakeSyncer() *fakeSyncer {
	return &fakeSyncer{prog: syncer.Progress{Zones: map[string]syncer.ZoneProgress{}, Reachable: true},
		changed: make(chan struct{})}
}

// edit changes zone's progress under the lock; a position change wakes
// the waiters of Changed, as the syncer does.
func (f *fakeSyncer) edit(zone string, moved bool, fn func(*syncer.ZoneProgress)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	zp := f.prog.Zones[zone]
	fn(&zp)
	f.prog.Zones[zone] = zp
	if moved {
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

func (f *fakeSyncer) setSeq(zone string, seq uint64) {
	f.edit(zone, true, func(zp *syncer.ZoneProgress) { zp.Seq, zp.SeqSet = seq, true })
}

func (f *fakeSyncer) setSerial(zone string, serial uint32) {
	f.edit(zone, true, func(zp *syncer.ZoneProgress) { zp.Serial, zp.SerialSet = serial, true })
}

// wrote is what a round does once PowerDNS took its PATCH: the serial,
// then the sequence, one after the other as in the syncer.
func (f *fakeSyncer) wrote(zone string, seq uint64) {
	f.setSerial(zone, uint32(seq))
	f.setSeq(zone, seq)
}

func (f *fakeSyncer) Progress() syncer.Progress {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.prog
	p.Zones = make(map[string]syncer.ZoneProgress, len(f.prog.Zones))
	for z, zp := range f.prog.Zones {
		p.Zones[z] = zp
	}
	return p
}

func (f *fakeSyncer) Positions() (map[string]uint64, map[string]uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq, serial := map[string]uint64{}, map[string]uint32{}
	for z, zp := range f.prog.Zones {
		if zp.SeqSet {
			seq[z] = zp.Seq
		}
		if zp.SerialSet {
			serial[z] = zp.Serial
		}
	}
	return seq, serial
}

func (f *fakeSyncer) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakeSyncer) ObserveReachable(ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prog.Reachable = ok
	f.observed = append(f.observed, ok)
}

func (f *fakeSyncer) reachable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prog.Reachable
}

// soaPDNS serves a zone's SOA with the serial last written to it;
// onRead, when set, runs inside each read (a round landing meanwhile).
type soaPDNS struct {
	mu     sync.Mutex
	serial uint32
	onRead func()
	// afterRead runs once a read has taken its answer, before it returns.
	afterRead func()
	down      bool // reads fail as when PowerDNS does not answer
	missing   bool // PowerDNS has no such zone
	reads     int
}

func (f *soaPDNS) write(serial uint32) {
	f.mu.Lock()
	f.serial = serial
	f.mu.Unlock()
}

func (f *soaPDNS) set(fn func(*soaPDNS)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *soaPDNS) ZoneSerials(context.Context) (map[string]uint32, error) {
	f.mu.Lock()
	hook := f.onRead
	f.reads++
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	down, missing, serial, after := f.down, f.missing, f.serial, f.afterRead
	f.mu.Unlock()
	if after != nil {
		after()
	}
	switch {
	case down:
		return nil, errors.New("dial tcp 127.0.0.1:8081: connect: connection refused")
	case missing:
		return map[string]uint32{}, nil
	}
	return map[string]uint32{"z.": serial}, nil
}

// statuses keeps every status put; while down, puts fail as during the
// bucket's leader election.
type statuses struct {
	mu   sync.Mutex
	all  []status.Node
	down bool
}

func (s *statuses) Put(_ context.Context, _ string, b []byte) (uint64, error) {
	n, err := status.Decode(b)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, errors.New("nats: timeout")
	}
	s.all = append(s.all, n)
	return uint64(len(s.all)), nil
}

func (s *statuses) since(i int) []status.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all[min(i, len(s.all)):])
}

func (s *statuses) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// reports captures the applied reports published.
type reports struct {
	mu      sync.Mutex
	subj    []string
	got     []events.AppliedReport
	flushed []time.Duration
}

func (r *reports) Publish(subject string, data []byte) error {
	rep, err := events.DecodeApplied(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subj = append(r.subj, subject)
	r.got = append(r.got, rep)
	return nil
}

func (r *reports) FlushTimeout(d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushed = append(r.flushed, d)
	return nil
}

func (r *reports) last() (events.AppliedReport, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return events.AppliedReport{}, 0
	}
	return r.got[len(r.got)-1], len(r.got)
}

// TestMonitor: the parts started by one Run agree: the status and the
// applied reports say the same applied sequence, the status carries the
// healer's read, and Run returns once the last report is out.
// (Fake time: testing/synctest.)
func TestMonitor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSyncer()
		pdns := &soaPDNS{}
		sink, applied := &statuses{}, &reports{}
		ready := make(chan struct{})
		reg := prometheus.NewRegistry()
		m := New(Config{Node: "ns1", Zones: []string{"z."}, Syncer: src, PDNS: pdns, Ready: ready, Sink: sink,
			Applied: applied, AppliedSubject: "zonecast.applied.ZONECAST.ns1", Started: time.Now(), Log: zerolog.Nop()}, reg)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() { defer close(done); m.Run(ctx) }()

		pdns.write(5)
		src.wrote("z.", 5)
		close(ready)
		time.Sleep(time.Second)
		synctest.Wait()
		st := m.Status.Last()
		if !st.Ready || len(st.Zones) != 1 || st.Zones[0].AppliedSeq != 5 || !st.Zones[0].SerialKnown || st.Zones[0].Serial != 5 {
			t.Fatalf("status %+v", st)
		}
		if rep, _ := applied.last(); !rep.Ready || rep.Applied["z."] != 5 {
			t.Fatalf("report %+v", rep)
		}
		if r := m.Healer.Served().Zones["z."]; !r.Known || r.Serial != 5 || r.Applied != 5 {
			t.Fatalf("healer read %+v", r)
		}

		src.setSeq("z.", 6) // a round writing 6 starts
		time.Sleep(time.Second)
		synctest.Wait()
		if st := m.Status.Last(); st.Zones[0].AppliedSeq != 5 {
			t.Errorf("status applied %d before the serial was written", st.Zones[0].AppliedSeq)
		}
		cancel()
		<-done
		if rep, _ := applied.last(); rep.Ready {
			t.Fatalf("last report after stop still ready: %+v", rep)
		}
	})
}
