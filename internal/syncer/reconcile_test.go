package syncer

import (
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
)

// A full pass leaves out only the sets it would have nothing to do with.
func TestSettled(t *testing.T) {
	t.Parallel()
	const zone = "z.test."
	a := rrset.Set{Key: rrset.Key{Name: "a." + zone, Type: "A"}, TTL: 60, Records: []string{"192.0.2.1"}}
	soa := rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 60, Records: []string{"ns. host. 1 2 3 4 5"}}
	changed := a
	changed.Records = []string{"192.0.2.2"}
	state := func() *zoneState {
		return &zoneState{actual: servedOf([]rrset.Set{a, soa}), owned: map[rrset.Key]struct{}{a.Key: {}, soa.Key: {}},
			conflicts: map[rrset.Key]bool{}, held: map[rrset.Key]struct{}{}, approved: map[rrset.Key]struct{}{}}
	}
	for name, tc := range map[string]struct {
		set    rrset.Set
		change func(*zoneState)
		want   bool
	}{
		"served as desired": {set: a, want: true},
		"differs":           {set: changed, want: false},
		"not owned":         {set: a, change: func(zs *zoneState) { delete(zs.owned, a.Key) }, want: false},
		"absent":            {set: a, change: func(zs *zoneState) { zs.actual.drop(a.Key) }, want: false},
		"in conflict":       {set: a, change: func(zs *zoneState) { zs.conflicts[a.Key] = true }, want: false},
		"held":              {set: a, change: func(zs *zoneState) { zs.held[a.Key] = struct{}{} }, want: false},
		"approved":          {set: a, change: func(zs *zoneState) { zs.approved[a.Key] = struct{}{} }, want: false},
		"the zone's SOA":    {set: soa, want: false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			zs := state()
			if tc.change != nil {
				tc.change(zs)
			}
			if got := zs.settled(zone, tc.set); got != tc.want {
				t.Fatalf("settled = %v, want %v", got, tc.want)
			}
		})
	}
}
