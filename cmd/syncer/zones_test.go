package main

// End-to-end test of the fleet's zone list: real zonecast-syncer
// binaries, each with its own pdns_server, on one NATS, and real dig.

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/status"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// zonesEnv is the test's fleet: n1 with a --zone of its own and the
// list, n2 with the list alone, as a syncer user (role syncer), and n3
// with a --zone and no list (--zone-bucket "").
type zonesEnv struct {
	nats       *testenv.NATS
	rolePW     string // password file of the users ns2 (syncer) and ops (reader)
	nodes      []*testenv.Syncer
	lists      []*testenv.Syncer // the nodes that follow the list: n1, n2
	solo       *testenv.Syncer   // n3
	pub        *bus.Publisher
	apis       map[*testenv.Syncer]*pdnsapi.Client
	nextOrigin int
}

const (
	flagZone = "own.example.test."
	soloZone = "solo.example.test."
)

func newZonesEnv(t *testing.T) *zonesEnv {
	t.Helper()
	users := []bus.UserSpec{{User: "ns2", Role: bus.RoleSyncer, Node: "n2"}, {User: "ops", Role: bus.RoleReader}}
	_, rolePW := testenv.UsersFile(t, users...)
	e := &zonesEnv{nats: testenv.StartNATSUsers(t, users), rolePW: rolePW, apis: map[*testenv.Syncer]*pdnsapi.Client{}}
	start := func(id string, zones []string, extra ...string) *testenv.Syncer {
		p := testpdns.Start(t, "gsqlite3")
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: zones, PDNS: p, NATS: e.nats,
			Extra: append([]string{"--node-id", id, "--status-interval", "1s"}, extra...)})
		e.apis[s] = pdnsapi.New(p.APIURL, p.APIKey, "localhost", 10*time.Second)
		e.nodes = append(e.nodes, s)
		return s
	}
	e.lists = []*testenv.Syncer{
		start("n1", []string{flagZone}),
		start("n2", nil, "--nats-user", "ns2", "--nats-password-file", rolePW),
	}
	e.solo = start("n3", []string{soloZone}, "--zone-bucket", "")
	_, js := e.lists[0].NATS(t)
	e.pub = bus.NewPublisher(js, "ZONECAST", "zonecast.rr")
	return e
}

// natsFlags are the flags of an operator's command as user (empty: the
// unrestricted one, an admin).
func (e *zonesEnv) natsFlags(user string) []string {
	if user == "" {
		return []string{"--nats-url", e.nats.URL, "--nats-password-file", e.nats.PasswordFile}
	}
	return []string{"--nats-url", e.nats.URL, "--nats-user", user, "--nats-password-file", e.rolePW}
}

// cmd runs zonecast-syncer args as the admin and fails the test if it fails.
func (e *zonesEnv) cmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.nodes[0].Run(t, append(args, e.natsFlags("")...)...)
	if err != nil {
		t.Fatalf("zonecast-syncer %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *zonesEnv) publish(t *testing.T, name, typ string, records ...string) {
	t.Helper()
	if _, err := e.pub.Publish(context.Background(), events.Message{Version: 1, Name: name, Type: typ, Origin: "ops",
		TTL: 60, Records: records}, 0); err != nil {
		t.Fatalf("publishing %s %s: %v", name, typ, err)
	}
}

// hosts publishes n A records into zone and returns their names.
func (e *zonesEnv) hosts(t *testing.T, zone string, n int) []string {
	t.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("h%d.%s", i, zone)
		e.publish(t, name, "A", fmt.Sprintf("192.0.2.%d", i+1))
		names = append(names, name)
	}
	return names
}

// waitDig waits until dig on s answers name/typ with want (none: a status
// other than NOERROR, e.g. REFUSED for a zone PowerDNS does not have).
func waitDig(t *testing.T, s *testenv.Syncer, timeout time.Duration, name, typ string, want ...string) {
	t.Helper()
	var got []string
	testenv.Eventually(t, timeout, fmt.Sprintf("dig @%s %s %s = %v (last %v)", s.Opts.PDNS.APIURL, name, typ, want, &got), func() bool {
		got = s.Opts.PDNS.Dig(t, name, typ)
		return slices.Equal(got, want)
	})
}

// served counts the names of names dig on s answers.
func served(t *testing.T, s *testenv.Syncer, names []string) int {
	t.Helper()
	n := 0
	for _, name := range names {
		if len(s.Opts.PDNS.Dig(t, name, "A")) == 1 {
			n++
		}
	}
	return n
}

// statusRows runs zonecast-syncer status --json as the reader, and returns
// the report and its exit code.
func (e *zonesEnv) status(t *testing.T) (report, error) {
	t.Helper()
	out, err := e.nodes[0].Run(t, append([]string{"status", "--json"}, e.natsFlags("ops")...)...)
	var rep report
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("status: %v, %v\n%s", jerr, err, out)
	}
	return rep, err
}

func rowOf(rep report, node, zone string) (status.Row, bool) {
	for _, r := range rep.Rows {
		if r.Node == node && r.Zone == zone {
			return r, true
		}
	}
	return status.Row{}, false
}

