package main

// --confirm all|any end to end: the real gateway, NATS, two real syncers
// (node ids n1 and n2) and their real PowerDNS; nsupdate and curl as
// clients, dig to see what each nameserver serves at the moment of the
// answer.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// newConfirmEnv starts NATS, two syncers with their PowerDNS, and one
// gateway per mode ("all", "any"), all sharing the syncers' NATS.
func newConfirmEnv(t *testing.T, modes ...string) (pdns []*testpdns.Server, syncers []*testenv.Syncer, gws map[string]*env) {
	t.Helper()
	nats := testenv.StartNATS(t)
	for i, backend := range []string{"gsqlite3", "lmdb"} {
		p := testpdns.Start(t, backend)
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone, zone2}, PDNS: p, NATS: nats,
			Extra: []string{"--node-id", fmt.Sprintf("n%d", i+1)}})
		pdns, syncers = append(pdns, p), append(syncers, s)
	}
	gws = map[string]*env{}
	for _, mode := range modes {
		gw := testenv.StartGateway(t, testenv.GatewayOptions{Syncer: syncers[0], Zones: []string{zone, zone2}, Dyndns: true,
			Extra: []string{"--confirm", mode, "--confirm-timeout", "2s", "--confirm-stale", "3s"}})
		gws[mode] = &env{pdns: pdns, sync: syncers[0], gw: gw}
	}
	return pdns, syncers, gws
}

// digNow asserts that p serves name A with want right now (no waiting).
func digNow(t *testing.T, p *testpdns.Server, label, name string, want ...string) {
	t.Helper()
	if got := p.Dig(t, name, "A"); !slices.Equal(got, want) {
		t.Fatalf("%s: right after the answer, dig %s A = %v, want %v", label, name, got, want)
	}
}

