// Package owner records which RRsets of a zone the syncer owns, in the
// zone's own metadata, so that ownership travels with the PowerDNS data
// (backups, restores) and works on every backend: lmdb refuses RRset
// comments, but every backend stores custom X- metadata.
//
// The owned keys are spread over Buckets metadata kinds
// (X-ZONECAST-OWNED-00 .. -3F) by a hash of the key; each kind holds one
// value, the space-separated list "name/TYPE ...". A change of ownership
// rewrites only the buckets it touches. The package is pure; the syncer
// reads and writes the metadata.
package owner

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/zonecast/zonecast/internal/rrset"
)

// KindPrefix starts every ownership metadata kind.
const KindPrefix = "X-ZONECAST-OWNED-"

// Buckets is the number of ownership metadata kinds per zone.
const Buckets = 64

// Bucket returns the bucket of key.
func Bucket(k rrset.Key) int {
	h := fnv.New32a()
	h.Write([]byte(k.Name))
	h.Write([]byte{'/'})
	h.Write([]byte(k.Type))
	return int(h.Sum32() % Buckets)
}

// Kind returns the metadata kind of bucket b.
func Kind(b int) string { return fmt.Sprintf("%s%02X", KindPrefix, b) }

// Set is the owned keys of one zone.
type Set map[rrset.Key]struct{}

// Has reports whether k is owned.
func (s Set) Has(k rrset.Key) bool { _, ok := s[k]; return ok }

// Decode rebuilds the owned set from a zone's metadata (all kinds; others
// are ignored). A malformed entry is an error: guessing could make the
// syncer delete data it does not own.
func Decode(meta map[string][]string) (Set, error) {
	s := Set{}
	for kind, values := range meta {
		if !strings.HasPrefix(kind, KindPrefix) {
			continue
		}
		for _, v := range values {
			for _, e := range strings.Fields(v) {
				name, typ, ok := strings.Cut(e, "/")
				if !ok || name == "" || typ == "" {
					return nil, fmt.Errorf("decoding ownership entry %q in %s: want name/TYPE", e, kind)
				}
				s[rrset.Key{Name: name, Type: typ}] = struct{}{}
			}
		}
	}
	return s, nil
}

// EncodeBuckets returns, for each of the given buckets, the metadata
// values holding the owned set's keys in that bucket: one value with the
// sorted entries, or none when the bucket is empty. One pass over the set.
func EncodeBuckets(s Set, buckets []int) map[int][]string {
	want := make(map[int][]string, len(buckets))
	for _, b := range buckets {
		want[b] = nil
	}
	for k := range s {
		b := Bucket(k)
		if entries, ok := want[b]; ok {
			want[b] = append(entries, k.Name+"/"+k.Type)
		}
	}
	out := make(map[int][]string, len(want))
	for b, entries := range want {
		if len(entries) == 0 {
			out[b] = []string{}
			continue
		}
		slices.Sort(entries)
		out[b] = []string{strings.Join(entries, " ")}
	}
	return out
}

// Touched returns the sorted, distinct buckets of keys.
func Touched(keys []rrset.Key) []int {
	seen := map[int]bool{}
	var out []int
	for _, k := range keys {
		if b := Bucket(k); !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}
