package main

// End-to-end tests of the pipeline: the real zonecast-syncer binary with its
// embedded nats-server, a real pdns_server (gsqlite3 and lmdb) and real dig.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

const zone = "lxd.example.test."

var backends = []string{"gsqlite3", "lmdb"}

// env is one pipeline: PowerDNS, the syncer, a publisher and an API client.
type env struct {
	pdns *testpdns.Server
	sync *testenv.Syncer
	pub  *bus.Publisher
	api  *pdnsapi.Client
	nc   *nats.Conn
}

// newEnv starts PowerDNS and a syncer; with external set, NATS runs apart
// from the syncer (joined with --nats-url), so the syncer can be killed
// while publishing goes on.
func newEnv(t *testing.T, backend string, external bool) *env {
	t.Helper()
	p := testpdns.Start(t, backend)
	opts := testenv.SyncerOptions{Zones: []string{zone}, PDNS: p}
	if external {
		opts.NATS = testenv.StartNATS(t)
	}
	s := testenv.StartSyncer(t, opts)
	nc, js := s.NATS(t)
	return &env{pdns: p, sync: s, pub: bus.NewPublisher(js, "ZONECAST", "zonecast.rr"), nc: nc,
		api: pdnsapi.New(p.APIURL, p.APIKey, "localhost", 10*time.Second)}
}

func forBackends(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

func (e *env) publish(t *testing.T, name, typ, origin string, ttl uint32, records ...string) uint64 {
	t.Helper()
	seq, err := e.pub.Publish(context.Background(), events.Message{Version: 1, Name: name, Type: typ,
		Origin: origin, TTL: ttl, Records: records}, 0)
	if err != nil {
		t.Fatalf("publishing %s %s: %v", name, typ, err)
	}
	return seq
}

// waitDig waits until dig answers name/typ with exactly want (sorted).
func (e *env) waitDig(t *testing.T, name, typ string, want ...string) {
	t.Helper()
	slices.Sort(want)
	var got []string
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("dig %s %s = %v (last %v)", name, typ, want, &got), func() bool {
		got = e.pdns.Dig(t, name, typ)
		return slices.Equal(got, want)
	})
}

// waitCaughtUp waits until the zone's SOA serial shows the stream's last
// message applied: the syncer's "caught up" signal.
func (e *env) waitCaughtUp(t *testing.T) {
	t.Helper()
	last, err := e.sync.StreamLastSeq(t)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("SOA serial %d", last), func() bool {
		soa := e.pdns.Dig(t, zone, "SOA")
		return len(soa) == 1 && strings.Fields(soa[0])[2] == fmt.Sprint(uint32(last))
	})
}

func (e *env) waitStatus(t *testing.T, name, typ, want string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("dig %s %s status %s", name, typ, want), func() bool {
		return e.pdns.DigStatus(t, name, typ) == want
	})
}

func (e *env) zoneSets(t *testing.T) map[rrset.Key]rrset.Set {
	t.Helper()
	sets, _, err := e.api.Zone(context.Background(), zone)
	if err != nil {
		t.Fatal(err)
	}
	out := map[rrset.Key]rrset.Set{}
	for _, s := range sets {
		out[s.Key] = s
	}
	return out
}

func TestPublishDigTombstone(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, false)
		seq := e.publish(t, "web."+zone, "AAAA", "node1", 60, "2001:DB8:0:0::0010")
		e.publish(t, "web."+zone, "A", "node1", 60, "192.0.2.10")
		e.waitDig(t, "web."+zone, "AAAA", "2001:db8::10")
		e.waitDig(t, "web."+zone, "A", "192.0.2.10")

		e.publish(t, "web."+zone, "AAAA", "node1", 0)
		last := e.publish(t, "web."+zone, "A", "node1", 0)
		e.waitStatus(t, "web."+zone, "A", "NXDOMAIN")
		if last <= seq {
			t.Fatalf("sequence did not advance: %d <= %d", last, seq)
		}
		// The SOA serial is the stream sequence of the zone's last message.
		testenv.Eventually(t, 5*time.Second, "SOA serial = last sequence", func() bool {
			soa := e.pdns.Dig(t, zone, "SOA")
			return len(soa) == 1 && strings.Fields(soa[0])[2] == fmt.Sprint(last)
		})
	})
}

