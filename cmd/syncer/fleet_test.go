package main

// Fault tests of a fleet: three syncers whose embedded nats-servers form
// one JetStream cluster on loopback, three real PowerDNS, stream replicas 3.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
)

const fleetZone = "fleet.example.test."

// fleetEnv is a started fleet with a shared client password, so that one
// client can fail over between the nodes.
type fleetEnv struct {
	f      *testenv.Fleet
	pwFile string
	urls   string
}

func startFleet(t testing.TB, extra ...string) *fleetEnv {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "client-password")
	if _, err := bus.EnsurePassword(pwFile); err != nil {
		t.Fatal(err)
	}
	extra = append([]string{"--nats-password-file", pwFile, "--heal-interval", "2s", "--status-interval", "1s"}, extra...)
	f := testenv.StartFleet(t, testenv.FleetOptions{Zones: []string{fleetZone}, Extra: extra})
	var urls []string
	for _, n := range f.Nodes {
		n.PasswordFile = pwFile
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.NATSPort))
	}
	return &fleetEnv{f: f, pwFile: pwFile, urls: strings.Join(urls, ",")}
}

// client connects to the fleet with failover between all nodes.
func (e *fleetEnv) client(t testing.TB) jetstream.JetStream {
	t.Helper()
	return e.clientAt(t, e.urls)
}

