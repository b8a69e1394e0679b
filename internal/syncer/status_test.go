package syncer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