func TestConfirmModes(t *testing.T) {
	pdns, syncers, gws := newConfirmEnv(t, "all", "any")
	all, anyGW := gws["all"], gws["any"]
	key := all.addKey(t, "ck", "--zone", zone)

	// Both syncers live: NOERROR means both nameservers serve it.
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("a%d.%s", i, zone)
		start := time.Now()
		all.mustNsupdate(t, key, "update add "+name+" 60 A 192.0.2.1")
		took := time.Since(start)
		for j, p := range pdns {
			digNow(t, p, fmt.Sprintf("all, pdns %d", j+1), name, "192.0.2.1")
		}
		t.Logf("--confirm all: %s answered in %v", name, took)
	}
	if n := all.gw.Metric(t, `zonecast_gateway_confirm_total{result="confirmed"}`); n < 5 {
		t.Fatalf("confirmed = %v, want >= 5", n)
	}
	t.Logf("acknowledgement to confirmation: %.1f ms on average",
		1000*all.gw.Metric(t, "zonecast_gateway_confirm_seconds_sum")/all.gw.Metric(t, "zonecast_gateway_confirm_seconds_count"))
	if n := all.gw.Metric(t, "zonecast_gateway_confirm_live_syncers"); n != 2 {
		t.Fatalf("live syncers = %v, want 2", n)
	}

	// dyndns goes through the same confirmation.
	host := "home." + zone
	all.gw.Admin(t, "host", "add", host, "--ttl", "30")
	token := strings.TrimSpace(all.gw.Admin(t, "token", "issue", host))
	if got := all.curl(t, host, token, "hostname="+host+"&myip=192.0.2.50"); got != "good 192.0.2.50" {
		t.Fatalf("dyndns with --confirm all: %q", got)
	}
	for j, p := range pdns {
		digNow(t, p, fmt.Sprintf("dyndns, pdns %d", j+1), host, "192.0.2.50")
	}

	// n2 live but stalled: its PowerDNS is down, so it cannot apply.
	pdns[1].Stop(t)
	// any: answered once n1 applied.
	start := time.Now()
	anyGW.mustNsupdate(t, key, "update add any1."+zone+" 60 A 192.0.2.2")
	if took := time.Since(start); took > time.Second {
		t.Errorf("--confirm any took %v with one syncer applying", took)
	}
	digNow(t, pdns[0], "any, pdns 1", "any1."+zone, "192.0.2.2")
	// all: the timeout answers SERVFAIL; the change is stored and served
	// where it could be applied.
	start = time.Now()
	out, err := all.nsupdate(t, key, "update add stall."+zone+" 60 A 192.0.2.3")
	took := time.Since(start)
	if err == nil || !strings.Contains(out, "SERVFAIL") {
		t.Fatalf("--confirm all with a stalled syncer: err %v, output:\n%s", err, out)
	}
	if took < 2*time.Second || took > 6*time.Second {
		t.Errorf("SERVFAIL after %v, want about the 2s timeout", took)
	}
	digNow(t, pdns[0], "after the timeout, pdns 1", "stall."+zone, "192.0.2.3")
	if n := all.gw.Metric(t, `zonecast_gateway_confirm_total{result="timeout"}`); n < 1 {
		t.Fatalf("timeouts = %v, want >= 1", n)
	}

	// n2 stopped: no longer live at once (its last report says so), and
	// all answers with n1 alone.
	syncers[1].Stop(t)
	testenv.Eventually(t, 5*time.Second, "one live syncer", func() bool {
		return all.gw.Metric(t, "zonecast_gateway_confirm_live_syncers") == 1
	})
	start = time.Now()
	all.mustNsupdate(t, key, "update add alone."+zone+" 60 A 192.0.2.4")
	if took := time.Since(start); took > time.Second {
		t.Errorf("--confirm all with n2 stopped took %v", took)
	}
	digNow(t, pdns[0], "n2 stopped, pdns 1", "alone."+zone, "192.0.2.4")

	// No live syncer at all: all and any time out (SERVFAIL), the change
	// stays stored.
	syncers[0].Stop(t)
	testenv.Eventually(t, 5*time.Second, "no live syncer", func() bool {
		return all.gw.Metric(t, "zonecast_gateway_confirm_live_syncers") == 0
	})
	before := all.lastSeq(t)
	if out, err := anyGW.nsupdate(t, key, "update add nobody."+zone+" 60 A 192.0.2.5"); err == nil || !strings.Contains(out, "SERVFAIL") {
		t.Fatalf("--confirm any without syncers: err %v, output:\n%s", err, out)
	}
	if after := all.lastSeq(t); after != before+1 {
		t.Fatalf("stream %d -> %d: the change was not stored", before, after)
	}
}

