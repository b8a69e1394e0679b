package syncer

import (
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/status"
)

func TestHealer(t *testing.T) {
	t.Parallel()
	z := func(applied uint64, serial uint32, missing bool) status.Node {
		return status.Node{Zones: []status.Zone{{Zone: "z.", AppliedSeq: applied, Serial: serial, SerialKnown: !missing, Missing: missing}}}
	}
	tests := map[string]struct {
		checks []status.Node
		want   []int // how many zones each check reports
	}{
		"in sync":                 {checks: []status.Node{z(5, 5, false), z(5, 5, false)}, want: []int{0, 0}},
		"missing at once":         {checks: []status.Node{z(5, 0, true)}, want: []int{1}},
		"mismatch once (a round)": {checks: []status.Node{z(5, 4, false), z(6, 6, false)}, want: []int{0, 0}},
		"mismatch twice":          {checks: []status.Node{z(5, 4, false), z(5, 4, false), z(5, 4, false), z(5, 4, false)}, want: []int{0, 1, 0, 1}},
		"moving mismatch":         {checks: []status.Node{z(5, 4, false), z(6, 5, false)}, want: []int{0, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := healer{seen: map[string]observation{}}
			for i, n := range tc.checks {
				if got := len(h.check(n)); got != tc.want[i] {
					t.Fatalf("check %d reported %d zones, want %d", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestSOASerial(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		rec  []string
		want uint32
		ok   bool
	}{
		"normal":  {rec: []string{"ns1.z. hostmaster.z. 42 10800 3600 604800 60"}, want: 42, ok: true},
		"garbage": {rec: []string{"x"}},
		"none":    {},
	}
	for name, c := range cases {
		got, ok := soaSerial(rrsetOf(c.rec))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d %v", name, got, ok)
		}
	}
}

func rrsetOf(records []string) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: "z.", Type: "SOA"}, TTL: 60, Records: records}
}
