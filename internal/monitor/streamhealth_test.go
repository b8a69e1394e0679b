package monitor

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/status"
)

// streamSamples returns the stream health samples of reg, keyed as in the
// exposition format: name{label="value"}.
func streamSamples(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "zonecast_syncer_stream_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := f.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestStreamHealthMetrics(t *testing.T) {
	t.Parallel()
	replicas := func(cur, lag, off float64) map[string]float64 {
		return map[string]float64{
			`zonecast_syncer_stream_replicas{state="current"}`: cur,
			`zonecast_syncer_stream_replicas{state="lagging"}`: lag,
			`zonecast_syncer_stream_replicas{state="offline"}`: off,
		}
	}
	with := func(a map[string]float64, kv ...any) map[string]float64 {
		out := maps.Clone(a)
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = float64(kv[i+1].(int))
		}
		return out
	}
	steps := []struct {
		what string
		s    status.Stream
		want map[string]float64
	}{
		{"n1 leads", status.Stream{Name: "ZONECAST", Leader: "n1", Replicas: []status.Replica{
			{Name: "n2", Current: true}, {Name: "n3", Lag: 5, Active: time.Second}}},
			with(replicas(1, 1, 0), "zonecast_syncer_stream_has_leader", 1, "zonecast_syncer_stream_is_leader", 1,
				`zonecast_syncer_stream_leader{server="n1"}`, 1,
				`zonecast_syncer_stream_replica_lag_ops{replica="n2"}`, 0, `zonecast_syncer_stream_replica_lag_ops{replica="n3"}`, 5)},
		{"election", status.Stream{Name: "ZONECAST", Error: "no answer within 2s"},
			with(replicas(0, 0, 0), "zonecast_syncer_stream_has_leader", 0, "zonecast_syncer_stream_is_leader", 0)},
		{"n2 leads, n1 gone", status.Stream{Name: "ZONECAST", Leader: "n2", Replicas: []status.Replica{
			{Name: "n1", Offline: true, Lag: 9, Active: 20 * time.Second}, {Name: "n3", Current: true}}},
			with(replicas(1, 0, 1), "zonecast_syncer_stream_has_leader", 1, "zonecast_syncer_stream_is_leader", 0,
				`zonecast_syncer_stream_leader{server="n2"}`, 1,
				`zonecast_syncer_stream_replica_lag_ops{replica="n1"}`, 9, `zonecast_syncer_stream_replica_lag_ops{replica="n3"}`, 0)},
		{"n3 leads", status.Stream{Name: "ZONECAST", Leader: "n3", Replicas: []status.Replica{
			{Name: "n2", Current: true}}},
			with(replicas(1, 0, 0), "zonecast_syncer_stream_has_leader", 1, "zonecast_syncer_stream_is_leader", 0,
				`zonecast_syncer_stream_leader{server="n3"}`, 1, `zonecast_syncer_stream_replica_lag_ops{replica="n2"}`, 0)},
		{"leaderless answer", status.Stream{Name: "ZONECAST", Replicas: []status.Replica{{Name: "n1", Current: true}}},
			with(replicas(1, 0, 0), "zonecast_syncer_stream_has_leader", 0, "zonecast_syncer_stream_is_leader", 0,
				`zonecast_syncer_stream_replica_lag_ops{replica="n1"}`, 0)},
	}
	reg := prometheus.NewRegistry()
	h := NewStreamHealth(StreamHealthConfig{Self: "n1", Log: zerolog.Nop()}, reg)
	if h.Last() != nil {
		t.Fatal("a reading before the first")
	}
	if got, want := streamSamples(t, reg), with(replicas(0, 0, 0), "zonecast_syncer_stream_has_leader", 0,
		"zonecast_syncer_stream_is_leader", 0); !maps.Equal(got, want) {
		t.Fatalf("before the first reading:\n%s", diffSamples(got, want))
	}
	for _, st := range steps {
		h.observe(st.s)
		if got := streamSamples(t, reg); !maps.Equal(got, st.want) {
			t.Fatalf("%s:\n%s", st.what, diffSamples(got, st.want))
		}
		if last := h.Last(); last == nil || last.Leader != st.s.Leader || len(last.Replicas) != len(st.s.Replicas) {
			t.Fatalf("%s: last reading %+v", st.what, last)
		}
	}
}