// clientAt is client connected to urls only.
func (e *fleetEnv) clientAt(t testing.TB, urls string) jetstream.JetStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := bus.Connect(ctx, bus.ClientConfig{URL: urls, User: "zonecast", PasswordFile: e.pwFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// lastSeq is the stream's last sequence, asked through any live node.
func (e *fleetEnv) lastSeq(t testing.TB) uint64 {
	t.Helper()
	var info *jetstream.StreamInfo
	testenv.Eventually(t, 30*time.Second, "stream info", func() bool {
		var err error
		info, err = e.f.StreamInfo(t)
		return err == nil
	})
	return info.State.LastSeq
}

// dump is a node's zone as PowerDNS serves it, normalised (sorted sets
// and records, as pdnsapi.Zone returns them).
func dump(t *testing.T, n *testenv.FleetNode) (map[rrset.Key]rrset.Set, error) {
	api := pdnsapi.New(n.Opts.PDNS.APIURL, n.Opts.PDNS.APIKey, "localhost", 10*time.Second)
	sets, found, err := api.Zone(context.Background(), fleetZone)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, errors.New("zone missing")
	}
	out := map[rrset.Key]rrset.Set{}
	for _, s := range sets {
		out[s.Key] = s
	}
	return out, nil
}

// waitConverged waits until every node serves SOA serial = the stream's
// last sequence and identical zone dumps; it returns the dump.
func (e *fleetEnv) waitConverged(t *testing.T, timeout time.Duration) map[rrset.Key]rrset.Set {
	t.Helper()
	last := e.lastSeq(t)
	wantSOA := fmt.Sprint(uint32(last))
	var first map[rrset.Key]rrset.Set
	var why string
	deadline := time.Now().Add(timeout)
	for {
		why = ""
		first = nil
		for _, n := range e.f.Nodes {
			d, err := dump(t, n)
			if err != nil {
				why = fmt.Sprintf("%s: %v", n.ID, err)
				break
			}
			soa := d[rrset.Key{Name: fleetZone, Type: "SOA"}]
			if len(soa.Records) != 1 || strings.Fields(soa.Records[0])[2] != wantSOA {
				why = fmt.Sprintf("%s: SOA %v, want serial %s", n.ID, soa.Records, wantSOA)
				break
			}
			if dig := n.Opts.PDNS.Dig(t, fleetZone, "SOA"); len(dig) != 1 || strings.Fields(dig[0])[2] != wantSOA {
				why = fmt.Sprintf("%s: dig SOA %v, want serial %s", n.ID, dig, wantSOA)
				break
			}
			if first == nil {
				first = d
				continue
			}
			if diff := diffDumps(first, d); diff != "" {
				why = fmt.Sprintf("%s differs from %s: %s", n.ID, e.f.Nodes[0].ID, diff)
				break
			}
		}
		if why == "" {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet not converged after %s: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func diffDumps(a, b map[rrset.Key]rrset.Set) string {
	var out []string
	for k, sa := range a {
		if sb, ok := b[k]; !ok {
			out = append(out, "missing "+k.String())
		} else if !sa.Equal(sb) {
			out = append(out, fmt.Sprintf("%s: %v != %v", k, sa.Records, sb.Records))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "extra "+k.String())
		}
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("... %d more", len(out)-5))
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// burstMsg is change i of a burst over n names: every name is written
// twice, the second value wins.
func burstMsg(i, names int) events.Message {
	h := i % names
	return events.Message{Version: 1, Name: fmt.Sprintf("h%05d.%s", h, fleetZone), Type: "A", Origin: "burst",
		TTL: 60, Records: []string{fmt.Sprintf("10.%d.%d.%d", i/names, h/256, h%256)}}
}

// publishBurst publishes changes [0, total) in chunks, at most one chunk
// per pace, retrying a chunk until every message of it is acknowledged.
func publishBurst(ctx context.Context, t *testing.T, js jetstream.JetStream, total, names, chunk int,
	pace time.Duration, done *atomic.Int64) error {
	pub := bus.NewPublisher(js, "ZONECAST", "zonecast.rr")
	for start := 0; start < total; start += chunk {
		tick := time.Now()
		for attempt := 1; ; attempt++ {
			for i := start; i < min(start+chunk, total); i++ {
				if err := pub.PublishAsync(ctx, burstMsg(i, names), 0); err != nil && ctx.Err() != nil {
					return err
				}
			}
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := pub.Flush(fctx)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt%5 == 0 {
				t.Logf("chunk %d: attempt %d failed: %v", start, attempt, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		done.Store(int64(min(start+chunk, total)))
		if d := pace - time.Since(tick); d > 0 {
			time.Sleep(d)
		}
	}
	return nil
}

func killPDNS(t *testing.T, n *testenv.FleetNode) {
	t.Helper()
	p := n.Opts.PDNS
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatalf("killing pdns_server of %s: %v", n.ID, err)
	}
	p.Stop(t) // reaps it
}

// leader returns the node leading the record stream, and one that is
// neither the leader nor in avoid.
func (e *fleetEnv) leader(t testing.TB) *testenv.FleetNode {
	t.Helper()
	var l *testenv.FleetNode
	testenv.Eventually(t, 30*time.Second, "a stream leader", func() bool {
		info, err := e.f.StreamInfo(t)
		if err != nil || info.Cluster == nil {
			return false
		}
		l = e.f.Node(info.Cluster.Leader)
		return l != nil
	})
	return l
}

// TestFleetFaults runs a burst of 10,000 changes through a 3-node fleet and
// kills -9, one after the other, a syncer (and with it its NATS server), a
// PowerDNS, a NATS server that does not lead the stream, and the stream
// leader. All nodes end with identical data and serials, nothing lost.
// Then one PowerDNS is wiped and its node heals by itself.
func TestFleetFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet fault test")
	}
	t0 := time.Now()
	e := startFleet(t)
	t.Logf("fleet of 3 ready in %s", time.Since(t0).Round(time.Millisecond))
	info, err := e.f.StreamInfo(t)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 {
		t.Fatalf("stream replicas = %d, want 3 (default with 3 nodes)", info.Config.Replicas)
	}

	const total, names = 10000, 5000
	js := e.client(t)
	// Every status the nodes publish during the run, checked at its end
	// against what their PowerDNS served.
	sampler := sampleStatuses(t, e.client(t), e.f.Nodes)
	type relaunch struct {
		n                 *testenv.FleetNode
		launched, readyAt time.Time
	}
	var relaunches []relaunch
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var done atomic.Int64
	var wg sync.WaitGroup
	var burstErr error
	var burstEnd time.Time
	burstStart := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		burstErr = publishBurst(ctx, t, js, total, names, 250, 500*time.Millisecond, &done)
		burstEnd = time.Now()
	}()
	waitDone := func(n int64) {
		testenv.Eventually(t, 2*time.Minute, fmt.Sprintf("%d changes published", n), func() bool { return done.Load() >= n })
	}
	restart := func(n *testenv.FleetNode) {
		time.Sleep(500 * time.Millisecond)
		launched := time.Now()
		n.Launch(t)
		n.WaitReady(t, 90*time.Second)
		relaunches = append(relaunches, relaunch{n, launched, time.Now()})
	}

	// 1. a syncer (not the leader): its embedded NATS dies with it.
	waitDone(1000)
	l := e.leader(t)
	victim := e.f.Nodes[0]
	if victim == l {
		victim = e.f.Nodes[1]
	}
	t.Logf("%s: kill -9 syncer %s (leader %s) at %d changes", time.Since(burstStart).Round(time.Millisecond), victim.ID, l.ID, done.Load())
	victim.Kill(t)
	time.Sleep(500 * time.Millisecond)
	victimLaunched := time.Now()
	victim.Launch(t) // readiness awaited after the next fault

	// 2. a PowerDNS.
	waitDone(2000)
	pv := e.f.Nodes[2]
	t.Logf("%s: kill -9 pdns_server of %s at %d changes", time.Since(burstStart).Round(time.Millisecond), pv.ID, done.Load())
	killPDNS(t, pv)
	time.Sleep(time.Second)
	pv.Opts.PDNS.Start(t)
	victim.WaitReady(t, 90*time.Second)
	relaunches = append(relaunches, relaunch{victim, victimLaunched, time.Now()})

	// 3. a NATS server that does not lead the stream (another node).
	waitDone(3500)
	l = e.leader(t)
	var other *testenv.FleetNode
	for _, n := range e.f.Nodes {
		if n != l && n != victim {
			other = n
		}
	}
	if other == nil {
		other = victim
	}
	t.Logf("%s: kill -9 non-leader %s (leader %s) at %d changes", time.Since(burstStart).Round(time.Millisecond), other.ID, l.ID, done.Load())
	other.Kill(t)
	restart(other)

	// 4. the stream leader.
	waitDone(6000)
	l = e.leader(t)
	t.Logf("%s: kill -9 stream leader %s at %d changes", time.Since(burstStart).Round(time.Millisecond), l.ID, done.Load())
	l.Kill(t)
	restart(l)

	wg.Wait()
	if burstErr != nil {
		t.Fatalf("burst: %v", burstErr)
	}
	t.Logf("burst of %d changes published in %s (paced at 500/s)", total, burstEnd.Sub(burstStart).Round(time.Millisecond))
	last := e.lastSeq(t)
	served := make([]time.Time, len(e.f.Nodes))
	servedErr := make([]error, len(e.f.Nodes))
	var serving sync.WaitGroup
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer scancel()
	for i, n := range e.f.Nodes {
		serving.Add(1)
		go func() {
			defer serving.Done()
			served[i], servedErr[i] = servesSerial(sctx, n, fleetZone, uint32(last))
		}()
	}
	d := e.waitConverged(t, 2*time.Minute)
	serving.Wait()
	t.Logf("converged %s after the end of the burst", time.Since(burstEnd).Round(time.Millisecond))
	for h := 0; h < names; h++ {
		want := burstMsg(total-names+h, names)
		got := d[rrset.Key{Name: want.Name, Type: "A"}]
		if !slices.Equal(got.Records, want.Records) {
			t.Fatalf("%s A = %v, want %v: a change was lost", want.Name, got.Records, want.Records)
		}
	}
	if len(d) != names+2 {
		t.Errorf("zone has %d rrsets, want %d (names + SOA + NS)", len(d), names+2)
	}

	// The status command sees every node caught up.
	e.checkStatus(t, true)

	// Statuses told the truth: no sample claimed a serial PowerDNS did not
	// serve, each node said caught-up within 2 s of its PowerDNS serving
	// the last serial, and ready within 2 s of /readyz after a restart.
	for i, n := range e.f.Nodes {
		if servedErr[i] != nil {
			t.Fatal(servedErr[i])
		}
		var at time.Time
		testenv.Eventually(t, 10*time.Second, n.ID+"'s status caught up at the last sequence", func() bool {
			var ok bool
			at, ok = firstCaughtUp(sampler.all(), n.ID, fleetZone, last)
			return ok
		})
		from := sampler.writableAfter(served[i])
		lag := at.Sub(from)
		t.Logf("%s: status caught up at seq %d %v after its PowerDNS served serial %d (the status bucket led %v after that)",
			n.ID, last, lag.Round(time.Millisecond), uint32(last), from.Sub(served[i]).Round(time.Millisecond))
		if lag > 2*time.Second {
			t.Errorf("%s: status caught up %v after PowerDNS served the last serial, want <= 2s", n.ID, lag)
		}
	}
	for _, r := range relaunches {
		// The last restart may have been ready a moment ago: its status
		// is due within a poll of the bucket having a leader again.
		var sm statusSample
		var ok bool
		deadline := time.Now().Add(15 * time.Second)
		for {
			if sm, ok = firstReady(sampler.all(), r.n.ID, r.launched); ok || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		at := sm.seen
		if !ok {
			t.Errorf("%s: no status said ready after its restart (readyz answered %v after launch)", r.n.ID,
				r.readyAt.Sub(r.launched).Round(time.Millisecond))
			continue
		}
		from := sampler.writableAfter(r.readyAt)
		lag := at.Sub(from)
		t.Logf("%s: status ready %v after /readyz answered 200 (restart; the status bucket led %v after that; the status taken %v after /readyz)",
			r.n.ID, lag.Round(time.Millisecond), from.Sub(r.readyAt).Round(time.Millisecond), sm.node.Time.Sub(r.readyAt).Round(time.Millisecond))
		if lag > 2*time.Second {
			t.Errorf("%s: status said ready %v after /readyz did, want <= 2s", r.n.ID, lag)
		}
	}
	sampler.close()
	samples := sampler.all()
	if bad := falseMismatches(samples); len(bad) > 0 {
		t.Errorf("%d of %d status samples paired an applied sequence with a serial PowerDNS no longer served, e.g. %s",
			len(bad), len(samples), strings.Join(bad[:min(len(bad), 5)], "; "))
	}
	t.Logf("%d status samples checked", len(samples))

	// Wipe one PowerDNS: its node notices and converges by itself.
	w := e.f.Nodes[1]
	wipeStart := time.Now()
	w.Opts.PDNS.Wipe(t)
	e.waitConverged(t, time.Minute)
	t.Logf("wiped PowerDNS of %s converged by itself in %s", w.ID, time.Since(wipeStart).Round(time.Millisecond))
	t.Logf("whole fault test: %s", time.Since(t0).Round(time.Millisecond))
}

// checkStatus runs `zonecast-syncer status --json` and checks that every
// node is caught up (wantOK) and the exit code.
func (e *fleetEnv) checkStatus(t *testing.T, wantOK bool) {
	t.Helper()
	var rep report
	testenv.Eventually(t, 20*time.Second, "status: all nodes caught up", func() bool {
		cmd := exec.Command(testenv.Binary(t, "syncer"), "status", "--json", "--nats-url", e.urls,
			"--nats-password-file", e.pwFile, "--max-behind", "30s")
		cmd.Env = os.Environ()
		out, err := cmd.Output()
		rep = report{}
		if jerr := json.Unmarshal(out, &rep); jerr != nil {
			t.Logf("status output: %v %s", err, out)
			return false
		}
		if (err == nil) != wantOK || len(rep.Nodes) != len(e.f.Nodes) {
			return false
		}
		for _, r := range rep.Rows {
			if r.State != "caught-up" {
				return false
			}
		}
		return true
	})
	var b strings.Builder
	for _, r := range rep.Rows {
		fmt.Fprintf(&b, "\n  %s %s %s applied=%d stream=%d serial=%s", r.Node, r.Zone, r.State, r.AppliedSeq, r.StreamSeq, r.Serial)
	}
	t.Logf("status:%s", b.String())
}
