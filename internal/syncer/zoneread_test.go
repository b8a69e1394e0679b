package syncer

import (
	"maps"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/zonecast/zonecast/internal/rrset"
)

func TestZoneRead(t *testing.T) {
	t.Parallel()
	set := func(name string, ttl uint32, recs ...string) rrset.Set {
		return rrset.Set{Key: rrset.Key{Name: name, Type: "AAAA"}, TTL: ttl, Records: recs}
	}
	for name, tc := range map[string]struct {
		cached []rrset.Set
		read   []rrset.Set
		want   []rrset.Set
	}{
		"nothing cached":    {read: []rrset.Set{set("a.", 60, "::1")}, want: []rrset.Set{set("a.", 60, "::1")}},
		"no drift":          {cached: []rrset.Set{set("a.", 60, "::1"), set("b.", 60, "::2")}, read: []rrset.Set{set("b.", 60, "::2"), set("a.", 60, "::1")}, want: []rrset.Set{set("a.", 60, "::1"), set("b.", 60, "::2")}},
		"changed ttl":       {cached: []rrset.Set{set("a.", 60, "::1")}, read: []rrset.Set{set("a.", 30, "::1")}, want: []rrset.Set{set("a.", 30, "::1")}},
		"changed records":   {cached: []rrset.Set{set("a.", 60, "::1")}, read: []rrset.Set{set("a.", 60, "::1", "::3")}, want: []rrset.Set{set("a.", 60, "::1", "::3")}},
		"gone and new":      {cached: []rrset.Set{set("a.", 60, "::1"), set("b.", 60, "::2")}, read: []rrset.Set{set("c.", 60, "::3"), set("a.", 60, "::1")}, want: []rrset.Set{set("a.", 60, "::1"), set("c.", 60, "::3")}},
		"all gone":          {cached: []rrset.Set{set("a.", 60, "::1")}, want: nil},
		"read twice, last":  {cached: []rrset.Set{set("a.", 60, "::1")}, read: []rrset.Set{set("a.", 60, "::9"), set("a.", 60, "::1")}, want: []rrset.Set{set("a.", 60, "::1")}},
		"read twice, later": {cached: []rrset.Set{set("a.", 60, "::1")}, read: []rrset.Set{set("a.", 60, "::1"), set("a.", 60, "::9")}, want: []rrset.Set{set("a.", 60, "::9")}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var cached *served
			if tc.cached != nil {
				cached = servedOf(tc.cached)
			}
			// Twice: the second read finds the first's marks.
			for range 2 {
				r := newZoneRead(cached)
				for _, s := range tc.read {
					r.add(s)
				}
				cached = r.result()
				if got, want := servedSets(cached), rrset.Keyed(tc.want); !maps.EqualFunc(got, want, rrset.Set.Equal) {
					t.Fatalf("result %v, want %v", got, want)
				}
			}
		})
	}
}

// An RRset read as cached keeps the cache's strings: reading a zone that
// did not drift copies nothing.
func TestZoneReadKeepsCachedStrings(t *testing.T) {
	t.Parallel()
	k := rrset.Key{Name: "a.z.test.", Type: "AAAA"}
	cur := rrset.Set{Key: k, TTL: 60, Records: []string{"2001:db8::1"}}
	r := newZoneRead(servedOf([]rrset.Set{cur}))
	// The answer's copies: equal strings in other memory.
	read := rrset.Set{Key: rrset.Key{Name: string([]byte(k.Name)), Type: string([]byte(k.Type))}, TTL: 60,
		Records: []string{string([]byte("2001:db8::1"))}}
	r.add(read)
	got := r.result()
	for key, v := range got.sets {
		if unsafe.StringData(key.Name) != unsafe.StringData(k.Name) || &v.Records[0] != &cur.Records[0] {
			t.Fatal("an RRset read as cached replaced the cached one")
		}
	}
	// A changed RRset keeps the cache's key strings too.
	r = newZoneRead(got)
	changed := read
	changed.Records = []string{"2001:db8::2"}
	r.add(changed)
	for key, v := range r.result().sets {
		if unsafe.StringData(key.Name) != unsafe.StringData(k.Name) || v.Records[0] != "2001:db8::2" {
			t.Fatalf("changed RRset cached as %v %v", key, v.Records)
		}
	}
}

// TestReconcileReadsDrift: a reconciliation without drift writes nothing;
// one after hand edits (an owned RRset changed, one deleted, a foreign one
// added) puts the owned ones back and leaves the foreign one alone.
func TestReconcileReadsDrift(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		s, stop := startReady(t, f)
		defer stop()
		web, db := rrset.Key{Name: "web." + zone, Type: "AAAA"}, rrset.Key{Name: "db." + zone, Type: "AAAA"}
		deliver(t, s, 1, web.Name, "2001:db8::1")
		deliver(t, s, 2, db.Name, "2001:db8::2")
		waitFor(t, "both rrsets", func() bool { return f.has(web) && f.has(db) })
		reconcile := func() {
			t.Helper()
			_, _, reads := f.counts()
			s.RequestReconcile()
			waitFor(t, "a reconciliation", func() bool { _, _, r := f.counts(); return r > reads })
			advance(100 * time.Millisecond)
		}

		before, _, _ := f.counts()
		reconcile()
		if applies, _, _ := f.counts(); applies != before {
			t.Fatalf("a reconciliation without drift wrote %d times", applies-before)
		}

		foreign := rrset.Key{Name: "hand." + zone, Type: "AAAA"}
		f.mu.Lock()
		f.sets[web] = rrset.Set{Key: web, TTL: 60, Records: []string{"2001:db8::99"}}
		delete(f.sets, db)
		f.sets[foreign] = rrset.Set{Key: foreign, TTL: 60, Records: []string{"2001:db8::7"}}
		f.mu.Unlock()
		reconcile()
		f.mu.Lock()
		got, gotDB, gotForeign := f.sets[web], f.sets[db], f.sets[foreign]
		f.mu.Unlock()
		if got.Records[0] != "2001:db8::1" || len(gotDB.Records) == 0 || len(gotForeign.Records) == 0 {
			t.Fatalf("after the reconciliation web=%v db=%v hand=%v; want web and db put back, hand kept", got, gotDB, gotForeign)
		}
		before, _, _ = f.counts()
		reconcile()
		if applies, _, _ := f.counts(); applies != before {
			t.Fatalf("a reconciliation after the drift was mended wrote %d times", applies-before)
		}
	})
}

// servedSets returns what a is caching, as sets by key.
func servedSets(a *served) map[rrset.Key]rrset.Set {
	out := map[rrset.Key]rrset.Set{}
	for k := range a.keys() {
		out[k], _ = a.Served(k)
	}
	return out
}

// A read that fails half-way leaves the cache as it was, and the next one
// is not fooled by its marks.
func TestZoneReadAfterFailedRead(t *testing.T) {
	t.Parallel()
	a := rrset.Set{Key: rrset.Key{Name: "a.", Type: "A"}, TTL: 60, Records: []string{"192.0.2.1"}}
	b := rrset.Set{Key: rrset.Key{Name: "b.", Type: "A"}, TTL: 60, Records: []string{"192.0.2.2"}}
	cached := servedOf([]rrset.Set{a, b})
	newZoneRead(cached).add(a) // abandoned: no result
	if cached.Len() != 2 {
		t.Fatalf("an abandoned read changed the cache: %v", servedSets(cached))
	}
	r := newZoneRead(cached)
	r.add(b)
	if got := servedSets(r.result()); len(got) != 1 || !got[b.Key].Equal(b) {
		t.Fatalf("result %v, want only %v", got, b)
	}
}