func diffSamples(got, want map[string]float64) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if w, ok := want[k]; !ok || w != got[k] {
			out = append(out, fmt.Sprintf("  got  %s %v", k, got[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			out = append(out, fmt.Sprintf("  want %s %v", k, want[k]))
		}
	}
	return strings.Join(out, "\n")
}

// electionReader answers like a stream's leader, except while election
// is set: then it hangs until its context ends, as a request nobody
// answers.
type electionReader struct {
	mu       sync.Mutex
	leader   string
	election bool
	calls    int
}

func (r *electionReader) read(ctx context.Context) status.Stream {
	r.mu.Lock()
	r.calls++
	election, leader := r.election, r.leader
	r.mu.Unlock()
	if election {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		<-ctx.Done()
		return status.Stream{Name: "ZONECAST", Time: time.Now(), Error: "no answer within 2s"}
	}
	return status.Stream{Name: "ZONECAST", Time: time.Now(), Leader: leader,
		Replicas: []status.Replica{{Name: "n2", Current: true}, {Name: "n3", Current: true}}}
}

func (r *electionReader) set(leader string, election bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leader, r.election = leader, election
}

// TestStreamHealthInStatus: the node's status carries the last reading,
// a reading that hangs through an election delays no status, and
// /status serves the latest reading. (Fake time: testing/synctest.)
func TestStreamHealthInStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newFakeSyncer()
		r := &electionReader{leader: "n1"}
		h := NewStreamHealth(StreamHealthConfig{Read: r.read, Self: "n1", Log: zerolog.Nop()}, prometheus.NewRegistry())
		sink := &statuses{}
		m := NewPublisher(StatusConfig{Node: "n1", Zones: []string{"z."}, Progress: src, Applied: NewApplied(src, []string{"z."}, nil),
			Sink: sink, Interval: time.Second, Poll: time.Second, StreamHealth: h.Last,
			Started: time.Now(), Log: zerolog.Nop()})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() { h.Run(ctx) })
		wg.Go(func() { m.Run(ctx) })
		defer wg.Wait()
		defer cancel()

		time.Sleep(3*time.Second + time.Millisecond)
		all := sink.since(0)
		if len(all) < 3 {
			t.Fatalf("%d statuses in 3s", len(all))
		}
		if last := all[len(all)-1]; last.StreamHealth == nil || last.StreamHealth.Leader != "n1" {
			t.Fatalf("status without the reading: %+v", last.StreamHealth)
		}
		if rows := status.ClassifyStream(*all[len(all)-1].StreamHealth, status.Options{MaxBehind: time.Minute}); rows.State != status.StreamOK {
			t.Fatalf("state %s", rows.State)
		}

		// An election: every reading hangs 2s; statuses go on every second.
		r.set("", true)
		from := len(sink.since(0))
		time.Sleep(6 * time.Second)
		during := sink.since(from)
		if len(during) < 5 {
			t.Fatalf("%d statuses in 6s of election: the status loop waited for NATS", len(during))
		}
		if s := during[len(during)-1].StreamHealth; s == nil || s.Error == "" {
			t.Fatalf("status during the election: %+v", s)
		}
		r.mu.Lock()
		calls := r.calls
		r.mu.Unlock()
		if calls > 3+3+1 {
			t.Fatalf("%d readings: they pile up while one hangs", calls)
		}

		// A new leader; /status shows it before the next status is taken.
		r.set("n2", false)
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
		back, err := status.Decode(rec.Body.Bytes())
		if err != nil || back.StreamHealth == nil || back.StreamHealth.Leader != "n2" {
			t.Fatalf("/status: %+v %v", back.StreamHealth, err)
		}
		if got := sink.since(0); got[len(got)-1].StreamHealth.Leader != "n2" {
			t.Fatalf("last status names %q", got[len(got)-1].StreamHealth.Leader)
		}
	})
}
