package syncer

// Unit tests of the writer's invariants against an in-memory PowerDNS. The
// pipeline itself is tested against a real pdns_server in cmd/syncer.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
)

const zone = "z.test."

// fakePDNS keeps one zone in memory and records the calls.
type fakePDNS struct {
	mu       sync.Mutex
	sets     map[rrset.Key]rrset.Set
	meta     map[string][]string
	applies  int
	patched  int
	failNext int // Apply calls that fail with a 503 before succeeding
	reads    int
	// onApply, when set, runs before each Apply takes effect (unlocked),
	// and afterApply after it, with the fake locked.
	onApply    func()
	afterApply func(always []pdnsapi.Change)
	rounds     []applyRound // every successful Apply
	deleted    int          // RRset deletions written
	missing    bool         // PowerDNS does not have the zone (DeleteZone)
	created    []pdnsapi.ZoneSpec
	// list, when set, is the zone listing; without it listing fails and
	// the syncer reads every zone.
	list []string
}

type applyRound struct{ changes, always int }

func newFake() *fakePDNS {
	return &fakePDNS{sets: map[rrset.Key]rrset.Set{}, meta: map[string][]string{}}
}

func (f *fakePDNS) ZoneNames(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.list == nil {
		return nil, errors.New("zone listing not faked")
	}
	return slices.Clone(f.list), nil
}

func (f *fakePDNS) EachRRset(ctx context.Context, z string, fn func(rrset.Set)) (bool, error) {
	sets, found, err := f.Zone(ctx, z)
	for _, s := range sets {
		fn(s)
	}
	return found, err
}

func (f *fakePDNS) Zone(_ context.Context, z string) ([]rrset.Set, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	var out []rrset.Set
	for _, s := range f.sets {
		out = append(out, s)
	}
	return out, !f.missing, nil
}

func (f *fakePDNS) RRset(_ context.Context, z string, k rrset.Key) (rrset.Set, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sets[k]
	return s, ok, nil
}

func (f *fakePDNS) CreateZone(_ context.Context, spec pdnsapi.ZoneSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, spec)
	if f.missing {
		f.missing = false
		f.sets[spec.SOA.Key] = spec.SOA
	}
	return nil
}

func (f *fakePDNS) DeleteZone(context.Context, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing = true
	clear(f.sets)
	clear(f.meta)
	return nil
}

func (f *fakePDNS) Apply(_ context.Context, z string, changes, always []pdnsapi.Change) ([]pdnsapi.Rejection, error) {
	if f.onApply != nil {
		f.onApply()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.afterApply != nil {
		defer f.afterApply(always)
	}
	if f.failNext > 0 {
		f.failNext--
		return nil, &pdnsapi.Error{StatusCode: 503, Message: "unavailable"}
	}
	f.applies++
	f.rounds = append(f.rounds, applyRound{len(changes), len(always)})
	for _, c := range append(changes, always...) {
		if c.Delete {
			delete(f.sets, c.Set.Key)
			f.deleted++
		} else {
			f.sets[c.Set.Key] = c.Set
		}
	}
	f.patched += len(changes)
	return nil, nil
}

func (f *fakePDNS) AllMetadata(context.Context, string) (map[string][]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for k, v := range f.meta {
		out[k] = v
	}
	return out, nil
}

func (f *fakePDNS) SetMetadata(_ context.Context, _, kind string, values []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta[kind] = values
	return nil
}

func (f *fakePDNS) Rectify(context.Context, string) error    { return nil }
func (f *fakePDNS) FlushCache(context.Context, string) error { return nil }

func (f *fakePDNS) has(k rrset.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.sets[k]
	return ok
}

func (f *fakePDNS) deletes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deleted
}

func (f *fakePDNS) counts() (applies, patched, reads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applies, f.patched, f.reads
}

func deliver(t *testing.T, s *Syncer, seq uint64, name string, records ...string) {
	t.Helper()
	deliverPending(t, s, seq, 0, name, records...)
}

// deliverPending is deliver with the follower's count of messages still
// waiting on the server.
func deliverPending(t *testing.T, s *Syncer, seq, pending uint64, name string, records ...string) {
	t.Helper()
	m := events.Message{Version: 1, Name: name, Type: "AAAA", Origin: "o", TTL: 60, Records: records}
	data, err := events.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	s.HandleMessage(events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data, Seq: seq,
		Pending: pending}, time.Now())
}

