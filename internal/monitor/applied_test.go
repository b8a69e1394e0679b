package monitor

import (
	"context"
	"github.com/zonecast/zonecast/internal/events"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

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

// TestApplied: a look reads readiness from the channel, and a nil
// channel means ready.
func TestApplied(t *testing.T) {
	t.Parallel()
	src := newFakeSyncer()
	src.setSeq("z.", 5)
	ready := make(chan struct{})
	a := NewApplied(src, []string{"z."}, ready)
	if l := a.Look(); l.Ready || l.Seq["z."] != 0 {
		t.Fatalf("before readiness: %+v", l)
	}
	close(ready)
	if l := a.Look(); !l.Ready || l.Seq["z."] != 5 {
		t.Fatalf("after readiness: %+v", l)
	}
	if l := NewApplied(src, []string{"z."}, nil).Look(); !l.Ready || l.Seq["z."] != 5 {
		t.Fatalf("without a ready channel: %+v", l)
	}
}

// TestConfirmReports: a report goes out as soon as readiness changes or
// an applied sequence advances (no time passes), not when a round only
// starts; one goes out every heartbeat otherwise, and a last one with
// Ready false, flushed, at stop. (Fake time: testing/synctest.)
func TestConfirmReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSyncer()
		ready := make(chan struct{})
		sink := &reports{}
		r := NewReporter(ReporterConfig{Node: "ns1", Applied: NewApplied(src, []string{"z."}, ready), Changes: src,
			Sink: sink, Subject: "zonecast.applied.ZONECAST.ns1", Heartbeat: 50 * time.Millisecond,
			Started: time.Now(), Log: zerolog.Nop()})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		expect := func(what string, cond func(events.AppliedReport) bool) {
			t.Helper()
			synctest.Wait()
			if rep, n := sink.last(); n == 0 || !cond(rep) {
				t.Fatalf("no report with %s; last %+v", what, rep)
			}
		}
		start := time.Now()

		src.setSeq("z.", 5)
		expect("not ready", func(r events.AppliedReport) bool { return !r.Ready && r.Applied["z."] == 0 && r.Node == "ns1" })
		close(ready) // PowerDNS already served sequence 5
		expect("ready at 5", func(r events.AppliedReport) bool { return r.Ready && r.Applied["z."] == 5 })
		_, n := sink.last()
		src.setSeq("z.", 6) // a round writing 6 starts
		synctest.Wait()
		if rep, n2 := sink.last(); rep.Applied["z."] != 5 || n2 != n {
			t.Fatalf("sequence counted before its serial was written: %+v (reports %d -> %d)", rep, n, n2)
		}
		src.setSerial("z.", 6) // PowerDNS took it
		expect("applied 6", func(r events.AppliedReport) bool { return r.Applied["z."] == 6 })
		if took := time.Since(start); took != 0 {
			t.Errorf("reports waited %v for a poll", took)
		}

		_, n = sink.last()
		time.Sleep(120 * time.Millisecond)
		synctest.Wait()
		if _, n2 := sink.last(); n2 != n+2 {
			t.Errorf("reports %d -> %d in 120ms of 50ms heartbeats, want 2 more", n, n2)
		}
		cancel()
		<-done
		if rep, _ := sink.last(); rep.Ready || rep.Applied["z."] != 6 {
			t.Fatalf("last report after stop: %+v", rep)
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		if sink.subj[0] != "zonecast.applied.ZONECAST.ns1" {
			t.Fatalf("subject %s", sink.subj[0])
		}
		if len(sink.flushed) != 1 || sink.flushed[0] <= 0 {
			t.Fatalf("flushes at stop: %v", sink.flushed)
		}
	})
}
