package syncer

import (
	"testing"

	"github.com/zonecast/zonecast/internal/plan"
	"github.com/zonecast/zonecast/internal/rrset"
)

func TestTakeInRectify(t *testing.T) {
	t.Parallel()
	const z = "example.test."
	set := func(name, typ string) rrset.Set {
		return rrset.Set{Key: rrset.Key{Name: name, Type: typ}, TTL: 60, Records: []string{"x"}}
	}
	flat := []rrset.Set{set(z, "SOA"), set(z, "NS"), set("a."+z, "A"), set("*."+z, "A")}
	deep := append([]rrset.Set{set("x.y."+z, "A")}, flat...)
	tests := map[string]struct {
		zone    string
		have    []rrset.Set
		ch      plan.Changes
		bad     map[rrset.Key]bool
		want    bool
		wantLen int
	}{
		"new name in a flat zone": {zone: z, have: flat,
			ch: plan.Changes{Upserts: []rrset.Set{set("b."+z, "A")}}, wantLen: 5},
		"new type at a name in a flat zone": {zone: z, have: flat,
			ch: plan.Changes{Upserts: []rrset.Set{set("a."+z, "AAAA")}}, wantLen: 5},
		"name gone from a flat zone": {zone: z, have: flat,
			ch: plan.Changes{Deletes: []rrset.Key{{Name: "a." + z, Type: "A"}}}, wantLen: 3},
		"changed content only": {zone: z, have: deep,
			ch: plan.Changes{Upserts: []rrset.Set{set("x.y."+z, "A")}}, wantLen: 5},
		"name two labels down": {zone: z, have: flat, want: true,
			ch: plan.Changes{Upserts: []rrset.Set{set("c.d."+z, "A")}}, wantLen: 5},
		"delegation": {zone: z, have: flat, want: true,
			ch: plan.Changes{Upserts: []rrset.Set{set("sub."+z, "NS")}}, wantLen: 5},
		"new name in a zone with depth": {zone: z, have: deep, want: true,
			ch: plan.Changes{Upserts: []rrset.Set{set("b."+z, "A")}}, wantLen: 6},
		"last deep name gone": {zone: z, have: deep, want: true,
			ch: plan.Changes{Deletes: []rrset.Key{{Name: "x.y." + z, Type: "A"}}}, wantLen: 4},
		"refused deep name": {zone: z, have: flat,
			ch:  plan.Changes{Upserts: []rrset.Set{set("c.d."+z, "A")}},
			bad: map[rrset.Key]bool{{Name: "c.d." + z, Type: "A"}: true}, wantLen: 4},
		"delete of what is not there": {zone: z, have: deep,
			ch: plan.Changes{Deletes: []rrset.Key{{Name: "b." + z, Type: "A"}}}, wantLen: 5},
		"root zone, flat": {zone: ".", have: []rrset.Set{set(".", "SOA")},
			ch: plan.Changes{Upserts: []rrset.Set{set("tld.", "A")}}, wantLen: 2},
		"root zone, deep": {zone: ".", have: []rrset.Set{set(".", "SOA")}, want: true,
			ch: plan.Changes{Upserts: []rrset.Set{set("a.tld.", "A")}}, wantLen: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			zs := &zoneState{actual: servedOf(tc.have), approved: map[rrset.Key]struct{}{}}
			if got := zs.takeIn(tc.zone, tc.ch, tc.bad); got != tc.want {
				t.Fatalf("takeIn = %v, want %v", got, tc.want)
			}
			if zs.actual.Len() != tc.wantLen {
				t.Fatalf("actual holds %d RRsets, want %d", zs.actual.Len(), tc.wantLen)
			}
		})
	}
	t.Run("depth counted across batches", func(t *testing.T) {
		t.Parallel()
		zs := &zoneState{actual: newServed(0), approved: map[rrset.Key]struct{}{}}
		steps := []struct {
			ch   plan.Changes
			want bool
		}{
			{plan.Changes{Upserts: []rrset.Set{set("a."+z, "A")}}, false},
			{plan.Changes{Upserts: []rrset.Set{set("x.y."+z, "A")}}, true},
			{plan.Changes{Upserts: []rrset.Set{set("b."+z, "A")}}, true},
			{plan.Changes{Deletes: []rrset.Key{{Name: "x.y." + z, Type: "A"}}}, true},
			{plan.Changes{Upserts: []rrset.Set{set("c."+z, "A")}}, false},
		}
		for i, st := range steps {
			if got := zs.takeIn(z, st.ch, nil); got != st.want {
				t.Fatalf("step %d: takeIn = %v, want %v", i, got, st.want)
			}
		}
	})
}