func start(t *testing.T, f *fakePDNS) (*Syncer, func()) {
	t.Helper()
	return startWith(t, f, Config{Zones: []string{zone}, MaxBackoff: 20 * time.Millisecond})
}

// startReady is start, with the replay done and the zones converged.
func startReady(t *testing.T, f *fakePDNS) (*Syncer, func()) {
	t.Helper()
	s, stop := start(t, f)
	s.Replayed()
	<-s.Ready()
	return s, stop
}

// startWith runs a syncer with cfg against f; the returned func stops it.
func startWith(t *testing.T, f *fakePDNS, cfg Config) (*Syncer, func()) {
	t.Helper()
	s := New(cfg, f, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return s, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		synctest.Wait()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		advance(time.Millisecond)
	}
}

// advance moves the fake clock of the test's bubble (testing/synctest) on
// by d, once every goroutine of the bubble waits: nothing really sleeps,
// and what a slow machine would do late happens all the same.
func advance(d time.Duration) {
	pause(d)
	synctest.Wait()
}

// pause lets d of the bubble's fake time pass for the calling goroutine,
// which may be any of the bubble's (advance may be called only from the
// test's own).
func pause(d time.Duration) { time.Sleep(d) }

// TestBurstIsBatched: 3,000 events already in the stream at start-up are
// written in a handful of PATCH rounds, not one per event.
func TestBurstIsBatched(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, stop := start(t, f)
		defer stop()
		const n = 3000
		for i := 0; i < n; i++ {
			deliverPending(t, s, uint64(i+1), uint64(n-1-i), fmt.Sprintf("h%d.%s", i, zone), fmt.Sprintf("2001:db8::%x", i+1))
		}
		s.Replayed()
		<-s.Ready()
		applies, patched, _ := f.counts()
		if patched != 3000 {
			t.Fatalf("patched %d rrsets, want 3000", patched)
		}
		if applies > 10 {
			t.Fatalf("%d apply rounds for 3000 events: not batched", applies)
		}
	})
}

// TestFirstBatchOfARoundIsBounded: a round that finds thousands of changes
// waiting writes a first batch of at most firstBatch RRsets, without the
// SOA, so that PowerDNS starts at once; the rest follows with the SOA.
func TestFirstBatchOfARoundIsBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, stop := startWith(t, f, Config{Zones: []string{zone}, MaxBackoff: 20 * time.Millisecond, BatchDelay: 300 * time.Millisecond})
		defer stop()
		s.Replayed()
		<-s.Ready()
		f.mu.Lock()
		before := len(f.rounds)
		f.mu.Unlock()
		const n = 5000
		for i := 0; i < n; i++ {
			deliver(t, s, uint64(i+1), fmt.Sprintf("h%d.%s", i, zone), fmt.Sprintf("2001:db8::%x", i+1))
		}
		soa := rrset.Key{Name: zone, Type: "SOA"}
		waitFor(t, "the burst and serial 5000", func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.patched == n && f.sets[soa].Records != nil && strings.Fields(f.sets[soa].Records[0])[2] == fmt.Sprint(n)
		})
		f.mu.Lock()
		rounds := f.rounds[before:]
		f.mu.Unlock()
		if len(rounds) < 2 || rounds[0].changes != firstBatch || rounds[0].always != 0 {
			t.Fatalf("apply rounds %v: want a first one of %d RRsets without the SOA, then the rest", rounds, firstBatch)
		}
	})
}

// TestNothingWrittenDuringReplay: while the stream replays the desired
// state is incomplete, so nothing is written; an owned RRset the stream no
// longer wants is deleted, and new ones are created, once it is complete.
func TestNothingWrittenDuringReplay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		stale := rrset.Key{Name: "stale." + zone, Type: "AAAA"}
		fresh := rrset.Key{Name: "new." + zone, Type: "AAAA"}
		f.sets[stale] = rrset.Set{Key: stale, TTL: 60, Records: []string{"2001:db8::99"}}
		f.meta[owner.JournalKind(0)] = owner.EncodeJournal(zone, []rrset.Key{stale}, true)[0]
		s, stop := start(t, f)
		defer stop()
		deliver(t, s, 1, "new."+zone, "2001:db8::1")
		waitFor(t, "the zone read", func() bool { _, _, reads := f.counts(); return reads > 0 })
		advance(50 * time.Millisecond)
		if !f.has(stale) || f.has(fresh) {
			t.Fatal("written before the replay was complete")
		}
		s.Replayed()
		<-s.Ready()
		if f.has(stale) || !f.has(fresh) {
			t.Fatalf("after the replay: stale present %v, new present %v", f.has(stale), f.has(fresh))
		}
	})
}

