package zonelist

import (
	"slices"
	"testing"
)

func TestWritable(t *testing.T) {
	t.Parallel()
	listed := func(names ...string) map[string]Zone {
		m := map[string]Zone{}
		for _, n := range names {
			m[n] = Zone{V: Version, Name: n, SOA: DefaultSOA}
		}
		return m
	}
	own := []string{"dyn.example.com.", "c1.example.com.", "c2.example.com."}
	tests := map[string]struct {
		own                []string
		list               *List
		inUse              bool
		writable, unlisted []string
	}{
		"no bucket": {own: own, list: nil,
			writable: []string{"c1.example.com.", "c2.example.com.", "dyn.example.com."}},
		"empty bucket": {own: own, list: NewList(),
			writable: []string{"c1.example.com.", "c2.example.com.", "dyn.example.com."}},
		"listed and not": {own: own, inUse: true,
			list:     &List{Zones: listed("c1.example.com.", "other.example."), Removed: map[string]bool{}, Bad: map[string]string{}},
			writable: []string{"c1.example.com."}, unlisted: []string{"c2.example.com.", "dyn.example.com."}},
		"every zone listed": {own: own, inUse: true,
			list:     &List{Zones: listed("c1.example.com.", "c2.example.com.", "dyn.example.com."), Removed: map[string]bool{}, Bad: map[string]string{}},
			writable: []string{"c1.example.com.", "c2.example.com.", "dyn.example.com."}},
		"last zone removed": {own: own, inUse: true,
			list:     &List{Zones: map[string]Zone{}, Removed: map[string]bool{"c1.example.com.": true}, Bad: map[string]string{}},
			unlisted: []string{"c1.example.com.", "c2.example.com.", "dyn.example.com."}},
		"entry does not read": {own: own[:2], inUse: true,
			list:     &List{Zones: listed("dyn.example.com."), Removed: map[string]bool{}, Bad: map[string]string{"c1.example.com": "bad"}},
			writable: []string{"dyn.example.com."}, unlisted: []string{"c1.example.com."}},
		"only others' bad entry": {own: own[:1], inUse: true,
			list:     &List{Zones: map[string]Zone{}, Removed: map[string]bool{}, Bad: map[string]string{"x.example": "bad"}},
			unlisted: []string{"dyn.example.com."}},
		"no zones of its own": {own: nil, inUse: true,
			list: &List{Zones: listed("c1.example.com."), Removed: map[string]bool{}, Bad: map[string]string{}}},
		"parent listed, subzone not": {own: []string{"example.com.", "sub.example.com."}, inUse: true,
			list:     &List{Zones: listed("example.com."), Removed: map[string]bool{}, Bad: map[string]string{}},
			writable: []string{"example.com."}, unlisted: []string{"sub.example.com."}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.list.InUse(); got != tc.inUse {
				t.Errorf("InUse = %v, want %v", got, tc.inUse)
			}
			w, u := Writable(tc.own, tc.list)
			if !slices.Equal(w, tc.writable) || !slices.Equal(u, tc.unlisted) {
				t.Errorf("Writable = %v, %v; want %v, %v", w, u, tc.writable, tc.unlisted)
			}
		})
	}
}
