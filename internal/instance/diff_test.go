package instance

import (
	"reflect"
	"testing"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

func TestIndexMergesSharedNames(t *testing.T) {
	t.Parallel()
	got := Index([]events.Message{
		msg("web.z.", "AAAA", 60, "2001:db8::2"),
		msg("web.z.", "AAAA", 30, "2001:db8::1"),
		msg("db.z.", "A", 60, "192.0.2.1"),
		{Version: 1, Name: "gone.z.", Type: "A", Origin: "node1"},
	})
	want := map[rrset.Key]events.Message{
		{Name: "web.z.", Type: "AAAA"}: msg("web.z.", "AAAA", 30, "2001:db8::1", "2001:db8::2"),
		{Name: "db.z.", Type: "A"}:     msg("db.z.", "A", 60, "192.0.2.1"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Index:\n got %+v\nwant %+v", got, want)
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	a := msg("a.z.", "A", 60, "192.0.2.1")
	a2 := msg("a.z.", "A", 60, "192.0.2.2")
	aTTL := msg("a.z.", "A", 300, "192.0.2.1")
	b := msg("b.z.", "AAAA", 60, "2001:db8::1")
	c := msg("c.z.", "A", 60, "192.0.2.3")
	idx := func(ms ...events.Message) map[rrset.Key]events.Message { return Index(ms) }
	tomb := func(m events.Message) events.Message { return Tombstone("node1", m.Key()) }
	tests := map[string]struct {
		published, desired map[rrset.Key]events.Message
		want               Changes
	}{
		"nothing":             {},
		"first sync":          {desired: idx(a, b), want: Changes{Publish: []events.Message{a, b}}},
		"unchanged":           {published: idx(a, b), desired: idx(a, b)},
		"records changed":     {published: idx(a, b), desired: idx(a2, b), want: Changes{Publish: []events.Message{a2}}},
		"ttl changed":         {published: idx(a), desired: idx(aTTL), want: Changes{Publish: []events.Message{aTTL}}},
		"gone":                {published: idx(a, b, c), desired: idx(b), want: Changes{Tombstones: []events.Message{tomb(a), tomb(c)}}},
		"everything gone":     {published: idx(a, b), want: Changes{Tombstones: []events.Message{tomb(a), tomb(b)}}},
		"rename: old and new": {published: idx(a), desired: idx(c), want: Changes{Publish: []events.Message{c}, Tombstones: []events.Message{tomb(a)}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Diff("node1", tc.published, tc.desired)
			if got.HasChanges() != tc.want.HasChanges() || !reflect.DeepEqual(got, tc.want) && got.HasChanges() {
				t.Errorf("Diff:\n got %+v\nwant %+v", got, tc.want)
			}
			for _, m := range got.Tombstones {
				if _, err := events.Encode(m); err != nil || !m.Tombstone() {
					t.Errorf("tombstone %+v invalid: %v", m, err)
				}
			}
		})
	}
}