// TestTransientFailureRetriesAndReconciles: a 503 is retried with backoff,
// the change lands, and the retry rereads the zone (PowerDNS may have come
// back with other data).
func TestTransientFailureRetriesAndReconciles(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, stop := startReady(t, f)
		defer stop()
		_, _, readsBefore := f.counts()
		f.mu.Lock()
		f.failNext = 3
		f.mu.Unlock()
		deliver(t, s, 1, "web."+zone, "2001:db8::1")
		k := rrset.Key{Name: "web." + zone, Type: "AAAA"}
		waitFor(t, "the change after the outage", func() bool { return f.has(k) })
		if _, _, reads := f.counts(); reads <= readsBefore {
			t.Fatal("no full reconciliation after the transient failure")
		}
	})
}

// TestInvalidEventIsCountedNotApplied: an event outside the zones is
// rejected and the next valid one still lands.
func TestInvalidEventIsCountedNotApplied(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, stop := startReady(t, f)
		defer stop()
		deliver(t, s, 1, "web.other.test.", "2001:db8::1")
		deliver(t, s, 2, "ok."+zone, "2001:db8::2")
		waitFor(t, "the valid event", func() bool { return f.has(rrset.Key{Name: "ok." + zone, Type: "AAAA"}) })
		if f.has(rrset.Key{Name: "web.other.test.", Type: "AAAA"}) {
			t.Fatal("event outside the zones applied")
		}
	})
}

// TestPipelinedRoundsKeepOrderAndSerial: changes that arrive while a batch
// is being written are planned meanwhile and written next; a key in flight
// is written again after its batch lands, and the SOA serial never shows
// a sequence whose message is not written yet.
func TestPipelinedRoundsKeepOrderAndSerial(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		a := rrset.Key{Name: "a." + zone, Type: "AAAA"}
		b := rrset.Key{Name: "b." + zone, Type: "AAAA"}
		started := make(chan struct{}, 10)
		release := make(chan struct{})
		var gate atomic.Bool
		var gated sync.Once
		var bad []string
		f.onApply = func() {
			started <- struct{}{}
			if gate.Load() {
				gated.Do(func() { <-release }) // the first batch after start-up waits for the test
			}
		}
		f.afterApply = func(always []pdnsapi.Change) {
			for _, c := range always {
				if c.Set.Type != "SOA" {
					continue
				}
				serial := strings.Fields(c.Set.Records[0])[2]
				if serial >= "2" && (f.sets[a].Records == nil || f.sets[a].Records[0] != "2001:db8::2") {
					bad = append(bad, fmt.Sprintf("serial %s served while a is %v", serial, f.sets[a].Records))
				}
			}
		}
		s, stop := startReady(t, f)
		defer stop()
		for len(started) > 0 {
			<-started // the start-up pass
		}
		gate.Store(true)
		deliver(t, s, 1, a.Name, "2001:db8::1")
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("the first batch never started")
		}
		deliver(t, s, 2, a.Name, "2001:db8::2") // a is in flight
		deliver(t, s, 3, b.Name, "2001:db8::3")
		advance(4 * stageEvery)
		close(release)
		waitFor(t, "a = ::2, b = ::3 and serial 3", func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			soa := f.sets[rrset.Key{Name: zone, Type: "SOA"}]
			return len(f.sets[a].Records) == 1 && f.sets[a].Records[0] == "2001:db8::2" &&
				len(f.sets[b].Records) == 1 && len(soa.Records) == 1 && strings.Fields(soa.Records[0])[2] == "3"
		})
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("SOA serial ran ahead of the data: %v", bad)
		}
	})
}

