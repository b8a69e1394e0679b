package main

// The attack that roll-ups allowed, tried through real role users of the
// syncer's embedded server, on one node and on a 3-node cluster.

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testenv"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// roleUsers writes a users file for the zone: source w1 (origin h1),
// gateway gw, syncer ns9 and reader ops, all with the password of the
// returned password file.
func roleUsers(t *testing.T, zone string) (usersFile, pwFile string) {
	t.Helper()
	return testenv.UsersFile(t,
		bus.UserSpec{User: "w1", Role: bus.RoleSource, Origin: "h1", Zones: []string{zone}},
		bus.UserSpec{User: "gw", Role: bus.RoleGateway, Zones: []string{zone}},
		bus.UserSpec{User: "ns9", Role: bus.RoleSyncer, Node: "ns9"},
		bus.UserSpec{User: "ops", Role: bus.RoleReader})
}

// victims are the records of another origin that the attackers try to
// erase: 50 A records of origin "ops".
func victims(zone string) []events.Message {
	var out []events.Message
	for i := range 50 {
		out = append(out, events.Message{Version: 1, Name: fmt.Sprintf("v%d.%s", i, zone), Type: "A", Origin: "ops",
			TTL: 60, Records: []string{fmt.Sprintf("192.0.2.%d", i+1)}})
	}
	return out
}

