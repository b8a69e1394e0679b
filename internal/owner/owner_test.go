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
	enc := EncodeBuckets("z.", s, all)
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
	rec, err := Decode("z.", meta)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.Owned
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
	enc := EncodeBuckets("z.", Set{k: {}}, []int{Bucket(k), other})
	if v := enc[other]; v == nil || len(v) != 0 {
		t.Fatalf("empty bucket must encode as an empty list (clears it), got %#v", v)
	}
	if v := enc[Bucket(k)]; len(v) != 1 || v[0] != "a/A" {
		t.Fatalf("bucket value %#v", v)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"noslash", "/A", "a.z./"} {
		if _, err := Decode("z.", map[string][]string{Kind(0): {v}}); err == nil {
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

func TestJournal(t *testing.T) {
	t.Parallel()
	a, b, c := rrset.Key{Name: "a.z.", Type: "A"}, rrset.Key{Name: "b.z.", Type: "A"}, rrset.Key{Name: "c.z.", Type: "AAAA"}
	meta := map[string][]string{
		Kind(Bucket(a)):   EncodeBuckets("z.", Set{a: {}}, []int{Bucket(a)})[Bucket(a)],
		JournalKind(2):    EncodeJournal("z.", []rrset.Key{a, b}, false)[0], // applied after 1: a and b released
		JournalKind(1):    EncodeJournal("z.", []rrset.Key{b, c}, true)[0],
		JournalKind(0x1F): EncodeJournal("z.", []rrset.Key{b}, true)[0], // numeric order, not string order
		JournalKind(5):    {},                                           // emptied by a compaction
	}
	rec, err := Decode("z.", meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Owned) != 2 || !rec.Owned.Has(b) || !rec.Owned.Has(c) {
		t.Fatalf("owned %v, want b and c", rec.Owned)
	}
	if rec.NextSeq != 0x20 || len(rec.Journal) != 3 || rec.Journal[2] != JournalKind(0x1F) {
		t.Fatalf("journal %v next %d", rec.Journal, rec.NextSeq)
	}
	// Compacting: buckets rewritten from the result, journals emptied, same set.
	all := make([]int, Buckets)
	for i := range all {
		all[i] = i
	}
	compact := map[string][]string{}
	for bk, v := range EncodeBuckets("z.", rec.Owned, all) {
		compact[Kind(bk)] = v
	}
	again, err := Decode("z.", compact)
	if err != nil || len(again.Owned) != 2 {
		t.Fatalf("compacted: %v %v", again.Owned, err)
	}
	// A crash before the journals were emptied: replaying them on top of the
	// compacted buckets gives the same set.
	for k, v := range meta {
		if strings.HasPrefix(k, JournalPrefix) {
			compact[k] = v
		}
	}
	replayed, err := Decode("z.", compact)
	if err != nil || len(replayed.Owned) != 2 || !replayed.Owned.Has(b) || !replayed.Owned.Has(c) {
		t.Fatalf("replayed journal over compacted buckets: %v %v", replayed.Owned, err)
	}
	if _, err := Decode("z.", map[string][]string{JournalKind(1): {"a/A"}}); err == nil {
		t.Fatal("journal entry without sign accepted")
	}
}

func TestEncodeJournalSplits(t *testing.T) {
	t.Parallel()
	keys := make([]rrset.Key, 200000)
	for i := range keys {
		keys[i] = rrset.Key{Name: fmt.Sprintf("host-%06d.z.", i), Type: "AAAA"}
	}
	parts := EncodeJournal("z.", keys, true)
	meta := map[string][]string{}
	for i, p := range parts {
		if len(p[0]) > MaxJournalBytes {
			t.Fatalf("part of %d bytes exceeds %d", len(p[0]), MaxJournalBytes)
		}
		if !strings.HasPrefix(p[0], packPrefix) {
			t.Fatalf("a large part is not compressed")
		}
		meta[JournalKind(uint64(i))] = p
	}
	rec, err := Decode("z.", meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 2 || len(rec.Owned) != len(keys) {
		t.Fatalf("%d parts holding %d keys, want several holding %d", len(parts), len(rec.Owned), len(keys))
	}
}

func TestApexAndRelativeEntries(t *testing.T) {
	t.Parallel()
	apex, deep := rrset.Key{Name: "z.", Type: "TXT"}, rrset.Key{Name: "a.b.z.", Type: "A"}
	j := EncodeJournal("z.", []rrset.Key{apex, deep}, true)
	if j[0][0] != "+@/TXT +a.b/A" {
		t.Fatalf("journal value %q", j[0][0])
	}
	rec, err := Decode("z.", map[string][]string{JournalKind(0): j[0]})
	if err != nil || !rec.Owned.Has(apex) || !rec.Owned.Has(deep) {
		t.Fatalf("decoded %v, %v", rec.Owned, err)
	}
}

func TestPackedValues(t *testing.T) {
	t.Parallel()
	small := "+a/A"
	if pack(small) != small {
		t.Fatal("a small value must stay readable")
	}
	big := strings.Repeat("+host-000000/AAAA ", 1000)
	p := pack(big)
	if len(p) >= len(big)/4 {
		t.Fatalf("packed %d bytes into %d", len(big), len(p))
	}
	if got, err := unpack(p, "k"); err != nil || got != big {
		t.Fatalf("unpack: %v", err)
	}
	if _, err := Decode("z.", map[string][]string{JournalKind(0): {packPrefix + "bm90IGd6aXA="}}); err == nil {
		t.Fatal("a corrupt packed value was accepted")
	}
}

// The apex NS is never recorded, even when the owned set holds it (a
// signed zone's writer owns it in memory).
func TestEncodeBucketsLeavesOutApexNS(t *testing.T) {
	t.Parallel()
	apex := rrset.Key{Name: "z.", Type: "NS"}
	other := rrset.Key{Name: "a.z.", Type: "NS"}
	all := make([]int, Buckets)
	for i := range all {
		all[i] = i
	}
	meta := map[string][]string{}
	for b, v := range EncodeBuckets("z.", Set{apex: {}, other: {}}, all) {
		meta[Kind(b)] = v
	}
	rec, err := Decode("z.", meta)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Owned.Has(apex) || !rec.Owned.Has(other) {
		t.Fatalf("recorded %v, want %v only", rec.Owned, other)
	}
}
