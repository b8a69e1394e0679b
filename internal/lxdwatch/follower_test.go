package lxdwatch

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/rrset"
)

func lifecycle(t *testing.T, project string, lc api.EventLifecycle) api.Event {
	t.Helper()
	b, err := json.Marshal(lc)
	if err != nil {
		t.Fatal(err)
	}
	return api.Event{Type: api.EventTypeLifecycle, Project: project, Metadata: b}
}

func TestParseEvent(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ev   api.Event
		want trigger
		ok   bool
	}{
		"started in default": {
			ev:   lifecycle(t, "", api.EventLifecycle{Action: "instance-started", Source: "/1.0/instances/c1"}),
			want: trigger{Refs: []ref{{"default", "c1"}}, Fast: true, Action: "instance-started"}, ok: true,
		},
		"shutdown in a project, from the source query": {
			ev:   lifecycle(t, "", api.EventLifecycle{Action: "instance-shutdown", Source: "/1.0/instances/c1?project=p1"}),
			want: trigger{Refs: []ref{{"p1", "c1"}}, Action: "instance-shutdown"}, ok: true,
		},
		"project from the event": {
			ev:   lifecycle(t, "p2", api.EventLifecycle{Action: "instance-deleted", Source: "/1.0/instances/c1"}),
			want: trigger{Refs: []ref{{"p2", "c1"}}, Action: "instance-deleted"}, ok: true,
		},
		"renamed resyncs old and new": {
			ev: lifecycle(t, "p1", api.EventLifecycle{Action: "instance-renamed", Source: "/1.0/instances/new?project=p1",
				Context: map[string]any{"old_name": "old"}}),
			want: trigger{Refs: []ref{{"p1", "new"}, {"p1", "old"}}, Action: "instance-renamed"}, ok: true,
		},
		"restarted is fast": {
			ev:   lifecycle(t, "", api.EventLifecycle{Action: "instance-restarted", Source: "/1.0/instances/c1"}),
			want: trigger{Refs: []ref{{"default", "c1"}}, Fast: true, Action: "instance-restarted"}, ok: true,
		},
		"exec ignored":          {ev: lifecycle(t, "", api.EventLifecycle{Action: "instance-exec", Source: "/1.0/instances/c1"})},
		"snapshot ignored":      {ev: lifecycle(t, "", api.EventLifecycle{Action: "instance-snapshot-created", Source: "/1.0/instances/c1/snapshots/s"})},
		"file push ignored":     {ev: lifecycle(t, "", api.EventLifecycle{Action: "instance-file-pushed", Source: "/1.0/instances/c1"})},
		"network event":         {ev: lifecycle(t, "", api.EventLifecycle{Action: "network-updated", Source: "/1.0/networks/lxdbr0"})},
		"not lifecycle":         {ev: api.Event{Type: api.EventTypeLogging, Metadata: []byte(`{}`)}},
		"garbage metadata":      {ev: api.Event{Type: api.EventTypeLifecycle, Metadata: []byte(`{`)}},
		"no instance in source": {ev: lifecycle(t, "", api.EventLifecycle{Action: "instance-created", Source: "/1.0/operations/x"})},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseEvent(tc.ev)
			if ok != tc.ok || ok && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseEvent = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	lo, hi := 500*time.Millisecond, 5*time.Second
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	b := Options{BackoffMin: lo, BackoffMax: hi}.withDefaults().backoff()
	for n, w := range want {
		if got := b.Delay(n); got < w || got > w+w/5 {
			t.Errorf("Delay(%d) = %v, want %v plus up to a fifth", n, got, w)
		}
	}
	b.Jitter = 0
	for n, w := range want {
		if got := b.Delay(n); got != w {
			t.Errorf("Delay(%d) without jitter = %v, want %v", n, got, w)
		}
	}
}

func running(name, project, addr string) instance.Instance {
	fam := "inet"
	if len(addr) > 15 {
		fam = "inet6"
	}
	return instance.Instance{
		Instance: api.Instance{Name: name, Project: project, Status: "Running"},
		State: &api.InstanceState{Status: "Running", Network: map[string]api.InstanceStateNetwork{
			"eth0": {Addresses: []api.InstanceStateNetworkAddress{{Family: fam, Address: addr, Scope: "global"}}},
		}},
	}
}