// attackAs runs testenv.Attacks as each role user against the NATS at url
// and fails the test for anything that worked.
func attackAs(t *testing.T, url, pwFile, zone string) {
	t.Helper()
	rec := func(name, origin string) string {
		return events.Subject(events.DefaultSubjectPrefix, events.Message{Name: name + "." + zone, Type: "A", Origin: origin})
	}
	var wg sync.WaitGroup
	for _, tc := range []struct {
		user, own, foreign string
		ownAllowed         bool
	}{
		{"w1", rec("mine", "h1"), rec("v1", "ops"), true},
		{"gw", rec("mine", "key-kea"), rec("w", "h1"), true}, // h1 is a source's origin
		{"ns9", rec("mine", "h1"), rec("v1", "ops"), false},
		{"ops", rec("mine", "h1"), rec("v1", "ops"), false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		nc, err := bus.Connect(ctx, bus.ClientConfig{URL: url, User: tc.user, PasswordFile: pwFile}, zerolog.Nop())
		if err != nil {
			cancel()
			t.Fatalf("connecting as %s: %v", tc.user, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			defer nc.Close()
			if wrong := testenv.Attacks(ctx, nc, "ZONECAST", tc.own, tc.foreign, tc.ownAllowed); len(wrong) > 0 {
				t.Errorf("%s was not refused: %v", tc.user, wrong)
			}
		}()
	}
	wg.Wait()
}

// servesVictims waits until p serves every victim record.
func servesVictims(t *testing.T, p *testpdns.Server, zone string, what string) {
	t.Helper()
	api := pdnsapi.New(p.APIURL, p.APIKey, "localhost", 10*time.Second)
	want := victims(zone)
	missing := len(want)
	testenv.Eventually(t, 60*time.Second, fmt.Sprintf("%s: every victim served (last: %d missing)", what, missing), func() bool {
		sets, _, err := api.Zone(context.Background(), zone)
		if err != nil {
			return false
		}
		have := map[rrset.Key]rrset.Set{}
		for _, s := range sets {
			have[s.Key] = s
		}
		missing = 0
		for _, m := range want {
			if s, ok := have[m.Key()]; !ok || len(s.Records) != 1 || s.Records[0] != m.Records[0] {
				missing++
			}
		}
		return missing == 0
	})
}

// streamHolds fails unless the stream still holds every victim's message.
func streamHolds(t *testing.T, nc *nats.Conn, zone string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "ZONECAST")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range victims(zone) {
		last, err := bus.LastOf(ctx, st, events.Subject(events.DefaultSubjectPrefix, m))
		if err != nil || !last.Found {
			t.Fatalf("the stream lost %s (%v)", m.Name, err)
		}
	}
}

// statusRollupRefused: the syncer user ns9 may write its own status key,
// but a roll-up there, which would erase every other node's status, is
// refused by the bucket; node "test" keeps its status.
func statusRollupRefused(t *testing.T, url, pwFile string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := bus.Connect(ctx, bus.ClientConfig{URL: url, User: "ns9", PasswordFile: pwFile}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("$KV." + bus.DefaultStatusBucket + ".ns9")
	m.Data = []byte("{}")
	m.Header.Set(jetstream.MsgRollup, "all")
	if _, err := js.PublishMsg(ctx, m); err == nil {
		t.Fatal("a roll-up on the status bucket was stored")
	}
	kv, err := js.KeyValue(ctx, bus.DefaultStatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, "test"); err != nil {
		t.Fatalf("node test's status after the roll-up: %v", err)
	}
}

func publishVictims(t *testing.T, pub *bus.Publisher, zone string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range victims(zone) {
		if _, err := pub.Publish(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAttackOneNode: source, gateway, syncer and reader users of one node
// send roll-ups, purges, deletions, stream updates and other origins'
// subjects; none is stored, and the other origin's 50 records stay in the
// stream, served, after a restart of the syncer, and on a new node.
func TestAttackOneNode(t *testing.T) {
	usersFile, rolePW := roleUsers(t, zone)
	p := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p,
		Extra: []string{"--nats-users-file", usersFile}})
	nc, _ := s.NATS(t)
	publishVictims(t, s.Publisher(t), zone)
	servesVictims(t, p, zone, "before the attack")
	url := fmt.Sprintf("nats://127.0.0.1:%d", s.NATSPort)
	attackAs(t, url, rolePW, zone)
	streamHolds(t, nc, zone)
	servesVictims(t, p, zone, "after the attack")
	statusRollupRefused(t, url, rolePW)

	s.Stop(t)
	s.Start(t)
	servesVictims(t, p, zone, "after a restart")

	// A new node: its own PowerDNS, following the first node's NATS.
	p2 := testpdns.Start(t, "gsqlite3")
	testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p2,
		NATS: &testenv.NATS{URL: url, PasswordFile: s.PasswordFile}})
	servesVictims(t, p2, zone, "on a new node")
}

// TestAttackCluster: the same on a 3-node cluster (stream replicas 3),
// through the role users of one node; afterwards every node serves the
// other origin's records, also after all three syncers restart, and so
// does a new node.
func TestAttackCluster(t *testing.T) {
	usersFile, rolePW := roleUsers(t, fleetZone)
	e := startFleet(t, "--nats-users-file", usersFile)
	js := e.client(t)
	publishVictims(t, bus.NewPublisher(js, "ZONECAST", "zonecast.rr"), fleetZone)
	for _, n := range e.f.Nodes {
		servesVictims(t, n.Opts.PDNS, fleetZone, n.ID+" before the attack")
	}
	for _, n := range e.f.Nodes[:2] {
		attackAs(t, fmt.Sprintf("nats://127.0.0.1:%d", n.NATSPort), rolePW, fleetZone)
	}
	nc, _ := e.f.Nodes[2].NATS(t)
	streamHolds(t, nc, fleetZone)
	for _, n := range e.f.Nodes {
		n.Stop(t)
	}
	for _, n := range e.f.Nodes {
		n.Launch(t)
	}
	for _, n := range e.f.Nodes {
		n.WaitReady(t, 90*time.Second)
		servesVictims(t, n.Opts.PDNS, fleetZone, n.ID+" after all syncers restarted")
	}
	p4 := testpdns.Start(t, "gsqlite3")
	testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{fleetZone}, PDNS: p4,
		NATS: &testenv.NATS{URL: e.urls, PasswordFile: e.pwFile}})
	servesVictims(t, p4, fleetZone, "a new node")
}

