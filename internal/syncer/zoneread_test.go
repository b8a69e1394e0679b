package syncer

import (
	"maps"
	"testing"
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
			var cached map[rrset.Key]rrset.Set
			if tc.cached != nil {
				cached = map[rrset.Key]rrset.Set{}
				for _, s := range tc.cached {
					cached[s.Key] = s
				}
			}
			r := newZoneRead(cached)
			for _, s := range tc.read {
				r.add(s)
			}
			got := r.result()
			want := map[rrset.Key]rrset.Set{}
			for _, s := range tc.want {
				want[s.Key] = s
			}
			if !maps.EqualFunc(got, want, rrset.Set.Equal) {
				t.Fatalf("result %v, want %v", got, want)
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
	cached := map[rrset.Key]rrset.Set{k: cur}
	r := newZoneRead(cached)
	// The answer's copies: equal strings in other memory.
	read := rrset.Set{Key: rrset.Key{Name: string([]byte(k.Name)), Type: string([]byte(k.Type))}, TTL: 60,
		Records: []string{string([]byte("2001:db8::1"))}}
	r.add(read)
	got := r.result()[k]
	if unsafe.StringData(got.Name) != unsafe.StringData(cur.Name) || &got.Records[0] != &cur.Records[0] {
		t.Fatal("an RRset read as cached replaced the cached one")
	}
}