// TestLeaseEnds: a record published with a lease disappears when the lease
// runs out while a permanent one stays; the syncer records the end as a
// tombstone in the stream (the stream leaves no marker), and the zone's SOA
// serial moves to that tombstone's sequence. A renewed lease is kept.
func TestLeaseEnds(t *testing.T) {
	e := newEnv(t, "gsqlite3", false)
	ctx := context.Background()
	rec := func(name, addr string) events.Message {
		return events.Message{Version: 1, Name: name + "." + zone, Type: "A", Origin: "dhcp", TTL: 60, Records: []string{addr}}
	}
	e.publish(t, "keep."+zone, "A", "dhcp", 60, "192.0.2.1")
	short, renewed := rec("short", "192.0.2.2"), rec("renewed", "192.0.2.3")
	seq, err := e.pub.Publish(ctx, short, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pub.Publish(ctx, renewed, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	e.waitDig(t, "short."+zone, "A", "192.0.2.2")
	if _, err := e.pub.Publish(ctx, renewed, time.Hour); err != nil { // renewed before it ends
		t.Fatal(err)
	}
	e.waitStatus(t, "short."+zone, "A", "NXDOMAIN")
	_, js := e.sync.NATS(t)
	st, err := js.Stream(ctx, "ZONECAST")
	if err != nil {
		t.Fatal(err)
	}
	var last bus.Last
	testenv.Eventually(t, 20*time.Second, "the lease's tombstone in the stream", func() bool {
		last, err = bus.LastOf(ctx, st, events.Subject(events.DefaultSubjectPrefix, short))
		return err == nil && last.Found && last.Seq > seq
	})
	if m, err := events.DecodeWithSubject(events.DefaultSubjectPrefix, events.Subject(events.DefaultSubjectPrefix, short), last.Data); err != nil || !m.Tombstone() {
		t.Fatalf("the subject holds %q (%v), want a tombstone", last.Data, err)
	}
	e.waitCaughtUp(t)
	e.waitDig(t, "renewed."+zone, "A", "192.0.2.3")
	e.waitDig(t, "keep."+zone, "A", "192.0.2.1")
	if n := e.sync.Metric(t, `zonecast_syncer_lease_reaps_total{result="stored"}`); n != 1 {
		t.Errorf("%v tombstones stored for ended leases, want 1", n)
	}
}

func TestTwoOriginsUnionAndMove(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, false)
		name := "moving." + zone
		e.publish(t, name, "AAAA", "node-a", 300, "2001:db8::a")
		e.publish(t, name, "AAAA", "node-b", 60, "2001:db8::b")
		e.waitDig(t, name, "AAAA", "2001:db8::a", "2001:db8::b")
		if ttl := e.zoneSets(t)[rrset.Key{Name: name, Type: "AAAA"}].TTL; ttl != 60 {
			t.Fatalf("merged TTL %d, want the minimum 60", ttl)
		}
		// Move b -> a with the removal first, then a -> b with the addition first.
		e.publish(t, name, "AAAA", "node-b", 0)
		e.waitDig(t, name, "AAAA", "2001:db8::a")
		e.publish(t, name, "AAAA", "node-b", 60, "2001:db8::b")
		e.publish(t, name, "AAAA", "node-a", 0)
		e.waitDig(t, name, "AAAA", "2001:db8::b")
	})
}

// TestRestartMidStream kills the syncer during a burst; after a restart
// every record is there, and only what was missing is written.
func TestRestartMidStream(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, true)
		const n = 3000
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := 0; i < n; i++ {
			m := events.Message{Version: 1, Name: fmt.Sprintf("h%04d.%s", i, zone), Type: "AAAA", Origin: "node1",
				TTL: 60, Records: []string{fmt.Sprintf("2001:db8::%x", i+1)}}
			if err := e.pub.PublishAsync(ctx, m, 0); err != nil {
				t.Fatal(err)
			}
			if i == n/3 {
				e.sync.Kill(t)
			}
		}
		if _, err := e.pub.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		present := 0
		for k := range e.zoneSets(t) {
			if k.Type == "AAAA" {
				present++
			}
		}
		if present >= n {
			t.Fatalf("the kill came too late to test anything (%d present)", present)
		}
		e.sync.Start(t)
		testenv.Eventually(t, 30*time.Second, "all records after restart", func() bool {
			c := 0
			for k := range e.zoneSets(t) {
				if k.Type == "AAAA" {
					c++
				}
			}
			return c == n
		})
		applied := e.sync.Metric(t, `zonecast_syncer_rrsets_applied_total{zone="`+zone+`"}`)
		if int(applied) != n-present {
			t.Fatalf("restart wrote %v rrsets, want exactly the %d missing ones", applied, n-present)
		}
		e.waitDig(t, fmt.Sprintf("h%04d.%s", n-1, zone), "AAAA", fmt.Sprintf("2001:db8::%x", n))

		// A clean restart of a converged node writes nothing.
		e.sync.Stop(t)
		e.sync.Start(t)
		if applied := e.sync.Metric(t, `zonecast_syncer_rrsets_applied_total{zone="`+zone+`"}`); applied != 0 {
			t.Fatalf("a converged restart rewrote %v rrsets", applied)
		}
	})
}

