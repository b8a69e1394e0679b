package owner

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/zonecast/zonecast/internal/rrset"
)

// checkOnto decodes meta onto a copy of prev with extra and compares the
// result with Decode's plus extra; on error, prev must be unchanged.
func checkOnto(t *testing.T, meta map[string][]string, prev Set, extra []rrset.Key) {
	t.Helper()
	onto := maps.Clone(prev)
	got, err := DecodeOnto("z.", meta, onto, extra)
	want, werr := Decode("z.", meta)
	if (err != nil) != (werr != nil) {
		t.Fatalf("DecodeOnto error %v, Decode error %v", err, werr)
	}
	if err != nil {
		if !maps.Equal(onto, prev) {
			t.Fatalf("a failed DecodeOnto changed prev: %v, was %v", onto, prev)
		}
		return
	}
	for _, k := range extra {
		want.Owned[k] = struct{}{}
	}
	if !maps.Equal(got.Owned, want.Owned) {
		t.Fatalf("DecodeOnto owned %v\nDecode owned %v", got.Owned, want.Owned)
	}
	if reflect.ValueOf(got.Owned).UnsafePointer() != reflect.ValueOf(onto).UnsafePointer() {
		t.Fatal("DecodeOnto did not return prev itself")
	}
	if got.NextSeq != want.NextSeq || !slicesEqual(got.Journal, want.Journal) {
		t.Fatalf("journal %v next %d, want %v next %d", got.Journal, got.NextSeq, want.Journal, want.NextSeq)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }

// TestDecodeOnto: random records (buckets as written, hand-made or
// misplaced entries, repeats, journals) over random earlier sets.
func TestDecodeOnto(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() rrset.Key {
		return rrset.Key{Name: fmt.Sprintf("h%d.z.", rng.IntN(40)), Type: []string{"A", "AAAA"}[rng.IntN(2)]}
	}
	keys := func(n int) []rrset.Key {
		out := make([]rrset.Key, n)
		for i := range out {
			out[i] = key()
		}
		return out
	}
	all := make([]int, Buckets)
	for i := range all {
		all[i] = i
	}
	for i := range 2000 {
		owned := Set{}
		for _, k := range keys(rng.IntN(30)) {
			owned[k] = struct{}{}
		}
		meta := map[string][]string{}
		for b, v := range EncodeBuckets("z.", owned, all) {
			if len(v) > 0 {
				meta[Kind(b)] = v
			}
		}
		switch rng.IntN(4) {
		case 0: // an entry repeated in its bucket
			if k := key(); true {
				b := Kind(Bucket(k))
				meta[b] = append(meta[b], entry(k, "z."), entry(k, "z."))
			}
		case 1: // an entry in another bucket
			k := key()
			b := Kind((Bucket(k) + 1) % Buckets)
			meta[b] = append(meta[b], entry(k, "z."))
		case 2: // a bucket kind not as Kind writes it, for the same number
			k := key()
			meta[fmt.Sprintf("%s%03X", KindPrefix, Bucket(k))] = []string{entry(k, "z.")}
		}
		for j := range rng.IntN(3) {
			claim := rng.IntN(2) == 0
			for n, v := range EncodeJournal("z.", keys(rng.IntN(5)), claim) {
				meta[JournalKind(uint64(10*j+n))] = v
			}
		}
		if rng.IntN(10) == 0 {
			meta[Kind(rng.IntN(Buckets))] = []string{"bad"}
		}
		prev := maps.Clone(owned)
		for _, k := range keys(rng.IntN(4)) { // drift either way
			if rng.IntN(2) == 0 {
				prev[k] = struct{}{}
			} else {
				delete(prev, k)
			}
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkOnto(t, meta, prev, keys(rng.IntN(3))) })
	}
}

// The earlier set's keys keep their strings: they are those the desired
// and actual state share.
func TestDecodeOntoKeepsStrings(t *testing.T) {
	t.Parallel()
	k := rrset.Key{Name: "a.z.", Type: "A"}
	prev := Set{k: {}}
	meta := map[string][]string{Kind(Bucket(k)): {"a/A"}, JournalKind(0): {"+a/A"}}
	got, err := DecodeOnto("z.", meta, prev, []rrset.Key{{Name: string([]byte("a.z.")), Type: "A"}})
	if err != nil {
		t.Fatal(err)
	}
	for key := range got.Owned {
		if unsafe.StringData(key.Name) != unsafe.StringData(k.Name) {
			t.Fatal("the owned key's strings were replaced by the record's")
		}
	}
}

// FuzzDecodeOnto: whatever PowerDNS holds in the metadata, DecodeOnto
// agrees with Decode and leaves the earlier set alone on error.
func FuzzDecodeOnto(f *testing.F) {
	f.Add("a/A b/AAAA", "+c/A -a/A", "a b", "d/A")
	f.Add("@/TXT", "", "", "")
	f.Add("a/A a/A", "-a/A +a/A", "a", "x")
	f.Fuzz(func(t *testing.T, bucket, journal, prevNames, extraEntry string) {
		meta := map[string][]string{}
		for _, e := range strings.Fields(bucket) {
			k, err := parseKey(e, "", "z.")
			b := 0
			if err == nil {
				b = Bucket(k)
			}
			meta[Kind(b)] = append(meta[Kind(b)], e)
		}
		if journal != "" {
			meta[JournalKind(0)] = []string{journal}
		}
		prev := Set{}
		for _, n := range strings.Fields(prevNames) {
			prev[rrset.Key{Name: n + ".z.", Type: "A"}] = struct{}{}
		}
		var extra []rrset.Key
		if k, err := parseKey(extraEntry, "", "z."); err == nil {
			extra = append(extra, k)
		}
		checkOnto(t, meta, prev, extra)
	})
}
