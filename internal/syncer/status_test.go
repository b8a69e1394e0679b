package syncer

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/confirm"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/status"
)

func TestHealer(t *testing.T) {
	t.Parallel()
	z := func(applied uint64, serial uint32, missing bool) status.Node {
		return status.Node{Zones: []status.Zone{{Zone: "z.", AppliedSeq: applied, Serial: serial, SerialKnown: !missing, Missing: missing}}}
	}
	tests := map[string]struct {
		checks []status.Node
		want   []int // how many zones each check reports
	}{
		"in sync":                 {checks: []status.Node{z(5, 5, false), z(5, 5, false)}, want: []int{0, 0}},
		"missing at once":         {checks: []status.Node{z(5, 0, true)}, want: []int{1}},
		"mismatch once (a round)": {checks: []status.Node{z(5, 4, false), z(6, 6, false)}, want: []int{0, 0}},
		"mismatch twice":          {checks: []status.Node{z(5, 4, false), z(5, 4, false), z(5, 4, false), z(5, 4, false)}, want: []int{0, 1, 0, 1}},
		"moving mismatch":         {checks: []status.Node{z(5, 4, false), z(6, 5, false)}, want: []int{0, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := healer{seen: map[string]observation{}}
			for i, n := range tc.checks {
				if got := len(h.check(n)); got != tc.want[i] {
					t.Fatalf("check %d reported %d zones, want %d", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestSOASerial(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		rec  []string
		want uint32
		ok   bool
	}{
		"normal":  {rec: []string{"ns1.z. hostmaster.z. 42 10800 3600 604800 60"}, want: 42, ok: true},
		"garbage": {rec: []string{"x"}},
		"none":    {},
	}
	for name, c := range cases {
		got, ok := soaSerial(rrsetOf(c.rec))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d %v", name, got, ok)
		}
	}
}

func rrsetOf(records []string) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: "z.", Type: "SOA"}, TTL: 60, Records: records}
}

func TestConfirmAppliedSeqs(t *testing.T) {
	t.Parallel()
	type step struct {
		seq    map[string]uint64
		serial map[string]uint32
		ready  bool
		want   uint64
	}
	seq := func(v uint64) map[string]uint64 { return map[string]uint64{"z.": v} }
	ser := func(v uint32) map[string]uint32 { return map[string]uint32{"z.": v} }
	tests := map[string][]step{
		"written and confirmed": {{seq(5), nil, false, 0}, {seq(5), ser(5), false, 5}, {seq(6), ser(5), true, 5}, {seq(6), ser(6), true, 6}},
		"pdns already had it": {{seq(5), nil, false, 0}, {seq(5), nil, true, 5},
			{seq(6), nil, true, 5}, // a round in flight, or failing
			{seq(6), ser(6), true, 6}},
		"never backwards":            {{seq(9), ser(9), true, 9}, {seq(9), ser(8), true, 9}},
		"serial wraps":               {{seq(1<<32 + 3), ser(3), true, 1<<32 + 3}},
		"no sequence yet":            {{nil, nil, true, 0}},
		"failing from the start":     {{seq(5), nil, false, 0}, {seq(5), nil, false, 0}},
		"serial of a previous batch": {{seq(5), ser(4), true, 4}, {seq(5), ser(4), true, 4}},
		"next batch planned while one lands": {{seq(5), ser(5), true, 5}, {seq(9), ser(5), true, 5},
			{seq(12), ser(9), true, 9}, {seq(12), ser(12), true, 12}},
		"serial low bits above the planned ones": {{seq(1<<32 + 2), ser(1<<32 - 3), true, 1<<32 - 3}},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := appliedSeqs{seq: map[string]uint64{}}
			for i, s := range steps {
				got := a.update([]string{"z."}, s.seq, s.serial, s.ready)
				if got["z."] != s.want || len(got) != 1 {
					t.Fatalf("step %d: applied %v, want z.=%d", i, got, s.want)
				}
			}
		})
	}
}

// reports captures what the monitor publishes.
type reports struct {
	mu   sync.Mutex
	subj []string
	got  []confirm.Report
}

func (r *reports) Publish(subject string, data []byte) error {
	rep, err := confirm.Decode(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subj = append(r.subj, subject)
	r.got = append(r.got, rep)
	return nil
}

func (r *reports) last() (confirm.Report, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return confirm.Report{}, 0
	}
	return r.got[len(r.got)-1], len(r.got)
}