// TestPowerDNSDown stops PowerDNS while records are published; once it is
// back, the syncer converges without losing any.
func TestPowerDNSDown(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, false)
		e.publish(t, "before."+zone, "A", "node1", 60, "192.0.2.1")
		e.waitDig(t, "before."+zone, "A", "192.0.2.1")
		e.pdns.Stop(t)
		for i := 0; i < 100; i++ {
			e.publish(t, fmt.Sprintf("down%d.%s", i, zone), "A", "node1", 60, fmt.Sprintf("192.0.2.%d", i+10))
		}
		e.publish(t, "before."+zone, "A", "node1", 0)
		time.Sleep(1500 * time.Millisecond) // several failed attempts with backoff
		e.pdns.Start(t)
		e.waitDig(t, "down99."+zone, "A", "192.0.2.109")
		e.waitStatus(t, "before."+zone, "A", "NXDOMAIN")
		for i := 0; i < 100; i++ {
			if got := e.pdns.Dig(t, fmt.Sprintf("down%d.%s", i, zone), "A"); len(got) != 1 {
				t.Fatalf("down%d lost: %v", i, got)
			}
		}
		if e.sync.Metric(t, `zonecast_syncer_pdns_errors_total{kind="transient"}`) < 1 {
			t.Fatal("the outage was not counted")
		}
	})
}

// TestReconcileDriftAndForeign: hand edits of owned RRsets are undone by a
// reconciliation (SIGHUP); foreign RRsets are never touched.
func TestReconcileDriftAndForeign(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, false)
		ctx := context.Background()
		e.publish(t, "edited."+zone, "A", "node1", 60, "192.0.2.1")
		e.publish(t, "deleted."+zone, "A", "node1", 60, "192.0.2.2")
		e.waitDig(t, "deleted."+zone, "A", "192.0.2.2")

		// Foreign data: one RRset zonecast also wants, one it does not know,
		// and a stale RRset zonecast owns but no longer wants.
		foreignWanted := rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "A"}, TTL: 300, Records: []string{"198.51.100.1"}}
		foreignOther := rrset.Set{Key: rrset.Key{Name: "mail." + zone, Type: "MX"}, TTL: 300, Records: []string{"10 mx.example.net."}}
		stale := rrset.Set{Key: rrset.Key{Name: "stale." + zone, Type: "A"}, TTL: 60, Records: []string{"192.0.2.99"}}
		err := e.api.Patch(ctx, zone, []pdnsapi.Change{
			{Set: rrset.Set{Key: rrset.Key{Name: "edited." + zone, Type: "A"}, TTL: 60, Records: []string{"203.0.113.66"}}},
			{Set: rrset.Set{Key: rrset.Key{Name: "deleted." + zone, Type: "A"}, TTL: 60}, Delete: true},
			{Set: foreignWanted}, {Set: foreignOther}, {Set: stale},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Mark the stale RRset as zonecast's, as a crash after a claim would.
		meta, err := e.api.AllMetadata(ctx, zone)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := owner.Decode(zone, meta)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.api.SetMetadata(ctx, zone, owner.JournalKind(rec.NextSeq),
			owner.EncodeJournal(zone, []rrset.Key{stale.Key}, true)[0]); err != nil {
			t.Fatal(err)
		}
		e.publish(t, "www."+zone, "A", "node1", 60, "192.0.2.80")

		e.sync.Signal(t, syscall.SIGHUP)
		e.waitDig(t, "edited."+zone, "A", "192.0.2.1")
		e.waitDig(t, "deleted."+zone, "A", "192.0.2.2")
		e.waitStatus(t, "stale."+zone, "A", "NXDOMAIN")
		if got := e.pdns.Dig(t, "www."+zone, "A"); !slices.Equal(got, []string{"198.51.100.1"}) {
			t.Fatalf("foreign www A was overwritten: %v", got)
		}
		if got := e.pdns.Dig(t, "mail."+zone, "MX"); !slices.Equal(got, []string{"10 mx.example.net."}) {
			t.Fatalf("foreign MX touched: %v", got)
		}
		if c := e.sync.Metric(t, `zonecast_syncer_rrsets_conflicting{zone="`+zone+`"}`); c != 1 {
			t.Fatalf("conflicts metric %v, want 1", c)
		}
		if d := e.sync.Metric(t, `zonecast_syncer_reconcile_drift_rrsets{zone="`+zone+`"}`); d != 3 {
			t.Fatalf("drift metric %v, want 3 (edited, deleted, stale)", d)
		}
		// Withdrawing the wish for www leaves the foreign RRset alone.
		e.publish(t, "www."+zone, "A", "node1", 0)
		e.sync.Signal(t, syscall.SIGHUP)
		time.Sleep(300 * time.Millisecond)
		if got := e.pdns.Dig(t, "www."+zone, "A"); !slices.Equal(got, []string{"198.51.100.1"}) {
			t.Fatalf("foreign www A touched after tombstone: %v", got)
		}
	})
}