// TestSteadyStreamLeavesRoomForReconcile: under a steady stream of changes
// the writer still gets to a requested reconciliation (flush is bounded).
func TestSteadyStreamLeavesRoomForReconcile(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.onApply = func() { pause(50 * time.Millisecond) }
		s, stop := startReady(t, f)
		defer stop()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 200; i++ { // 4 s of changes, one every 20 ms
				deliver(t, s, uint64(i+1), fmt.Sprintf("h%d.%s", i, zone), fmt.Sprintf("2001:db8::%x", i+1))
				pause(20 * time.Millisecond)
			}
		}()
		advance(300 * time.Millisecond)
		_, _, before := f.counts()
		s.RequestReconcile()
		deadline := time.Now().Add(2500 * time.Millisecond)
		for {
			if _, _, reads := f.counts(); reads > before {
				break
			}
			select {
			case <-done:
				t.Fatal("the reconciliation waited for the stream to end")
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("no reconciliation within 2.5 s under a steady stream")
			}
			advance(5 * time.Millisecond)
		}
		<-done
	})
}

// TestIdleAfterWrites: Config.Idle is called once the writer has been quiet
// for idleAfter after writing, and not while changes keep coming.
func TestIdleAfterWrites(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		var mu sync.Mutex
		var idles []time.Time
		s, stop := startWith(t, f, Config{Zones: []string{zone}, Idle: func() {
			mu.Lock()
			idles = append(idles, time.Now())
			mu.Unlock()
		}})
		defer stop()
		s.Replayed()
		<-s.Ready()
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(idles)
		}
		waitFor(t, "the idle call after convergence", func() bool { return count() == 1 })
		// A steady stream, a change every 20 ms: no idle call.
		var last time.Time
		for i := 0; i < 15; i++ {
			deliver(t, s, uint64(i+1), fmt.Sprintf("h%d.%s", i, zone), "2001:db8::1")
			last = time.Now()
			advance(20 * time.Millisecond)
		}
		if n := count(); n != 1 {
			t.Fatalf("%d idle calls during a steady stream", n-1)
		}
		waitFor(t, "an idle call after the stream", func() bool { return count() == 2 })
		mu.Lock()
		quiet := idles[1].Sub(last)
		mu.Unlock()
		if quiet < idleAfter {
			t.Errorf("idle called %v after the last change, before idleAfter (%v)", quiet, idleAfter)
		}
		advance(3 * idleAfter)
		if n := count(); n != 2 {
			t.Errorf("%d idle calls while nothing happened; want none", n-2)
		}
	})
}

// TestLoadAllCreatesListedMissing: a zone missing from PowerDNS's listing
// is created without a read first, and cached as created; without a
// listing it is read, found missing, then created.
func TestLoadAllCreatesListedMissing(t *testing.T) {
	for _, listed := range []bool{true, false} {
		f := newFake()
		f.missing = true
		if listed {
			f.list = []string{"other.test."}
		}
		s := New(Config{Zones: []string{zone}}, f, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
		if err := s.loadAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		wantReads := 1
		if listed {
			wantReads = 0
		}
		if f.reads != wantReads || len(f.created) != 1 {
			t.Fatalf("listed %v: %d reads, %d created; want %d, 1", listed, f.reads, len(f.created), wantReads)
		}
		zs := s.zones[zone]
		soa := rrset.Key{Name: zone, Type: "SOA"}
		if zs == nil {
			t.Fatalf("listed %v: zone not cached", listed)
		}
		if cached, _ := zs.actual.Served(soa); len(cached.Records) != 1 || zs.actual.Len() != 2 {
			t.Fatalf("listed %v: cached %+v, want the created SOA and NS", listed, zs)
		}
	}
}

// take with a budget plans at most that many changes and leaves the others
// dirty, with the zone's sequence: the first batch of a round must not
// claim the SOA for changes it does not hold.
func TestTakeBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s := New(Config{Zones: []string{zone}}, f, NewMetrics(prometheus.NewRegistry()), zerolog.Nop())
		if err := s.loadZone(context.Background(), zone, nil); err != nil {
			t.Fatal(err)
		}
		s.in.mu.Lock()
		s.in.tracking = true
		s.in.mu.Unlock()
		for i := 0; i < 50; i++ {
			deliver(t, s, uint64(i+1), fmt.Sprintf("h%d.%s", i, zone), "2001:db8::1")
		}
		st := newStaging()
		s.take(st, nil, 20)
		sz := st.zones[zone]
		if sz == nil || len(sz.dec) != 20 || sz.seqSet {
			t.Fatalf("staged %+v; want 20 decisions without the sequence", sz)
		}
		s.in.mu.Lock()
		left, seqLeft := len(s.in.dirty), s.in.seqDirty[zone]
		s.in.mu.Unlock()
		if left != 30 || !seqLeft {
			t.Fatalf("%d left dirty (sequence %v); want 30 with the sequence", left, seqLeft)
		}
		s.take(st, nil, 0)
		if sz := st.zones[zone]; len(sz.dec) != 50 || !sz.seqSet || sz.seq != 50 {
			t.Fatalf("after a take without budget: %d decisions, sequence %d (%v); want 50, 50", len(sz.dec), sz.seq, sz.seqSet)
		}
	})
}