func (r *reports) waitFor(t *testing.T, what string, cond func(confirm.Report) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if rep, n := r.last(); n > 0 && cond(rep) {
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	rep, _ := r.last()
	t.Fatalf("no report with %s; last %+v", what, rep)
	return 0
}

func TestConfirmMonitorReports(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	ready := make(chan struct{})
	sink := &reports{}
	m := NewMonitor(MonitorConfig{Node: "ns1", Zones: []string{"z."}, Gatherer: reg, Metrics: metrics, Ready: ready,
		HealInterval: -1, Interval: time.Hour, Applied: sink, AppliedSubject: "zonecast.applied.ZONECAST.ns1",
		Heartbeat: 50 * time.Millisecond, Started: time.Now(), Log: zerolog.Nop()}, prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()

	metrics.SetZoneSeq("z.", 5)
	sink.waitFor(t, "not ready", func(r confirm.Report) bool { return !r.Ready && r.Applied["z."] == 0 && r.Node == "ns1" })
	close(ready) // PowerDNS already served sequence 5
	sink.waitFor(t, "ready at 5", func(r confirm.Report) bool { return r.Ready && r.Applied["z."] == 5 })
	metrics.SetZoneSeq("z.", 6) // a round writing 6 starts
	time.Sleep(20 * time.Millisecond)
	if rep, _ := sink.last(); rep.Applied["z."] != 5 {
		t.Fatalf("sequence counted before its serial was written: %+v", rep)
	}
	metrics.SetZoneSerial("z.", 6) // PowerDNS took it
	if took := sink.waitFor(t, "applied 6", func(r confirm.Report) bool { return r.Applied["z."] == 6 }); took > 200*time.Millisecond {
		t.Errorf("applied report took %v", took)
	}
	_, n := sink.last()
	time.Sleep(120 * time.Millisecond)
	if _, n2 := sink.last(); n2 <= n {
		t.Errorf("no heartbeat in 120ms (reports %d -> %d)", n, n2)
	}
	if st := m.Last(); len(st.Zones) == 1 && st.Zones[0].AppliedSeq > 6 {
		t.Errorf("status applied %d", st.Zones[0].AppliedSeq)
	}
	cancel()
	<-done
	if rep, _ := sink.last(); rep.Ready {
		t.Fatalf("last report after stop still ready: %+v", rep)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.subj[0] != "zonecast.applied.ZONECAST.ns1" {
		t.Fatalf("subject %s", sink.subj[0])
	}
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
}

func (f *soaPDNS) write(serial uint32) {
	f.mu.Lock()
	f.serial = serial
	f.mu.Unlock()
}

func (f *soaPDNS) RRset(_ context.Context, zone string, _ rrset.Key) (rrset.Set, bool, error) {
	f.mu.Lock()
	hook := f.onRead
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	down, serial, after := f.down, f.serial, f.afterRead
	f.mu.Unlock()
	if after != nil {
		after()
	}
	if down {
		return rrset.Set{}, false, errors.New("dial tcp 127.0.0.1:8081: connect: connection refused")
	}
	return rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 60,
		Records: []string{"ns1.z. hostmaster.z. " + strconv.FormatUint(uint64(serial), 10) + " 10800 3600 604800 3600"}}, true, nil
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

// TestStatusTruthful: a status says "ready" within a poll of the syncer
// becoming ready, and never pairs an applied sequence with a serial
// PowerDNS no longer (or not yet) serves: not between two reads of
// PowerDNS after a burst, not when a round lands during a read.
// (Fake time: testing/synctest.)
func TestStatusTruthful(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		metrics := NewMetrics(reg)
		metrics.PDNSReachable.Set(1)
		pdns := &soaPDNS{}
		sink := &statuses{}
		ready := make(chan struct{})
		const zone = "z."
		m := NewMonitor(MonitorConfig{Node: "ns1", Zones: []string{zone}, Gatherer: reg, Metrics: metrics, PDNS: pdns,
			Sink: sink, Ready: ready, Interval: 5 * time.Second, Poll: time.Second, HealInterval: 10 * time.Second,
			Started: time.Now(), Log: zerolog.Nop()}, prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.Run(ctx)
		// write is an apply round: PowerDNS takes the PATCH with the
		// sequence's serial, then the syncer's gauges move.
		write := func(seq uint64) {
			pdns.write(uint32(seq))
			metrics.SetZoneSerial(zone, uint32(seq))
			metrics.SetZoneSeq(zone, seq)
		}
		write(1)
		time.Sleep(3 * time.Second)
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

		// A round lands between the look at the gauges and the read.
		from = len(sink.since(0))
		var once sync.Once
		pdns.mu.Lock()
		pdns.onRead = func() { once.Do(func() { write(301) }) }
		pdns.mu.Unlock()
		// /status serves the last status taken, published or not.
		var served []status.Node
		for range 120 {
			time.Sleep(100 * time.Millisecond)
			served = append(served, m.Last())
		}
		check("a round during a read", from)
		sink.mu.Lock()
		sink.all = append(sink.all, served...)
		sink.mu.Unlock()
		check("a round during a read, /status", from)

		// Two rounds land during a read: the read gets the first one's
		// serial before the gauges move, the second lands whole after it.
		from = len(sink.since(0))
		var first, second sync.Once
		pdns.mu.Lock()
		pdns.onRead = func() { first.Do(func() { pdns.write(302) }) }
		pdns.afterRead = func() { second.Do(func() { write(303) }) }
		pdns.mu.Unlock()
		time.Sleep(12 * time.Second)
		check("two rounds during a read", from)
	})
}

// TestIdleSyncerSeesPDNSGone: a syncer that writes nothing learns from
// its heal period's reads that PowerDNS stopped answering, and that it
// answers again: zonecast_syncer_pdns_reachable and the status follow
// within a heal period. (Fake time: testing/synctest.)
func TestIdleSyncerSeesPDNSGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		metrics := NewMetrics(reg)
		metrics.PDNSReachable.Set(1)
		pdns := &soaPDNS{serial: 7}
		metrics.SetZoneSerial("z.", 7)
		metrics.SetZoneSeq("z.", 7)
		sink := &statuses{}
		ready := make(chan struct{})
		close(ready)
		m := NewMonitor(MonitorConfig{Node: "ns1", Zones: []string{"z."}, Gatherer: reg, Metrics: metrics, PDNS: pdns,
			Sink: sink, Ready: ready, Interval: 5 * time.Second, HealInterval: 10 * time.Second,
			Started: time.Now(), Log: zerolog.Nop()}, prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.Run(ctx)
		time.Sleep(15 * time.Second)
		if v := testutil.ToFloat64(metrics.PDNSReachable); v != 1 {
			t.Fatalf("reachable %v while PowerDNS answers", v)
		}
		pdns.mu.Lock()
		pdns.down = true
		pdns.mu.Unlock()
		from := len(sink.since(0))
		time.Sleep(11 * time.Second)
		if v := testutil.ToFloat64(metrics.PDNSReachable); v != 0 {
			t.Fatalf("reachable %v a heal period after PowerDNS stopped answering", v)
		}
		if got := sink.since(from); len(got) == 0 || got[len(got)-1].PDNSReachable {
			t.Fatalf("statuses after PowerDNS stopped: %+v", got)
		}
		if v := testutil.ToFloat64(metrics.PDNSErrors.WithLabelValues("transient")); v == 0 {
			t.Fatal("failed reads not counted in zonecast_syncer_pdns_errors_total")
		}
		pdns.mu.Lock()
		pdns.down = false
		pdns.mu.Unlock()
		time.Sleep(11 * time.Second)
		if v := testutil.ToFloat64(metrics.PDNSReachable); v != 1 {
			t.Fatalf("reachable %v a heal period after PowerDNS answers again", v)
		}
	})
}

// TestStatusSentAgainAfterAFailedPut: a status the bucket did not take
// (no leader) is sent again at the next poll, not a period later, so that
// "starting" does not outlive readiness once the bucket has a leader.
// (Fake time: testing/synctest.)
func TestStatusSentAgainAfterAFailedPut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		metrics := NewMetrics(reg)
		sink := &statuses{down: true}
		ready := make(chan struct{})
		m := NewMonitor(MonitorConfig{Node: "ns1", Zones: []string{"z."}, Gatherer: reg, Metrics: metrics,
			Sink: sink, Ready: ready, Interval: 5 * time.Second, Poll: time.Second, HealInterval: -1,
			Started: time.Now(), Log: zerolog.Nop()}, prometheus.NewRegistry())
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.Run(ctx)
		time.Sleep(2 * time.Second)
		close(ready) // the ready status fails: the bucket is electing
		time.Sleep(1500 * time.Millisecond)
		sink.mu.Lock()
		sink.down = false
		sink.mu.Unlock()
		time.Sleep(time.Second + time.Millisecond)
		got := sink.since(0)
		if len(got) == 0 || !got[len(got)-1].Ready {
			t.Fatalf("no ready status within a poll of the bucket answering again: %+v", got)
		}
	})
}
