package main

// The delete limit, end to end: an emptied stream, a snapshot that holds
// nothing and a publisher's mass tombstones leave PowerDNS as it was, the
// hold is reported in the log, the metrics, status and /readyz, plan lists
// it, and approve writes the deletions.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/snapshot"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
	"github.com/zonecast/zonecast/internal/valve"
)

// heldRecords are the records the tests try to lose: n A records of
// origin "ops".
func heldRecords(n int) []events.Message {
	var out []events.Message
	for i := range n {
		out = append(out, events.Message{Version: 1, Name: fmt.Sprintf("k%d.%s", i, zone), Type: "A", Origin: "ops",
			TTL: 60, Records: []string{fmt.Sprintf("198.51.100.%d", i+1)}})
	}
	return out
}

// countServed returns how many of ms PowerDNS serves.
func countServed(t *testing.T, e *env, ms []events.Message) int {
	t.Helper()
	sets := e.zoneSets(t)
	n := 0
	for _, m := range ms {
		if s, ok := sets[m.Key()]; ok && len(s.Records) == 1 && s.Records[0] == m.Records[0] {
			n++
		}
	}
	return n
}

func publishAll(t *testing.T, pub *bus.Publisher, ms []events.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := pub.PublishAsync(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkHeld checks every report of a hold of n deletions in zone, and
// that PowerDNS still serves all of ms.
func checkHeld(t *testing.T, e *env, ms []events.Message, n int, url, pwFile string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d deletions held", n), func() bool {
		v, err := e.sync.TryMetric(`zonecast_syncer_deletions_held{zone="` + zone + `"}`)
		return err == nil && v == float64(n)
	})
	if got := countServed(t, e, ms); got != len(ms) {
		t.Fatalf("PowerDNS serves %d of the %d records while their deletions are held", got, len(ms))
	}
	var body string
	testenv.Eventually(t, 5*time.Second, "/readyz says why it is not ready (last: "+body+")", func() bool {
		var ok bool
		ok, body = e.sync.Readyz()
		return !ok && strings.Contains(body, fmt.Sprintf("%d deletions held in %s", n, zone))
	})
	if !strings.Contains(e.sync.LogTail(400), "holding deletions") {
		t.Error("no log line says deletions are held")
	}
	var out string
	testenv.Eventually(t, 15*time.Second, "status shows the hold", func() bool {
		var err error
		out, err = e.sync.Run(t, "status", "--nats-url", url, "--nats-password-file", pwFile)
		return err != nil && strings.Contains(out, fmt.Sprintf("holding %d deletions", n))
	})
	plan, err := e.sync.Run(t, append([]string{"plan"}, planFlags(t, e)...)...)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if !strings.Contains(plan, fmt.Sprintf("0 to delete, %d deletions held by the delete limit", n)) {
		t.Errorf("plan does not list the hold:\n%s", plan)
	}
}

// planFlags are the syncer's flags for `plan`, which joins its NATS.
func planFlags(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	for _, a := range e.sync.Flags(t) {
		if a == "--log-level" || a == "debug" {
			continue
		}
		out = append(out, a)
	}
	return out
}

// approve runs zonecast-syncer approve and waits for the deletions.
func approveAll(t *testing.T, e *env, url, pwFile string, n int) {
	t.Helper()
	out, err := e.sync.Run(t, "approve", "--zone", zone, "--nats-url", url, "--nats-password-file", pwFile)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%s  %d", zone, n)) {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	testenv.Eventually(t, 30*time.Second, "the approved deletions written", func() bool {
		return e.sync.Metric(t, `zonecast_syncer_deletions_held{zone="`+zone+`"}`) == 0 && len(e.zoneSets(t)) <= 2
	})
	testenv.Eventually(t, 10*time.Second, "ready again", func() bool { ok, _ := e.sync.Readyz(); return ok })
}

