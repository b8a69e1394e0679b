package plan

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/rrset"
)

func key(n, t string) rrset.Key { return rrset.Key{Name: n, Type: t} }

func set(n, t string, ttl uint32, recs ...string) rrset.Set {
	return rrset.Set{Key: key(n, t), TTL: ttl, Records: recs}
}

func TestCompute(t *testing.T) {
	t.Parallel()
	a := key("a.z.", "AAAA")
	want := set("a.z.", "AAAA", 60, "2001:db8::1")
	tests := map[string]struct {
		desired map[rrset.Key]rrset.Set
		actual  Sets
		owned   owner.Set
		want    Changes
	}{
		"desired and absent: create and claim": {
			desired: map[rrset.Key]rrset.Set{a: want},
			want:    Changes{Upserts: []rrset.Set{want}, Claims: []rrset.Key{a}},
		},
		"desired, absent, already owned: create without a new claim": {
			desired: map[rrset.Key]rrset.Set{a: want},
			owned:   owner.Set{a: {}},
			want:    Changes{Upserts: []rrset.Set{want}},
		},
		"owned and equal: nothing": {
			desired: map[rrset.Key]rrset.Set{a: want},
			actual:  Sets{a: want},
			owned:   owner.Set{a: {}},
		},
		"owned and different content: replace": {
			desired: map[rrset.Key]rrset.Set{a: want},
			actual:  Sets{a: set("a.z.", "AAAA", 60, "2001:db8::2")},
			owned:   owner.Set{a: {}},
			want:    Changes{Upserts: []rrset.Set{want}},
		},
		"owned and different ttl: replace": {
			desired: map[rrset.Key]rrset.Set{a: want},
			actual:  Sets{a: set("a.z.", "AAAA", 300, "2001:db8::1")},
			owned:   owner.Set{a: {}},
			want:    Changes{Upserts: []rrset.Set{want}},
		},
		"foreign rrset: conflict, untouched": {
			desired: map[rrset.Key]rrset.Set{a: want},
			actual:  Sets{a: set("a.z.", "AAAA", 60, "2001:db8::9")},
			want:    Changes{Conflicts: []Conflict{{Desired: want, Actual: set("a.z.", "AAAA", 60, "2001:db8::9")}}},
		},
		"foreign rrset not desired: untouched": {
			actual: Sets{a: want},
		},
		"owned, not desired, present: delete then release": {
			actual: Sets{a: want},
			owned:  owner.Set{a: {}},
			want:   Changes{Deletes: []rrset.Key{a}, Releases: []rrset.Key{a}},
		},
		"owned, not desired, absent: release only": {
			owned: owner.Set{a: {}},
			want:  Changes{Releases: []rrset.Key{a}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			get := func(k rrset.Key) rrset.Set {
				if s, ok := tc.desired[k]; ok {
					return s
				}
				return rrset.Set{Key: k}
			}
			got := Compute([]rrset.Key{a}, get, tc.actual, tc.owned)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Compute:\n got %+v\nwant %+v", got, tc.want)
			}
			var sets []rrset.Set
			var undesired []rrset.Key
			if d, ok := tc.desired[a]; ok {
				sets = append(sets, d)
			} else {
				undesired = append(undesired, a)
			}
			viaSets := ComputeSets(sets, undesired, tc.actual, tc.owned)
			if fmt.Sprint(viaSets) != fmt.Sprint(got) {
				t.Fatalf("ComputeSets = %+v, Compute = %+v", viaSets, got)
			}
			if got.HasChanges() != (tc.want.Writes()+len(tc.want.Claims)+len(tc.want.Releases) > 0) {
				t.Fatalf("HasChanges = %v", got.HasChanges())
			}
		})
	}
}

func TestComputeSkipsSOA(t *testing.T) {
	t.Parallel()
	soa := key("z.", "SOA")
	got := Compute([]rrset.Key{soa}, func(k rrset.Key) rrset.Set { return set("z.", "SOA", 1, "x") },
		Sets{}, owner.Set{soa: {}})
	if got.HasChanges() || len(got.Conflicts) > 0 {
		t.Fatalf("SOA must never be planned, got %+v", got)
	}
}