// TestInvalidInBurst: invalid messages and an RRset PowerDNS refuses are
// rejected and counted; every valid message of the burst is applied.
func TestInvalidInBurst(t *testing.T) {
	forBackends(t, func(t *testing.T, backend string) {
		e := newEnv(t, backend, false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A foreign A makes a CNAME at the same name unacceptable to PowerDNS.
		if err := e.api.Patch(ctx, zone, []pdnsapi.Change{{Set: rrset.Set{
			Key: rrset.Key{Name: "clash." + zone, Type: "A"}, TTL: 60, Records: []string{"192.0.2.200"}}}}); err != nil {
			t.Fatal(err)
		}
		const n = 300
		raw := func(subject, body string) {
			if err := e.nc.Publish(subject, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			if err := e.pub.PublishAsync(ctx, events.Message{Version: 1, Name: fmt.Sprintf("ok%d.%s", i, zone),
				Type: "A", Origin: "node1", TTL: 60, Records: []string{fmt.Sprintf("192.0.2.%d", i%250+1)}}, 0); err != nil {
				t.Fatal(err)
			}
			switch i {
			case 50:
				raw("zonecast.rr.node1.test.example.lxd.bad1.A", "{not json")
			case 100:
				raw("zonecast.rr.node1.test.example.lxd.bad2.A", `{"v":1,"name":"bad2.lxd.example.test","type":"A","origin":"node1","ttl":60,"records":["999.1.1.1"]}`)
			case 150:
				raw("zonecast.rr.node1.test.example.lxd.bad3.A", `{"v":1,"name":"other.lxd.example.test","type":"A","origin":"node1","ttl":60,"records":["192.0.2.1"]}`)
			case 200:
				if err := e.pub.PublishAsync(ctx, events.Message{Version: 1, Name: "clash." + zone, Type: "CNAME",
					Origin: "node1", TTL: 60, Records: []string{"ok1." + zone}}, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := e.pub.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		e.waitCaughtUp(t)
		sets := e.zoneSets(t)
		for i := 0; i < n; i++ {
			if _, ok := sets[rrset.Key{Name: fmt.Sprintf("ok%d.%s", i, zone), Type: "A"}]; !ok {
				t.Fatalf("valid record ok%d missing", i)
			}
		}
		for _, bad := range []string{"bad1", "bad2", "bad3", "other"} {
			if _, ok := sets[rrset.Key{Name: bad + "." + zone, Type: "A"}]; ok {
				t.Fatalf("invalid message %s applied", bad)
			}
		}
		if got := e.sync.Metric(t, `zonecast_syncer_messages_invalid_total{reason="message"}`); got != 3 {
			t.Fatalf("invalid messages counted %v, want 3", got)
		}
		testenv.Eventually(t, 5*time.Second, "the CNAME refused by PowerDNS is counted", func() bool {
			return e.sync.Metric(t, `zonecast_syncer_rrsets_rejected_total{zone="`+zone+`"}`) == 1
		})
		if got := e.pdns.Dig(t, "clash."+zone, "A"); !slices.Equal(got, []string{"192.0.2.200"}) {
			t.Fatalf("foreign A beside the refused CNAME changed: %v", got)
		}
	})
}