// TestLocalUsers: with --local-watcher-password-file and
// --local-gateway-password-file (the packages' defaults), the watcher's
// user publishes its own origin (the node id) in the syncer's zones and
// nothing else, and cannot read the gateway's bucket; the gateway's user
// owns that bucket, and cannot replace the watcher's records.
func TestLocalUsers(t *testing.T) {
	dir := t.TempDir()
	wpw, gpw := filepath.Join(dir, "watcher-nats-password"), filepath.Join(dir, "gateway-nats-password")
	for _, f := range []string{wpw, gpw} {
		if _, err := bus.EnsurePassword(f); err != nil {
			t.Fatal(err)
		}
	}
	p := testpdns.Start(t, "gsqlite3")
	s := testenv.StartSyncer(t, testenv.SyncerOptions{Zones: []string{zone}, PDNS: p,
		Extra: []string{"--local-watcher-password-file", wpw, "--local-gateway-password-file", gpw}})
	url := fmt.Sprintf("nats://127.0.0.1:%d", s.NATSPort)
	connect := func(user, pwFile string) jetstream.JetStream {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc, err := bus.Connect(ctx, bus.ClientConfig{URL: url, User: user, PasswordFile: pwFile}, zerolog.Nop())
		if err != nil {
			t.Fatalf("connecting as %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	rec := func(name, origin string) events.Message {
		return events.Message{Version: 1, Name: name + "." + zone, Type: "A", Origin: origin, TTL: 60, Records: []string{"192.0.2.9"}}
	}
	try := func(js jetstream.JetStream, m events.Message) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := bus.NewPublisher(js, "", "").Publish(ctx, m, 0)
		return err
	}
	w := connect("watcher", wpw)
	if err := try(w, rec("c1", "test")); err != nil {
		t.Errorf("the watcher publishing its own origin: %v", err)
	}
	if try(w, rec("c1", "other")) == nil {
		t.Error("the watcher published another origin's record")
	}
	if try(w, events.Message{Version: 1, Name: "c1.elsewhere.test.", Type: "A", Origin: "test", TTL: 60,
		Records: []string{"192.0.2.9"}}) == nil {
		t.Error("the watcher published outside the syncer's zones")
	}
	g := connect("gateway", gpw)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := g.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.DefaultGatewayBucket})
	if err != nil {
		t.Fatalf("the gateway creating its bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "tsig.k", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if err := try(g, rec("h1", "tsig-k")); err != nil {
		t.Errorf("the gateway publishing as its key: %v", err)
	}
	if try(g, rec("c1", "test")) == nil {
		t.Error("the gateway replaced the watcher's record")
	}
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if wkv, err := w.KeyValue(sctx, bus.DefaultGatewayBucket); err == nil {
		if e, err := wkv.Get(sctx, "tsig.k"); err == nil {
			t.Errorf("the watcher read the gateway's secret %q", e.Value())
		}
	}
	// Nor does it overhear the gateway's reads of it: every user has
	// inboxes of its own, and may not subscribe to another's.
	wnc := w.Conn()
	var subs []*nats.Subscription
	for _, subj := range []string{"_INBOX.>", bus.InboxPrefix("gateway") + ".>", ">"} {
		if sub, err := wnc.SubscribeSync(subj); err == nil {
			subs = append(subs, sub)
		}
	}
	_ = wnc.Flush()
	for range 3 {
		if _, err := kv.Get(ctx, "tsig.k"); err != nil {
			t.Fatal(err)
		}
	}
	// What the server sent the watcher before this round trip is queued.
	if err := wnc.Flush(); err != nil {
		t.Fatal(err)
	}
	overheard := 0
	for _, sub := range subs {
		n, _, _ := sub.Pending()
		overheard += n
	}
	if overheard > 0 {
		t.Errorf("the watcher overheard %d messages of the gateway's", overheard)
	}
}