// TestApplyOrdering feeds fetch results out of order, as concurrent
// fetches deliver them: an older view never overwrites a newer one.
func TestApplyOrdering(t *testing.T) {
	t.Parallel()
	m, err := instance.NewMapper(instance.Config{Zones: []string{"z."}, Origin: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	f := &Follower{mapper: m, log: zerolog.Nop(), opt: Options{}.withDefaults(), origin: "n1"}
	st := &state{lastGen: map[ref]uint64{}, desired: map[ref][]events.Message{}, published: map[rrset.Key]events.Message{}, fast: map[ref]time.Time{}}
	c1 := ref{"default", "c1"}
	aOf := func() []string {
		for _, msg := range st.desired[c1] {
			if msg.Type == "A" {
				return msg.Records
			}
		}
		return nil
	}

	// Full listing at gen 2 sees c1 with .1.
	if !f.applyFull(st, result{Gen: 2, Full: true, Insts: []instance.Instance{running("c1", "default", "192.0.2.1")}}) {
		t.Fatal("first full sync changed nothing")
	}
	// A single fetch started before it (gen 1) arrives late: ignored.
	if f.applyOne(st, result{Gen: 1, Ref: c1, Insts: []instance.Instance{running("c1", "default", "192.0.2.9")}}) {
		t.Error("stale single view applied")
	}
	// A newer single view (gen 4) wins...
	if !f.applyOne(st, result{Gen: 4, Ref: c1, Insts: []instance.Instance{running("c1", "default", "192.0.2.4")}}) {
		t.Error("newer single view not applied")
	}
	// ...over a full listing started before it (gen 3) that misses c1.
	f.applyFull(st, result{Gen: 3, Full: true})
	if got := aOf(); !reflect.DeepEqual(got, []string{"192.0.2.4"}) {
		t.Errorf("A = %v after a stale full listing, want [192.0.2.4]", got)
	}
	// A failed fetch keeps everything.
	if f.applyOne(st, result{Gen: 5, Ref: c1, Err: errTest}) || aOf() == nil {
		t.Error("failed fetch changed the records")
	}
	// A newer full listing without c1 removes it.
	if !f.applyFull(st, result{Gen: 6, Full: true}) || st.desired[c1] != nil {
		t.Error("instance missing from a newer full listing kept")
	}
	// A gone instance (404) is removed, and a stale view cannot bring it back.
	f.applyOne(st, result{Gen: 8, Ref: c1, Insts: []instance.Instance{running("c1", "default", "192.0.2.8")}})
	if !f.applyOne(st, result{Gen: 9, Ref: c1}) || st.desired[c1] != nil {
		t.Error("404 did not remove the instance")
	}
	if f.applyOne(st, result{Gen: 7, Ref: c1, Insts: []instance.Instance{running("c1", "default", "192.0.2.7")}}) {
		t.Error("stale view resurrected a deleted instance")
	}
}

// TestFullSyncPollsUnsettled: a running instance that a full listing
// finds without all its addresses (its start event was missed in a
// reconnection) is polled fast until it has them, as after a start event.
func TestFullSyncPollsUnsettled(t *testing.T) {
	t.Parallel()
	m, err := instance.NewMapper(instance.Config{Zones: []string{"z."}, Origin: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	f := &Follower{mapper: m, log: zerolog.Nop(), opt: Options{}.withDefaults(), origin: "n1"}
	st := &state{lastGen: map[ref]uint64{}, desired: map[ref][]events.Message{}, published: map[rrset.Key]events.Message{},
		fast: map[ref]time.Time{}}
	both := running("both", "default", "192.0.2.1")
	both.State.Network["eth0"] = api.InstanceStateNetwork{Addresses: append(both.State.Network["eth0"].Addresses,
		api.InstanceStateNetworkAddress{Family: "inet6", Address: "2001:db8::1", Scope: "global"})}
	stopped := running("stopped", "default", "192.0.2.3")
	stopped.Status, stopped.State.Status = "Stopped", "Stopped"
	f.applyFull(st, result{Full: true, Gen: 1, Insts: []instance.Instance{running("v4only", "default", "192.0.2.2"), both, stopped}})
	if _, ok := st.fast[ref{"default", "v4only"}]; !ok {
		t.Error("a running instance without its AAAA is not polled fast")
	}
	for _, name := range []string{"both", "stopped"} {
		if _, ok := st.fast[ref{"default", name}]; ok {
			t.Errorf("%s is polled fast", name)
		}
	}
}

type testErr struct{}

func (testErr) Error() string { return "test error" }

var errTest = testErr{}

func TestSettled(t *testing.T) {
	t.Parallel()
	a := events.Message{Type: "A"}
	aaaa := events.Message{Type: "AAAA"}
	for _, tc := range []struct {
		noA, noAAAA bool
		msgs        []events.Message
		want        bool
	}{
		{msgs: nil, want: false},
		{msgs: []events.Message{aaaa}, want: false},
		{msgs: []events.Message{aaaa, a}, want: true},
		{noA: true, msgs: []events.Message{aaaa}, want: true},
		{noAAAA: true, msgs: []events.Message{a}, want: true},
	} {
		m, err := instance.NewMapper(instance.Config{Zones: []string{"z."}, Origin: "n1", NoA: tc.noA, NoAAAA: tc.noAAAA})
		if err != nil {
			t.Fatal(err)
		}
		f := &Follower{mapper: m}
		if got := f.settled(tc.msgs); got != tc.want {
			t.Errorf("settled(noA=%v noAAAA=%v %v) = %v, want %v", tc.noA, tc.noAAAA, tc.msgs, got, tc.want)
		}
	}
}

// published splits what r recorded since message n into sets and
// tombstones, by key.
func published(r *recorder, n int) (sets, tombstones []rrset.Key) {
	for _, m := range r.since(n) {
		if m.Tombstone() {
			tombstones = append(tombstones, m.Key())
		} else {
			sets = append(sets, m.Key())
		}
	}
	return sets, tombstones
}

// TestPreviousRecordsWithdrawn: what the origin published before the
// watcher started (Options.Previous) is withdrawn if no instance maps to
// it, but only once a full listing says so; what is still desired is
// published again.
func TestPreviousRecordsWithdrawn(t *testing.T) {
	t.Parallel()
	m, err := instance.NewMapper(instance.Config{Zones: []string{"z."}, Origin: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	pub := newRecorder()
	f := &Follower{mapper: m, pub: pub, log: zerolog.Nop(), opt: Options{}.withDefaults(), origin: "n1"}
	c1, c2 := running("c1", "default", "192.0.2.1"), running("c2", "default", "192.0.2.2")
	key := func(inst instance.Instance) rrset.Key {
		msgs := f.mapInstance(inst)
		if len(msgs) != 1 {
			t.Fatalf("%s maps to %d messages, want 1", inst.Name, len(msgs))
		}
		return msgs[0].Key()
	}
	k1, k2 := key(c1), key(c2)
	gone := rrset.Key{Name: "gone.z.", Type: "AAAA"}
	st := &state{lastGen: map[ref]uint64{}, desired: map[ref][]events.Message{}, published: map[rrset.Key]events.Message{},
		fast: map[ref]time.Time{}, previous: []rrset.Key{k1, k2, gone}}
	ctx := context.Background()

	// An event for c1 before the first full listing: c1 is published, and
	// nothing is withdrawn yet (c2 may well still exist).
	if !f.applyOne(st, result{Gen: 1, Ref: ref{"default", "c1"}, Insts: []instance.Instance{c1}}) {
		t.Fatal("c1 not applied")
	}
	if !f.reconcile(ctx, st) {
		t.Fatal("reconcile failed")
	}
	if sets, tombs := published(pub, 0); !reflect.DeepEqual(sets, []rrset.Key{k1}) || tombs != nil {
		t.Fatalf("before the full listing: published %v, withdrew %v; want [%v] and nothing", sets, tombs, k1)
	}
	// A lease refresh before the full listing refreshes c1 only.
	n := pub.count()
	f.refresh(ctx, st)
	if sets, tombs := published(pub, n); !reflect.DeepEqual(sets, []rrset.Key{k1}) || tombs != nil {
		t.Fatalf("refresh: published %v, withdrew %v; want [%v] only", sets, tombs, k1)
	}

	// The full listing has c1 and c2: the gone name is withdrawn, c2 (whose
	// content the watcher did not know) is published again, c1 is not.
	n = pub.count()
	n = pub.count()
	if !f.applyFull(st, result{Gen: 2, Full: true, Insts: []instance.Instance{c1, c2}}) {
		t.Fatal("full listing changed nothing")
	}
	if !f.reconcile(ctx, st) {
		t.Fatal("reconcile failed")
	}
	if sets, tombs := published(pub, n); !reflect.DeepEqual(sets, []rrset.Key{k2}) || !reflect.DeepEqual(tombs, []rrset.Key{gone}) {
		t.Fatalf("after the full listing: published %v, withdrew %v; want [%v] and [%v]", sets, tombs, k2, gone)
	}
	if len(st.published) != 2 || st.previous != nil {
		t.Errorf("published %v, previous %v; want c1 and c2, nothing left over", st.published, st.previous)
	}
	// Nothing more to do.
	if f.applyFull(st, result{Gen: 3, Full: true, Insts: []instance.Instance{c1, c2}}) {
		t.Error("a second identical listing changed something")
	}
}

// TestUnwritableZones: names in a zone Writable refuses are held back
// (reported once), neither published, refreshed nor withdrawn; once the
// zone is writable they are published; when it stops being writable what
// was published there is forgotten, not refreshed, and published again
// when writable again.
func TestUnwritableZones(t *testing.T) {
	t.Parallel()
	m, err := instance.NewMapper(instance.Config{Zones: []string{"z."}, Origin: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	pub := newRecorder()
	open := map[string]bool{}
	var skipped []rrset.Key
	opt := Options{Writable: func(name string) bool { z, _ := rrset.ZoneOf(name, []string{"z."}); return open[z] },
		Skipped: func(m events.Message) { skipped = append(skipped, m.Key()) }}.withDefaults()
	f := &Follower{mapper: m, pub: pub, log: zerolog.Nop(), opt: opt, origin: "n1"}
	st := &state{lastGen: map[ref]uint64{}, desired: map[ref][]events.Message{}, published: map[rrset.Key]events.Message{},
		fast: map[ref]time.Time{}, skipped: map[rrset.Key]bool{}}
	ctx := context.Background()
	c1 := running("c1", "default", "192.0.2.1")
	msgs := f.mapInstance(c1)
	if len(msgs) != 1 {
		t.Fatalf("c1 maps to %v", msgs)
	}
	k := msgs[0].Key()
	f.applyOne(st, result{Gen: 1, Ref: ref{"default", "c1"}, Insts: []instance.Instance{c1}})
	for range 2 {
		if !f.reconcile(ctx, st) {
			t.Fatal("reconcile failed")
		}
	}
	if pub.count() != 0 || !reflect.DeepEqual(skipped, []rrset.Key{k}) {
		t.Fatalf("unlisted zone: published %d, skipped %v; want nothing published and %v skipped once", pub.count(), skipped, k)
	}
	f.refresh(ctx, st)
	if pub.count() != 0 {
		t.Fatal("refresh published into an unlisted zone")
	}

	// Listed: published at the change.
	open["z."] = true
	f.unwritable(st)
	f.reconcile(ctx, st)
	if sets, tombs := published(pub, 0); !reflect.DeepEqual(sets, []rrset.Key{k}) || tombs != nil {
		t.Fatalf("listed: published %v, withdrew %v", sets, tombs)
	}
	// Unlisted again: forgotten, neither refreshed nor withdrawn.
	clear(open)
	f.unwritable(st)
	n := pub.count()
	f.reconcile(ctx, st)
	f.refresh(ctx, st)
	f.applyOne(st, result{Gen: 2, Ref: ref{"default", "c1"}}) // gone
	f.reconcile(ctx, st)
	if pub.count() != n || len(st.published) != 0 {
		t.Fatalf("unlisted again: %d more messages, published %v", pub.count()-n, st.published)
	}
	// Back, and listed again: published again.
	f.applyOne(st, result{Gen: 3, Ref: ref{"default", "c1"}, Insts: []instance.Instance{c1}})
	open["z."] = true
	f.unwritable(st)
	f.reconcile(ctx, st)
	if sets, _ := published(pub, n); !reflect.DeepEqual(sets, []rrset.Key{k}) {
		t.Fatalf("listed again: published %v", sets)
	}
	if len(skipped) != 2 {
		t.Errorf("skipped %v, want c1 twice (once per unlisted spell it was desired in)", skipped)
	}
}
