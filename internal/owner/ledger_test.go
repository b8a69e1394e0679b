package owner

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

// metaMap is zone metadata in a map, as PowerDNS keeps it.
type metaMap struct {
	kinds  map[string][]string
	reads  int
	writes int
	fail   error
}

func (m *metaMap) AllMetadata(context.Context, string) (map[string][]string, error) {
	m.reads++
	out := map[string][]string{}
	for k, v := range m.kinds {
		if len(v) > 0 {
			out[k] = v
		}
	}
	return out, nil
}

func (m *metaMap) SetMetadata(_ context.Context, _, kind string, values []string) error {
	if m.fail != nil {
		return m.fail
	}
	m.writes++
	m.kinds[kind] = values
	return nil
}

// walMem is a claim log in memory.
type walMem struct {
	claims  map[string]Set
	cleared int
}

func (w *walMem) Append(zone string, keys []rrset.Key, claim bool) error {
	if w.claims[zone] == nil {
		w.claims[zone] = Set{}
	}
	for _, k := range keys {
		if claim {
			w.claims[zone][k] = struct{}{}
		} else {
			delete(w.claims[zone], k)
		}
	}
	return nil
}

func (w *walMem) Load() (map[string]Set, int, error) { return w.claims, 0, nil }
func (w *walMem) Clear() error                       { w.claims = map[string]Set{}; w.cleared++; return nil }

const lz = "example.org."

func key(name string) rrset.Key { return rrset.Key{Name: name + "." + lz, Type: "A"} }

// reread is what a fresh ledger finds in the metadata.
func reread(t *testing.T, m *metaMap) Set {
	t.Helper()
	owned, err := NewLedger(LedgerConfig{Meta: m}).Load(t.Context(), lz)
	if err != nil {
		t.Fatal(err)
	}
	return owned
}

func TestLedgerClaimsAndReleasesInTheMetadata(t *testing.T) {
	m := &metaMap{kinds: map[string][]string{}}
	l := NewLedger(LedgerConfig{Meta: m})
	if _, err := l.Load(t.Context(), lz); err != nil {
		t.Fatal(err)
	}
	if err := l.Claim(t.Context(), lz, []rrset.Key{key("a"), key("b")}); err != nil {
		t.Fatal(err)
	}
	if m.writes != 1 {
		t.Errorf("a claim of two keys took %d metadata writes, want one journal write", m.writes)
	}
	if err := l.Release(t.Context(), lz, []rrset.Key{key("a")}); err != nil {
		t.Fatal(err)
	}
	got := reread(t, m)
	if got.Has(key("a")) || !got.Has(key("b")) || len(got) != 1 {
		t.Fatalf("metadata owns %v, want only b", got)
	}
	if !l.Owned(lz).Has(key("b")) || l.Owned(lz).Has(key("a")) {
		t.Fatalf("ledger owns %v, want only b", l.Owned(lz))
	}
}

func TestLedgerCompactsWithoutLosingOwnership(t *testing.T) {
	m := &metaMap{kinds: map[string][]string{}}
	l := NewLedger(LedgerConfig{Meta: m})
	if _, err := l.Load(t.Context(), lz); err != nil {
		t.Fatal(err)
	}
	for i := range CompactAfter {
		if err := l.Claim(t.Context(), lz, []rrset.Key{key(string(rune('a' + i)))}); err != nil {
			t.Fatal(err)
		}
	}
	if !l.CompactDue(lz) {
		t.Fatalf("no compaction due after %d journal writes", CompactAfter)
	}
	if err := l.Compact(t.Context(), lz); err != nil {
		t.Fatal(err)
	}
	if l.CompactDue(lz) {
		t.Error("compaction still due after compacting")
	}
	for k, v := range m.kinds {
		if len(v) > 0 && len(k) > len(JournalPrefix) && k[:len(JournalPrefix)] == JournalPrefix {
			t.Errorf("journal kind %s still holds %v after compaction", k, v)
		}
	}
	if got := reread(t, m); len(got) != CompactAfter {
		t.Fatalf("metadata owns %d keys after compaction, want %d", len(got), CompactAfter)
	}
}

