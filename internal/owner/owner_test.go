package owner

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zonecast/zonecast/internal/rrset"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s := Set{}
	for i := 0; i < 1000; i++ {
		s[rrset.Key{Name: fmt.Sprintf("h%d.z.", i), Type: "AAAA"}] = struct{}{}
	}
	all := make([]int, Buckets)
	for i := range all {
		all[i] = i
	}
	enc := EncodeBuckets(s, all)
	meta := map[string][]string{"X-OTHER": {"ignored/A"}}
	used := 0
	for b, v := range enc {
		meta[Kind(b)] = v
		if len(v) > 0 {
			used++
		}
	}
	if used < Buckets/2 {
		t.Fatalf("1000 keys filled only %d of %d buckets", used, Buckets)
	}
	got, err := Decode(meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(s) {
		t.Fatalf("decoded %d keys, want %d", len(got), len(s))
	}
	for k := range s {
		if !got.Has(k) {
			t.Fatalf("lost %v", k)
		}
	}
}

func TestEncodeEmptyBucket(t *testing.T) {
	t.Parallel()
	k := rrset.Key{Name: "a.z.", Type: "A"}
	other := (Bucket(k) + 1) % Buckets
	enc := EncodeBuckets(Set{k: {}}, []int{Bucket(k), other})
	if v := enc[other]; v == nil || len(v) != 0 {
		t.Fatalf("empty bucket must encode as an empty list (clears it), got %#v", v)
	}
	if v := enc[Bucket(k)]; len(v) != 1 || v[0] != "a.z./A" {
		t.Fatalf("bucket value %#v", v)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"noslash", "/A", "a.z./"} {
		if _, err := Decode(map[string][]string{Kind(0): {v}}); err == nil {
			t.Errorf("Decode(%q) accepted a malformed entry", v)
		}
	}
}

func TestKindAndTouched(t *testing.T) {
	t.Parallel()
	if Kind(10) != "X-ZONECAST-OWNED-0A" || !strings.HasPrefix(Kind(63), KindPrefix) {
		t.Fatalf("Kind: %s %s", Kind(10), Kind(63))
	}
	k := rrset.Key{Name: "a.z.", Type: "A"}
	if got := Touched([]rrset.Key{k, k}); len(got) != 1 || got[0] != Bucket(k) {
		t.Fatalf("Touched = %v", got)
	}
}
