package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestSnapshotNewNode: a node of a fleet stores the zone's snapshot once
// ready; a new node loads it, replays only the stream after it (a new
// record, a tombstone, a second origin) and serves exactly what the first
// node serves, with the same SOA serial. A snapshot that does not read
// (garbage in the bucket) is refused, and the next new node replays the
// whole stream to the same result.
func TestSnapshotNewNode(t *testing.T) {
	t.Parallel()
	nats := testenv.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	p1 := testpdns.Start(t, "gsqlite3")
	a := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p1, NATS: nats})
	pub := a.Publisher(t)
	publish := func(name, origin string, records ...string) {
		t.Helper()
		if _, err := pub.Publish(ctx, events.Message{Version: 1, Name: name + "." + zone, Type: "AAAA", Origin: origin,
			TTL: 60, Records: records}, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		publish(fmt.Sprintf("h%d", i), "node1", fmt.Sprintf("2001:db8::%x", i+1))
	}
	publish("shared", "node1", "2001:db8::a")
	_, js := a.NATS(t)
	// A stores its first snapshot once ready; restart it with the records
	// in the stream so that the snapshot holds them.
	a.Stop(t)
	if err := js.DeleteObjectStore(ctx, bus.DefaultSnapshotBucket); err != nil {
		t.Fatal(err)
	}
	a.Start(t)
	last, err := a.StreamLastSeq(t)
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := bus.SnapshotBucket(ctx, js, "", 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("a snapshot at sequence %d", last), func() bool {
		info, err := snaps.Info(ctx, zone)
		return err == nil && info.Seq == last
	})

	// After the snapshot: a new record, a tombstone, a second origin.
	publish("late", "node2", "2001:db8::1a7e")
	publish("h7", "node1")
	publish("shared", "node2", "2001:db8::b")
	if last, err = a.StreamLastSeq(t); err != nil {
		t.Fatal(err)
	}
	waitSerial := func(p *testpdns.Server) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, fmt.Sprintf("SOA serial %d", last), func() bool {
			soa := p.Dig(t, zone, "SOA")
			return len(soa) == 1 && strings.Fields(soa[0])[2] == fmt.Sprint(uint32(last))
		})
	}
	waitSerial(p1)
	want := zoneContent(t, p1)
	if len(want) != 300+1+1 { // h0-h299 without h7, shared, late; plus the apex NS
		t.Fatalf("first node serves %d RRsets", len(want))
	}

	newNode := func(result string) {
		t.Helper()
		p := testpdns.Start(t, "gsqlite3")
		s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats,
			Extra: []string{"--snapshot-interval", "0"}})
		defer s.Stop(t)
		waitSerial(p)
		if got := zoneContent(t, p); !maps.EqualFunc(got, want, rrset.Set.Equal) {
			t.Errorf("new node (snapshot %s) serves %d RRsets, want the first node's %d:\n%v",
				result, len(got), len(want), diffKeys(got, want))
		}
		if n := s.Metric(t, `zonecast_syncer_snapshots_total{op="load",result="`+result+`"}`); n != 1 {
			t.Errorf("snapshot loads %q: %v, want 1\n%s", result, n, s.LogTail(20))
		}
		if s.Metric(t, `zonecast_syncer_snapshots_total{op="store",result="ok"}`) != 0 {
			t.Error("a node with --snapshot-interval 0 stored a snapshot")
		}
	}
	newNode("ok")

	obs, err := js.ObjectStore(ctx, bus.DefaultSnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, zone, []byte("zonecast-snapshot\x00\x01 not really")); err != nil {
		t.Fatal(err)
	}
	newNode("refused")
}

// zoneContent returns a zone's RRsets in p, but its SOA.
func zoneContent(t *testing.T, p *testpdns.Server) map[rrset.Key]rrset.Set {
	t.Helper()
	api := pdnsapi.New(p.APIURL, p.APIKey, "localhost", 10*time.Second)
	sets, _, err := api.Zone(context.Background(), zone)
	if err != nil {
		t.Fatal(err)
	}
	out := map[rrset.Key]rrset.Set{}
	for _, s := range sets {
		if s.Key.Type != "SOA" {
			out[s.Key] = s
		}
	}
	return out
}

func diffKeys(got, want map[rrset.Key]rrset.Set) []string {
	var d []string
	for k, s := range got {
		if w, ok := want[k]; !ok || !w.Equal(s) {
			d = append(d, fmt.Sprintf("got %v", s))
		}
	}
	for k, w := range want {
		if s, ok := got[k]; !ok || !w.Equal(s) {
			d = append(d, fmt.Sprintf("want %v", w))
		}
	}
	slices.Sort(d)
	return d
}