// TestLeaseEndsOnTime: a contribution whose lease runs out leaves PowerDNS
// at its end (the stream drops it without a marker), not before; the SOA
// serial stays where the stream left it, and the ended lease is handed to
// Config.LeasesEnded for its tombstone. (Fake time: testing/synctest.)
func TestLeaseEndsOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		var mu sync.Mutex
		var ended []lease.Ref
		s, stop := startWith(t, f, Config{Zones: []string{zone}, MaxBackoff: 20 * time.Millisecond,
			LeasesEnded: func(refs []lease.Ref) { mu.Lock(); ended = append(ended, refs...); mu.Unlock() }})
		defer stop()
		m := events.Message{Version: 1, Name: "lease." + zone, Type: "AAAA", Origin: "o", TTL: 60, Records: []string{"2001:db8::1"}}
		data, err := events.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		s.HandleMessage(events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data, Seq: 1,
			Expires: time.Now().Add(10 * time.Second)}, time.Now())
		deliver(t, s, 2, "keep."+zone, "2001:db8::2")
		s.Replayed()
		<-s.Ready()
		synctest.Wait()
		soa := rrset.Key{Name: zone, Type: "SOA"}
		serial := func() string { f.mu.Lock(); defer f.mu.Unlock(); return f.sets[soa].Records[0] }
		before := serial()
		advance(9 * time.Second)
		if !f.has(m.Key()) {
			t.Fatal("the lease ended a second early")
		}
		advance(time.Second + 10*time.Millisecond) // and the writer's batch delay
		if f.has(m.Key()) {
			t.Fatal("the lease did not end on time")
		}
		if !f.has(rrset.Key{Name: "keep." + zone, Type: "AAAA"}) {
			t.Fatal("the record without a lease went too")
		}
		if serial() != before {
			t.Errorf("the SOA serial moved without a stream message: %s -> %s", before, serial())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(ended) != 1 || ended[0] != (lease.Ref{Key: m.Key(), Origin: "o"}) {
			t.Errorf("LeasesEnded got %v", ended)
		}
	})
}

// TestRefusedEventAdvancesTheZone: an event the zone does not allow (NS
// at the apex) is refused, and the zone's SOA serial still moves to its
// sequence, so no node looks behind because of it.
func TestRefusedEventAdvancesTheZone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, stop := startReady(t, f)
		defer stop()
		deliver(t, s, 1, "h1."+zone, "2001:db8::1")
		m := events.Message{Version: 1, Name: zone, Type: "NS", Origin: "o", TTL: 60, Records: []string{"ns9.example.net."}}
		data, err := events.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		s.HandleMessage(events.Delivery{Subject: events.Subject(events.DefaultSubjectPrefix, m), Data: data, Seq: 2}, time.Now())
		soa := rrset.Key{Name: zone, Type: "SOA"}
		waitFor(t, "serial 2 after the refused NS", func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.sets[soa].Records != nil && strings.Fields(f.sets[soa].Records[0])[2] == "2"
		})
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.sets[rrset.Key{Name: zone, Type: "NS"}]; ok {
			t.Fatalf("apex NS written: %+v", f.sets[rrset.Key{Name: zone, Type: "NS"}])
		}
	})
}
