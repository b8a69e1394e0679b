package rrset

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMerge(t *testing.T) {
	t.Parallel()
	a := Key{Name: "www.example.com.", Type: "A"}
	cname := Key{Name: "alias.example.com.", Type: "CNAME"}
	tests := map[string]struct {
		key      Key
		contribs []Contribution
		want     Set
	}{
		"no contribution": {key: a, want: Set{Key: a}},
		"only empty contributions": {
			key:      a,
			contribs: []Contribution{{TTL: 60}, {TTL: 30, Records: []string{}}},
			want:     Set{Key: a},
		},
		"one contribution": {
			key:      a,
			contribs: []Contribution{{TTL: 300, Records: []string{"192.0.2.2", "192.0.2.1"}}},
			want:     Set{Key: a, TTL: 300, Records: []string{"192.0.2.1", "192.0.2.2"}},
		},
		"union and min ttl": {
			key: a,
			contribs: []Contribution{
				{TTL: 300, Records: []string{"192.0.2.1"}},
				{TTL: 60, Records: []string{"192.0.2.2", "192.0.2.1"}},
				{TTL: 3600, Records: []string{"192.0.2.3"}},
			},
			want: Set{Key: a, TTL: 60, Records: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
		},
		"empty contribution does not lower ttl": {
			key: a,
			contribs: []Contribution{
				{TTL: 1, Records: nil},
				{TTL: 300, Records: []string{"192.0.2.1"}},
			},
			want: Set{Key: a, TTL: 300, Records: []string{"192.0.2.1"}},
		},
		"duplicates within one contribution": {
			key:      a,
			contribs: []Contribution{{TTL: 300, Records: []string{"192.0.2.1", "192.0.2.1"}}},
			want:     Set{Key: a, TTL: 300, Records: []string{"192.0.2.1"}},
		},
		"cname agreement": {
			key: cname,
			contribs: []Contribution{
				{TTL: 300, Records: []string{"target.example.com."}},
				{TTL: 120, Records: []string{"target.example.com."}},
			},
			want: Set{Key: cname, TTL: 120, Records: []string{"target.example.com."}},
		},
		"cname conflict picks smallest": {
			key: cname,
			contribs: []Contribution{
				{TTL: 300, Records: []string{"zeta.example.com."}},
				{TTL: 600, Records: []string{"alpha.example.com."}},
				{TTL: 900, Records: []string{"mid.example.com."}},
			},
			want: Set{Key: cname, TTL: 300, Records: []string{"alpha.example.com."}},
		},
		"cname conflict with an empty contribution": {
			key: cname,
			contribs: []Contribution{
				{TTL: 60},
				{TTL: 300, Records: []string{"b.example.com."}},
			},
			want: Set{Key: cname, TTL: 300, Records: []string{"b.example.com."}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := Merge(tc.key, tc.contribs)
			if !got.Equal(tc.want) {
				t.Fatalf("Merge = %+v, want %+v", got, tc.want)
			}
			if len(got.Records) == 0 && got.Records != nil {
				t.Fatalf("empty merge has non-nil records %#v", got.Records)
			}
			// Order independence: every permutation gives the same set.
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			for range 20 {
				perm := slices.Clone(tc.contribs)
				rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
				if p := Merge(tc.key, perm); !p.Equal(got) {
					t.Fatalf("Merge depends on order: %+v vs %+v", p, got)
				}
			}
		})
	}
}

func TestMergeDoesNotAliasInputs(t *testing.T) {
	t.Parallel()
	in := []string{"192.0.2.9", "192.0.2.1", "192.0.2.9"}
	contribs := []Contribution{{TTL: 300, Records: in}}
	got := Merge(Key{Name: "a.example.", Type: "A"}, contribs)
	if want := []string{"192.0.2.9", "192.0.2.1", "192.0.2.9"}; !slices.Equal(in, want) {
		t.Fatalf("Merge modified its input: %v", in)
	}
	got.Records[0] = "changed"
	if in[1] == "changed" || in[0] == "changed" {
		t.Fatalf("Merge result aliases its input")
	}
}

func TestNormalizeAndEqual(t *testing.T) {
	t.Parallel()
	k := Key{Name: "a.example.", Type: "TXT"}
	s := Normalize(Set{Key: k, TTL: 60, Records: []string{`"b"`, `"a"`, `"b"`}})
	want := Set{Key: k, TTL: 60, Records: []string{`"a"`, `"b"`}}
	if !s.Equal(want) {
		t.Fatalf("Normalize = %+v, want %+v", s, want)
	}
	tests := map[string]Set{
		"other ttl":     {Key: k, TTL: 61, Records: want.Records},
		"other name":    {Key: Key{Name: "b.example.", Type: "TXT"}, TTL: 60, Records: want.Records},
		"other type":    {Key: Key{Name: "a.example.", Type: "A"}, TTL: 60, Records: want.Records},
		"fewer records": {Key: k, TTL: 60, Records: []string{`"a"`}},
	}
	for name, o := range tests {
		if want.Equal(o) {
			t.Errorf("%s: Equal reported true for %+v", name, o)
		}
	}
}

func TestSortKeysAndLess(t *testing.T) {
	t.Parallel()
	keys := []Key{
		{Name: "b.example.", Type: "A"},
		{Name: "a.example.", Type: "TXT"},
		{Name: "a.example.", Type: "AAAA"},
		{Name: "a.example.", Type: "A"},
	}
	SortKeys(keys)
	want := []Key{
		{Name: "a.example.", Type: "A"},
		{Name: "a.example.", Type: "AAAA"},
		{Name: "a.example.", Type: "TXT"},
		{Name: "b.example.", Type: "A"},
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("SortKeys = %v, want %v", keys, want)
	}
	for i := 0; i+1 < len(keys); i++ {
		if !keys[i].Less(keys[i+1]) || keys[i+1].Less(keys[i]) {
			t.Fatalf("Less disagrees with SortKeys at %d", i)
		}
	}
	if got := want[0].String(); got != "a.example. A" {
		t.Fatalf("Key.String() = %q", got)
	}
}

func TestKeyed(t *testing.T) {
	a := Set{Key: Key{Name: "a.", Type: "A"}, TTL: 1, Records: []string{"192.0.2.1"}}
	b := Set{Key: Key{Name: "a.", Type: "AAAA"}, TTL: 1, Records: []string{"2001:db8::1"}}
	a2 := a
	a2.TTL = 2
	got := Keyed([]Set{a, b, a2})
	if len(got) != 2 || got[a.Key].TTL != 2 || !got[b.Key].Equal(b) {
		t.Fatalf("Keyed = %v", got)
	}
}