func TestLedgerFailedClaimOwnsNothing(t *testing.T) {
	m := &metaMap{kinds: map[string][]string{}}
	l := NewLedger(LedgerConfig{Meta: m})
	if _, err := l.Load(t.Context(), lz); err != nil {
		t.Fatal(err)
	}
	m.fail = errors.New("powerdns down")
	if err := l.Claim(t.Context(), lz, []rrset.Key{key("a")}); !errors.Is(err, m.fail) {
		t.Fatalf("Claim = %v, want the metadata's error", err)
	}
	if l.Owned(lz).Has(key("a")) {
		t.Fatal("a claim that was not recorded counts as owned")
	}
}

func TestLedgerWALThenCheckpoint(t *testing.T) {
	m := &metaMap{kinds: map[string][]string{}}
	w := &walMem{claims: map[string]Set{}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLedger(LedgerConfig{Meta: m, WAL: w, CheckpointDelay: time.Second, Now: func() time.Time { return now }})
	if _, err := l.Load(t.Context(), lz); err != nil {
		t.Fatal(err)
	}
	if err := l.Claim(t.Context(), lz, []rrset.Key{key("a"), key("b")}); err != nil {
		t.Fatal(err)
	}
	if m.writes != 0 {
		t.Fatalf("a logged claim wrote the metadata %d times before its checkpoint", m.writes)
	}
	if !w.claims[lz].Has(key("a")) || !l.Owned(lz).Has(key("a")) {
		t.Fatal("a logged claim is not in the log, or not owned")
	}
	if at, ok := l.CheckpointDue(); !ok || !at.Equal(now.Add(time.Second)) {
		t.Fatalf("checkpoint due %v %v, want one CheckpointDelay after the claim", at, ok)
	}
	now = now.Add(500 * time.Millisecond)
	l.Postpone()
	if at, _ := l.CheckpointDue(); !at.Equal(now.Add(time.Second)) {
		t.Fatalf("postponed checkpoint due %v, want %v", at, now.Add(time.Second))
	}
	if err := l.Release(t.Context(), lz, []rrset.Key{key("b")}); err != nil {
		t.Fatal(err)
	}
	if w.claims[lz].Has(key("b")) {
		t.Fatal("a released key is still claimed in the log: a restart would take it for owned")
	}
	n, err := l.Checkpoint(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("Checkpoint = %d, %v; want the one claim still owned", n, err)
	}
	if got := reread(t, m); !got.Has(key("a")) || got.Has(key("b")) {
		t.Fatalf("metadata owns %v after the checkpoint, want a only", got)
	}
	if w.cleared != 1 || l.Pending() {
		t.Fatalf("log cleared %d times, pending %v; want cleared once, nothing pending", w.cleared, l.Pending())
	}
	if _, ok := l.CheckpointDue(); ok {
		t.Fatal("a checkpoint is still due after it ran")
	}
}

func TestLedgerRecoversLoggedClaims(t *testing.T) {
	m := &metaMap{kinds: map[string][]string{}}
	w := &walMem{claims: map[string]Set{lz: {key("crash"): {}}}}
	l := NewLedger(LedgerConfig{Meta: m, WAL: w})
	n, bad, err := l.Recover()
	if err != nil || n != 1 || bad != 0 {
		t.Fatalf("Recover = %d, %d, %v", n, bad, err)
	}
	if _, ok := l.CheckpointDue(); !ok {
		t.Fatal("no checkpoint due for recovered claims")
	}
	owned, err := l.Load(t.Context(), lz)
	if err != nil {
		t.Fatal(err)
	}
	if !owned.Has(key("crash")) {
		t.Fatal("a claim logged by a previous run is not owned after Load")
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !reread(t, m).Has(key("crash")) {
		t.Fatal("the recovered claim did not reach the metadata")
	}
}

// TestLedgerLoadNew: a zone just created reads nothing and owns only what
// the claim log holds for it; claims then go to its metadata as after Load.
func TestLedgerLoadNew(t *testing.T) {
	m := &metaMap{kinds: map[string][]string{}}
	w := &walMem{claims: map[string]Set{lz: {key("crash"): {}}}}
	l := NewLedger(LedgerConfig{Meta: m, WAL: w})
	if _, _, err := l.Recover(); err != nil {
		t.Fatal(err)
	}
	owned := l.LoadNew(lz)
	if len(owned) != 1 || !owned.Has(key("crash")) {
		t.Fatalf("LoadNew owns %v, want the logged claim only", owned)
	}
	if m.reads != 0 {
		t.Fatalf("LoadNew read the metadata %d times", m.reads)
	}
	if err := l.Claim(t.Context(), lz, []rrset.Key{key("new")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := reread(t, m); !got.Has(key("crash")) || !got.Has(key("new")) {
		t.Fatalf("metadata after a claim and a checkpoint: %v", got)
	}
}

// TestLedgerForget: a zone the syncer no longer manages leaves the
// ledger, with its logged claims; the log is cleared once nothing else
// waits for a checkpoint, and only then.
func TestLedgerForget(t *testing.T) {
	const other = "example.net."
	m := &metaMap{kinds: map[string][]string{}}
	w := &walMem{claims: map[string]Set{lz: {key("gone"): {}}, other: {{Name: "x." + other, Type: "A"}: {}}}}
	l := NewLedger(LedgerConfig{Meta: m, WAL: w})
	if n, _, err := l.Recover(); err != nil || n != 2 {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if _, err := l.Load(t.Context(), lz); err != nil {
		t.Fatal(err)
	}
	if err := l.Forget(lz); err != nil {
		t.Fatal(err)
	}
	if l.Owned(lz) != nil || w.cleared != 0 || !l.Pending() {
		t.Fatalf("after forgetting %s: owned %v, log cleared %d times, pending %v; want the other zone's claim kept",
			lz, l.Owned(lz), w.cleared, l.Pending())
	}
	if err := l.Forget(other); err != nil {
		t.Fatal(err)
	}
	if w.cleared != 1 || l.Pending() {
		t.Fatalf("log cleared %d times, pending %v; want cleared once nothing is pending", w.cleared, l.Pending())
	}
	if _, ok := l.CheckpointDue(); ok {
		t.Fatal("a checkpoint is due with nothing pending")
	}
	if m.writes != 0 {
		t.Fatalf("forgetting wrote the metadata %d times", m.writes)
	}
}

// A checkpoint of a new node's first pass (more claims than the zone
// owned, BulkCheckpoint or more) writes buckets, no journal: a later
// Load decodes onto the owned set.
func TestLedgerBulkCheckpointWritesBuckets(t *testing.T) {
	m := &metaMap{kinds: map[string][]string{}}
	w := &walMem{claims: map[string]Set{}}
	l := NewLedger(LedgerConfig{Meta: m, WAL: w, CheckpointDelay: time.Second, Now: time.Now})
	if _, err := l.Load(t.Context(), lz); err != nil {
		t.Fatal(err)
	}
	keys := make([]rrset.Key, BulkCheckpoint)
	for i := range keys {
		keys[i] = key(fmt.Sprintf("h%d", i))
	}
	if err := l.Claim(t.Context(), lz, keys); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Checkpoint(t.Context()); err != nil || n != len(keys) {
		t.Fatalf("Checkpoint = %d, %v; want %d", n, err, len(keys))
	}
	for kind, v := range m.kinds {
		if strings.HasPrefix(kind, JournalPrefix) && len(v) > 0 {
			t.Fatalf("the bulk checkpoint wrote journal %s", kind)
		}
	}
	if got := reread(t, m); len(got) != len(keys) {
		t.Fatalf("metadata owns %d keys, want %d", len(got), len(keys))
	}
	if w.cleared != 1 || l.Pending() {
		t.Fatalf("log cleared %d times, pending %v after the bulk checkpoint", w.cleared, l.Pending())
	}
	owned := l.Owned(lz)
	again, err := l.Load(t.Context(), lz)
	if err != nil || len(again) != len(keys) {
		t.Fatalf("Load = %d keys, %v", len(again), err)
	}
	if reflect.ValueOf(again).UnsafePointer() != reflect.ValueOf(owned).UnsafePointer() {
		t.Fatal("Load replaced the owned set instead of decoding onto it")
	}
	// One claim more is a journal write again.
	if err := l.Claim(t.Context(), lz, []rrset.Key{key("late")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	journal := 0
	for kind, v := range m.kinds {
		if strings.HasPrefix(kind, JournalPrefix) && len(v) > 0 {
			journal++
		}
	}
	if journal != 1 || !reread(t, m).Has(key("late")) {
		t.Fatalf("%d journal kinds after a small checkpoint, want 1 holding the claim", journal)
	}
}