// waitStatus waits until status shows each of the list's nodes in zone
// in state (absent: no row), and says whether it exits 0.
func (e *zonesEnv) waitStatus(t *testing.T, zone string, state status.State, ok bool) report {
	t.Helper()
	var rep report
	last := []string{""}
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("status: %s %s on n1 and n2, exit 0 %v (last: %v)", zone, state, ok, &last), func() bool {
		var err error
		rep, err = e.status(t)
		last[0] = fmt.Sprintf("%v %+v", err, rep.Rows)
		if (err == nil) != ok {
			return false
		}
		for _, n := range []string{"n1", "n2"} {
			r, found := rowOf(rep, n, zone)
			if state == "" && found || state != "" && (!found || r.State != state) {
				return false
			}
		}
		return true
	})
	return rep
}

// TestZoneList: a zone added to the list appears on every node that
// follows it, with the list's SOA and NS, serves what is published into
// it and shows in status; a zone removed goes, at once when small,
// through the delete limit and approve when big, and not at all when it
// is added again before the approval. A syncer with --zone flags and no
// list works as before, and never sees the list's zones.
func TestZoneList(t *testing.T) {
	e := newZonesEnv(t)
	const c1, c2, c3 = "c1.example.test.", "c2.example.test.", "c3.example.test."
	for _, s := range e.nodes {
		if ok, body := s.Readyz(); !ok {
			t.Fatalf("not ready: %s", body)
		}
	}

	// zone add: every node of the list creates the zone with its SOA and
	// NS, and serves what is published into it.
	out := e.cmd(t, "zone", "add", "c1.example.test", "--ns", "ns1.example.net", "--ns", "ns2.example.net", "--ttl", "300",
		"--soa-rname", "dns.example.net", "--soa-minimum", "30")
	if !strings.Contains(out, c1) {
		t.Fatalf("zone add printed %q", out)
	}
	e.publish(t, "www."+c1, "A", "192.0.2.80")
	for _, s := range e.lists {
		waitDig(t, s, 30*time.Second, "www."+c1, "A", "192.0.2.80")
		waitDig(t, s, 5*time.Second, c1, "NS", "ns1.example.net.", "ns2.example.net.")
		soa := s.Opts.PDNS.Dig(t, c1, "SOA")
		if len(soa) != 1 || !strings.HasPrefix(soa[0], "ns1.example.net. dns.example.net. ") || !strings.HasSuffix(soa[0], " 10800 3600 604800 30") {
			t.Fatalf("SOA of %s: %q", c1, soa)
		}
		sets, _, err := e.apis[s].Zone(context.Background(), c1)
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range sets {
			if set.Name == c1 && (set.Type == "NS" && set.TTL != 300 || set.Type == "SOA" && set.TTL != 3600) {
				t.Errorf("%s %s TTL %d", set.Name, set.Type, set.TTL)
			}
		}
	}
	// The zones of the flags go on as before, with the list's; the node
	// without a list never sees its zones.
	e.publish(t, "www."+flagZone, "A", "192.0.2.81")
	e.publish(t, "www."+soloZone, "A", "192.0.2.82")
	waitDig(t, e.lists[0], 10*time.Second, "www."+flagZone, "A", "192.0.2.81")
	waitDig(t, e.solo, 10*time.Second, "www."+soloZone, "A", "192.0.2.82")
	if st := e.solo.Opts.PDNS.DigStatus(t, c1, "SOA"); st != "REFUSED" {
		t.Errorf("the node without a list serves %s: %s", c1, st)
	}
	if st := e.lists[1].Opts.PDNS.DigStatus(t, flagZone, "SOA"); st != "REFUSED" {
		t.Errorf("n2 serves n1's own zone %s: %s", flagZone, st)
	}
	rep := e.waitStatus(t, c1, status.CaughtUp, true)
	if zl := rep.ZoneList; zl == nil || !slices.Equal(zl.Zones, []string{c1}) || len(zl.Removed) != 0 {
		t.Fatalf("status's zone list: %+v", rep.ZoneList)
	}
	if r, ok := rowOf(rep, "n3", soloZone); !ok || r.State != status.CaughtUp {
		t.Errorf("n3: %+v", rep.Rows)
	}
	if _, ok := rowOf(rep, "n3", c1); ok {
		t.Errorf("n3, which follows no list, has a row for %s", c1)
	}
	for _, s := range e.lists {
		if n := s.Metric(t, "zonecast_syncer_core_restarts_total"); n != 1 {
			t.Errorf("%d restarts of the core for one zone added", int(n))
		}
	}

	// A small zone removed: below the delete limit's minimum, its RRsets
	// and then the zone go at once, on every node of the list.
	e.cmd(t, "zone", "remove", "c1.example.test")
	for _, s := range e.lists {
		testenv.Eventually(t, 30*time.Second, "c1 deleted from PowerDNS", func() bool {
			return s.Opts.PDNS.DigStatus(t, c1, "SOA") == "REFUSED"
		})
	}
	rep = e.waitStatus(t, c1, "", true)
	if zl := rep.ZoneList; zl == nil || len(zl.Zones) != 0 || !slices.Equal(zl.Removed, []string{c1}) {
		t.Fatalf("status's zone list: %+v", rep.ZoneList)
	}

	// A big zone removed: held on every node until approve.
	e.cmd(t, "zone", "add", "c2.example.test")
	names := e.hosts(t, c2, 60)
	for _, s := range e.lists {
		testenv.Eventually(t, 30*time.Second, "c2's records served", func() bool { return served(t, s, names) == len(names) })
	}
	e.cmd(t, "zone", "remove", "c2.example.test")
	rep = e.waitStatus(t, c2, status.Held, false)
	for _, n := range []string{"n1", "n2"} {
		if r, _ := rowOf(rep, n, c2); r.Held != 60 {
			t.Errorf("%s holds %d deletions in %s, want 60", n, r.Held, c2)
		}
	}
	for _, s := range e.lists {
		if got := served(t, s, names); got != len(names) {
			t.Fatalf("%d of %d records served while the deletion is held", got, len(names))
		}
		if ok, body := s.Readyz(); ok || !strings.Contains(body, "60 deletions held in "+c2) {
			t.Errorf("readyz while holding: %v %s", ok, body)
		}
	}
	out = e.cmd(t, "approve", "--zone", c2)
	for _, n := range []string{"n1", "n2"} {
		if !regexp.MustCompile(`(?m)^` + n + ` +` + regexp.QuoteMeta(c2) + ` +60 +-$`).MatchString(out) {
			t.Errorf("approve printed no line for %s:\n%s", n, out)
		}
	}
	for _, s := range e.lists {
		testenv.Eventually(t, 30*time.Second, "c2 deleted from PowerDNS", func() bool {
			return s.Opts.PDNS.DigStatus(t, c2, "SOA") == "REFUSED"
		})
	}
	e.waitStatus(t, c2, "", true)

	// A big zone removed, then added again before the approval: the hold
	// lifts by itself, nothing was deleted.
	e.cmd(t, "zone", "add", "c3.example.test")
	names = e.hosts(t, c3, 60)
	for _, s := range e.lists {
		testenv.Eventually(t, 30*time.Second, "c3's records served", func() bool { return served(t, s, names) == len(names) })
	}
	e.cmd(t, "zone", "remove", "c3.example.test")
	e.waitStatus(t, c3, status.Held, false)
	e.cmd(t, "zone", "add", "c3.example.test")
	e.waitStatus(t, c3, status.CaughtUp, true)
	for _, s := range e.lists {
		if got := served(t, s, names); got != len(names) {
			t.Fatalf("%d of %d records served after the zone came back", got, len(names))
		}
		if n := s.Metric(t, `zonecast_syncer_rrsets_applied_total{zone="`+c3+`"}`); n != 0 {
			t.Errorf("%v RRsets written to %s since it came back, want none", n, c3)
		}
	}
	// plan, with n2's flags, reads the list too.
	var planArgs []string
	for _, a := range e.lists[1].Flags(t) {
		if a != "--log-level" && a != "debug" {
			planArgs = append(planArgs, a)
		}
	}
	plan, err := e.lists[1].Run(t, append([]string{"plan"}, planArgs...)...)
	if err != nil || !strings.Contains(plan, "zone "+c3+": 0 to create, 0 to change, 0 to delete, 0 deletions held") {
		t.Errorf("plan of n2: %v\n%s", err, plan)
	}
	// Several zones in one command: each node restarts its core once for
	// them all, and serves every one.
	before := map[*testenv.Syncer]float64{}
	for _, s := range e.lists {
		before[s] = s.Metric(t, "zonecast_syncer_core_restarts_total")
	}
	batch := []string{"d1.example.test.", "d2.example.test.", "d3.example.test."}
	out = e.cmd(t, "zone", "add", "d1.example.test", "d2.example.test", "d3.example.test")
	for _, z := range batch {
		if !strings.Contains(out, z) {
			t.Fatalf("zone add of three zones printed %q", out)
		}
	}
	for _, s := range e.lists {
		for _, z := range batch {
			testenv.Eventually(t, 30*time.Second, z+" served", func() bool { return s.Opts.PDNS.DigStatus(t, z, "SOA") == "NOERROR" })
		}
		if n := s.Metric(t, "zonecast_syncer_core_restarts_total"); n != before[s]+1 {
			t.Errorf("%v restarts of the core for three zones added in one command, want 1", n-before[s])
		}
	}
	// Through it all, the node without a list kept its zone.
	e.publish(t, "www."+soloZone, "A", "192.0.2.83")
	waitDig(t, e.solo, 10*time.Second, "www."+soloZone, "A", "192.0.2.83")
	if n := e.solo.Metric(t, "zonecast_syncer_core_restarts_total"); n != 0 {
		t.Errorf("the node without a list restarted its core %v times", n)
	}
}