// TestEmptiedStreamHeld: an admin purges the stream; the syncer's stream
// watch raises an alarm, and after a restart (which replays nothing) the
// syncer holds every deletion until approve.
func TestEmptiedStreamHeld(t *testing.T) {
	e := newEnv(t, "gsqlite3", false)
	ms := heldRecords(120)
	publishAll(t, e.pub, ms)
	testenv.Eventually(t, 30*time.Second, "every record served", func() bool { return countServed(t, e, ms) == len(ms) })
	_, js := e.sync.NATS(t)
	ctx := context.Background()
	st, err := js.Stream(ctx, "ZONECAST")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "a stream sample with the records", func() bool {
		b, err := os.ReadFile(filepath.Join(e.sync.Opts.StateDir, "stream.json"))
		var v valve.StreamState
		return err == nil && json.Unmarshal(b, &v) == nil && v.Msgs >= uint64(len(ms))
	})
	if err := st.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", e.sync.NATSPort)
	e.sync.Stop(t)
	e.sync.Launch(t)
	checkHeld(t, e, ms, len(ms), url, e.sync.PasswordFile)
	out, _ := e.sync.Run(t, "status", "--nats-url", url, "--nats-password-file", e.sync.PasswordFile)
	if !strings.Contains(out, "ALARM test: ") || !strings.Contains(out, "lost 120") {
		t.Errorf("status shows no alarm about the stream:\n%s", out)
	}
	if e.sync.Metric(t, "zonecast_syncer_stream_alarms_total") < 1 {
		t.Error("no stream alarm counted")
	}
	approveAll(t, e, url, e.sync.PasswordFile, len(ms))
}

// TestEmptySnapshotHeld: a snapshot that holds nothing, at the stream's
// last sequence, makes a restarted syncer's desired state empty; every
// deletion is held.
func TestEmptySnapshotHeld(t *testing.T) {
	nats := testenv.StartNATS(t)
	p := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p, NATS: nats})
	nc, js := s.NATS(t)
	e := &env{pdns: p, sync: s, pub: bus.NewPublisher(js, "ZONECAST", "zonecast.rr"), nc: nc,
		api: pdnsapi.New(p.APIURL, p.APIKey, "localhost", 10*time.Second)}
	ms := heldRecords(100)
	publishAll(t, e.pub, ms)
	testenv.Eventually(t, 30*time.Second, "every record served", func() bool { return countServed(t, e, ms) == len(ms) })
	s.Stop(t)
	ctx := context.Background()
	st, err := js.Stream(ctx, "ZONECAST")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := snapshot.NewWriter(&buf, snapshot.Header{Zone: zone, Stream: "ZONECAST", Created: info.Created,
		Seq: info.State.LastSeq, ZoneSeq: info.State.LastSeq, Taken: time.Now(), Count: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, err := bus.SnapshotBucket(ctx, js, "", 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snaps.Put(ctx, zone, info.State.LastSeq, info.Created, &buf); err != nil {
		t.Fatal(err)
	}
	s.Launch(t)
	checkHeld(t, e, ms, len(ms), nats.URL, nats.PasswordFile)
	approveAll(t, e, nats.URL, nats.PasswordFile, len(ms))
}

// TestMassTombstonesHeld: a publisher withdraws most of the zone at once;
// the deletions are held whole, a new record still goes through.
func TestMassTombstonesHeld(t *testing.T) {
	e := newEnv(t, "gsqlite3", false)
	ms := heldRecords(120)
	publishAll(t, e.pub, ms)
	testenv.Eventually(t, 30*time.Second, "every record served", func() bool { return countServed(t, e, ms) == len(ms) })
	var tombs []events.Message
	for _, m := range ms[:100] {
		m.Records, m.TTL = nil, 0
		tombs = append(tombs, m)
	}
	publishAll(t, e.pub, tombs)
	e.publish(t, "fresh."+zone, "A", "ops", 60, "198.51.100.250")
	e.waitDig(t, "fresh."+zone, "A", "198.51.100.250")
	url := fmt.Sprintf("nats://127.0.0.1:%d", e.sync.NATSPort)
	checkHeld(t, e, ms, 100, url, e.sync.PasswordFile)
	// A push consumer pointed at the control subject delivers a message
	// there on behalf of its creator, whatever the creator may publish
	// (nats-server does not check): not an approval.
	_, js := e.sync.NATS(t)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "forged"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "a", []byte(`{"zone":"`+zone+`"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreatePushConsumer(ctx, "KV_forged", jetstream.ConsumerConfig{
		DeliverSubject: bus.ApproveSubject(bus.DefaultControlPrefix, "ZONECAST"), AckPolicy: jetstream.AckNonePolicy}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the syncer ignores the delivery", func() bool {
		return strings.Contains(e.sync.LogTail(400), "ignoring an approve request that is not a request")
	})
	if v := e.sync.Metric(t, `zonecast_syncer_deletions_held{zone="`+zone+`"}`); v != 100 {
		t.Fatalf("%v deletions held after the forged request, want 100", v)
	}
	out, err := e.sync.Run(t, "approve", "--zone", zone, "--nats-url", url, "--nats-password-file", e.sync.PasswordFile)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%s  100", zone)) {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	testenv.Eventually(t, 30*time.Second, "the 100 deletions written", func() bool { return countServed(t, e, ms) == 20 })
	e.waitCaughtUp(t)
}
