package main

// Leader elections of the record stream: publishers keep going through
// them, and how long the stream takes no message is measured.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/testenv"
)

// survivorClient connects to one node only (not the one about to go), so
// that what is measured is the stream's election, not a client's failover.
func (e *fleetEnv) survivorClient(t testing.TB, n *testenv.FleetNode) jetstream.JetStream {
	t.Helper()
	return e.clientAt(t, fmt.Sprintf("nats://127.0.0.1:%d", n.NATSPort))
}

// probe stores one message every 10 ms, each attempt on its own (no
// retry), and keeps the time of every success.
type probe struct {
	js   jetstream.JetStream
	ok   atomic.Pointer[[]time.Time]
	stop chan struct{}
	done chan struct{}
}

func startProbe(js jetstream.JetStream) *probe {
	p := &probe{js: js, stop: make(chan struct{}), done: make(chan struct{})}
	p.ok.Store(&[]time.Time{})
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			m := events.Message{Version: 1, Name: fmt.Sprintf("probe%d.%s", i%50, fleetZone), Type: "TXT",
				Origin: "probe", TTL: 60, Records: []string{fmt.Sprintf(`"%d"`, i)}}
			data, err := events.Encode(m)
			if err != nil {
				panic(err)
			}
			msg := nats.NewMsg(events.Subject(events.DefaultSubjectPrefix, m))
			msg.Data = data
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err = p.js.PublishMsg(ctx, msg, jetstream.WithRetryAttempts(0))
			cancel()
			if err == nil {
				s := append(slices.Clone(*p.ok.Load()), time.Now())
				p.ok.Store(&s)
			}
		}
	}()
	return p
}

// firstAfter is the first success after t0, or false.
func (p *probe) firstAfter(t0 time.Time) (time.Time, bool) {
	for _, t := range *p.ok.Load() {
		if t.After(t0) {
			return t, true
		}
	}
	return time.Time{}, false
}

func (p *probe) close() { close(p.stop); <-p.done }

// election stops the stream's leader (SIGKILL, or SIGTERM when graceful)
// while a probe publishes through another node, and returns how long the
// stream took no message: from the signal to the probe's first success
// after it. The node is started again, and the round returns once all
// three replicas are current.
func (e *fleetEnv) election(t testing.TB, graceful bool) (time.Duration, string) {
	t.Helper()
	l := e.leader(t)
	var other *testenv.FleetNode
	for _, n := range e.f.Nodes {
		if n != l {
			other = n
			break
		}
	}
	p := startProbe(e.survivorClient(t, other))
	defer p.close()
	testenv.Eventually(t, 10*time.Second, "the probe storing", func() bool { _, ok := p.firstAfter(time.Now().Add(-time.Second)); return ok })
	t0 := time.Now()
	if graceful {
		l.Stop(t)
	} else {
		l.Kill(t)
	}
	var back time.Time
	testenv.Eventually(t, 60*time.Second, "a message stored after the leader went", func() bool {
		var ok bool
		back, ok = p.firstAfter(t0)
		return ok
	})
	l.Launch(t)
	l.WaitReady(t, 90*time.Second)
	testenv.Eventually(t, 60*time.Second, "all replicas current", func() bool {
		info, err := e.f.StreamInfo(t)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return false
			}
		}
		return true
	})
	return back.Sub(t0), l.ID
}

// publishCLI runs `zonecast-syncer publish --json` of n messages through
// every node (failover) and returns its output and error.
func (e *fleetEnv) publishCLI(t testing.TB, n int, tag string) (string, error) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"name":"cli%d.%s","type":"A","origin":"cli","ttl":60,"records":["192.0.2.%d"]}`+"\n", i, fleetZone, i%250+1)
	}
	file := filepath.Join(t.TempDir(), tag+".jsonl")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Binary(t, "syncer"), "publish", "--json", file, "--nats-url", e.urls,
		"--nats-password-file", e.pwFile)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPublishThroughElection: the publish command, started right after
// the stream's leader is killed, stores every message of its batch, with
// its default deadline.
func TestPublishThroughElection(t *testing.T) {
	e := startFleet(t)
	l := e.leader(t)
	l.Kill(t)
	start := time.Now()
	out, err := e.publishCLI(t, 200, "election")
	if err != nil {
		t.Fatalf("publish through an election: %v\n%s", err, out)
	}
	t.Logf("200 messages published %v after the leader was killed:\n%s", time.Since(start).Round(time.Millisecond), out)
	if !strings.Contains(out, "published 200 messages") {
		t.Fatalf("output: %s", out)
	}
	l.Launch(t)
	l.WaitReady(t, 90*time.Second)
	info, err := e.f.StreamInfo(t)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs < 200 {
		t.Fatalf("stream holds %d messages, want the 200 published", info.State.Msgs)
	}
}

// BenchmarkLeaderElection measures, over ZONECAST_BENCH_ELECTIONS rounds
// (default 5) of each kind, how long the record stream of a 3-node fleet
// takes no message when its leader is killed (SIGKILL) or stopped
// (SIGTERM: the embedded server hands leadership over first). Reported:
// the median and the maximum, in milliseconds.
func BenchmarkLeaderElection(b *testing.B) {
	rounds := 5
	if v := os.Getenv("ZONECAST_BENCH_ELECTIONS"); v != "" {
		if _, err := fmt.Sscan(v, &rounds); err != nil || rounds < 1 {
			b.Fatalf("ZONECAST_BENCH_ELECTIONS=%q", v)
		}
	}
	e := startFleet(b)
	for range b.N {
		for _, graceful := range []bool{false, true} {
			kind := "kill"
			if graceful {
				kind = "term"
			}
			var gaps []time.Duration
			for i := range rounds {
				gap, id := e.election(b, graceful)
				b.Logf("%s %d: leader %s, no message stored for %v", kind, i+1, id, gap.Round(time.Millisecond))
				gaps = append(gaps, gap)
			}
			slices.Sort(gaps)
			b.ReportMetric(float64(gaps[len(gaps)/2].Milliseconds()), kind+"-median-ms")
			b.ReportMetric(float64(gaps[len(gaps)-1].Milliseconds()), kind+"-max-ms")
			b.ReportMetric(float64(gaps[0].Milliseconds()), kind+"-min-ms")
		}
	}
}