// TestAppliedPrefix: a syncer with --applied-prefix publishes its applied
// reports under that prefix and not under the default one, and a gateway
// given the same prefix confirms through them (what two fleets sharing one
// NATS need to keep their reports apart).
func TestAppliedPrefix(t *testing.T) {
	const prefix = "fleet2.applied"
	nats := testenv.StartNATS(t)
	nc, err := bus.Connect(context.Background(), bus.ClientConfig{URL: nats.URL, User: "zonecast", PasswordFile: nats.PasswordFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mine, dflt atomic.Int64
	for subj, n := range map[string]*atomic.Int64{prefix + ".ZONECAST.n1": &mine, events.DefaultAppliedPrefix + ".>": &dflt} {
		if _, err := nc.Subscribe(subj, func(*natsgo.Msg) { n.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	p := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats,
		Extra: []string{"--node-id", "n1", "--applied-prefix", prefix}})
	gw := testenv.StartGateway(t, testenv.GatewayOptions{Syncer: s, Zones: []string{zone},
		Extra: []string{"--confirm", "all", "--confirm-timeout", "2s", "--applied-prefix", prefix}})
	e := &env{pdns: []*testpdns.Server{p}, sync: s, gw: gw}
	key := e.addKey(t, "pk", "--zone", zone)
	start := time.Now()
	e.mustNsupdate(t, key, "update add pfx."+zone+" 60 A 192.0.2.9")
	t.Logf("--confirm all through %s.ZONECAST.n1: answered in %v", prefix, time.Since(start))
	digNow(t, p, "right after the answer", "pfx."+zone, "192.0.2.9")
	if n := gw.Metric(t, `zonecast_gateway_confirm_total{result="confirmed"}`); n < 1 {
		t.Fatalf("confirmed = %v, want >= 1", n)
	}
	testenv.Eventually(t, 5*time.Second, "applied reports on "+prefix+".ZONECAST.n1", func() bool { return mine.Load() > 0 })
	if n := dflt.Load(); n != 0 {
		t.Fatalf("%d reports on %s.> with --applied-prefix %s", n, events.DefaultAppliedPrefix, prefix)
	}
	// The gateway listens there, and only there: reports of two more nodes
	// under the prefix make them live; one under the default prefix does not.
	for node, subj := range map[string]string{"n2": prefix + ".ZONECAST.n2", "n4": prefix + ".ZONECAST.n4", "n3": events.DefaultAppliedPrefix + ".ZONECAST.n3"} {
		now := time.Now()
		r, err := events.EncodeApplied(events.AppliedReport{Node: node, Time: now, Started: now, Ready: true, Applied: map[string]uint64{zone: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subj, r); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 5*time.Second, "three live syncers (n1, n2, n4)", func() bool {
		return gw.Metric(t, "zonecast_gateway_confirm_live_syncers") == 3
	})
	time.Sleep(300 * time.Millisecond)
	if n := gw.Metric(t, "zonecast_gateway_confirm_live_syncers"); n != 3 {
		t.Fatalf("live syncers = %v, want 3 (n3 reported under %s)", n, events.DefaultAppliedPrefix)
	}
}

// TestFleetsShareNATS: two fleets on one NATS, each with its stream (and
// record subjects), the same zone name and the default prefix of applied
// reports and status bucket. The gateway of the first counts its own
// syncer only: --confirm all does not wait for the other fleet's, which
// never applies the first stream.
func TestFleetsShareNATS(t *testing.T) {
	nats := testenv.StartNATS(t)
	nc, err := bus.Connect(context.Background(), bus.ClientConfig{URL: nats.URL, User: "zonecast", PasswordFile: nats.PasswordFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var theirs atomic.Int64
	if _, err := nc.Subscribe(events.AppliedFilter(events.DefaultAppliedPrefix, "OTHER"), func(*natsgo.Msg) { theirs.Add(1) }); err != nil {
		t.Fatal(err)
	}
	p := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats, Extra: []string{"--node-id", "n1"}})
	other := testpdns.Start(t, "gsqlite3")
	testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: other, NATS: nats,
		Extra: []string{"--node-id", "m1", "--stream", "OTHER", "--subject-prefix", "other.rr"}})
	gw := testenv.StartGateway(t, testenv.GatewayOptions{Syncer: s, Zones: []string{zone},
		Extra: []string{"--confirm", "all", "--confirm-timeout", "2s"}})
	// m1 has reported, and put its status in the shared bucket, several
	// times over by now: the gateway has seen both and counts n1 only.
	testenv.Eventually(t, 10*time.Second, "reports of the other fleet's m1", func() bool { return theirs.Load() >= 3 })
	if n := gw.Metric(t, "zonecast_gateway_confirm_live_syncers"); n != 1 {
		t.Fatalf("live syncers = %v, want 1 (n1; m1 is another fleet's)", n)
	}
	e := &env{pdns: []*testpdns.Server{p}, sync: s, gw: gw}
	key := e.addKey(t, "fk", "--zone", zone)
	start := time.Now()
	e.mustNsupdate(t, key, "update add fleet."+zone+" 60 A 192.0.2.10")
	if took := time.Since(start); took > time.Second {
		t.Errorf("--confirm all beside another fleet took %v", took)
	}
	digNow(t, p, "first fleet", "fleet."+zone, "192.0.2.10")
	if got := other.Dig(t, "fleet."+zone, "A"); len(got) != 0 {
		t.Fatalf("the other fleet's PowerDNS serves %v", got)
	}
	if n := gw.Metric(t, `zonecast_gateway_confirm_total{result="confirmed"}`); n < 1 {
		t.Fatalf("confirmed = %v, want >= 1", n)
	}
}
