package rrset

import (
	"slices"
	"strings"
)

// Key identifies an RRset: a canonical owner name and an upper-case type.
type Key struct {
	Name string
	Type string
}

func (k Key) String() string { return k.Name + " " + k.Type }

// Less orders keys by name, then type, for deterministic output.
func (k Key) Less(o Key) bool {
	if k.Name != o.Name {
		return k.Name < o.Name
	}
	return k.Type < o.Type
}

// Set is one RRset with canonical, sorted, distinct record contents. An
// RRset with no records does not exist.
type Set struct {
	Key
	TTL     uint32
	Records []string
}

// Equal reports whether two sets hold the same TTL and records. Both must be
// normalised (see Normalize).
func (s Set) Equal(o Set) bool {
	return s.Key == o.Key && s.TTL == o.TTL && slices.Equal(s.Records, o.Records)
}

// Normalize sorts and de-duplicates the records in place and returns s.
func Normalize(s Set) Set {
	slices.Sort(s.Records)
	s.Records = slices.Compact(s.Records)
	return s
}

// Keyed returns sets by their keys (a later set of the same key wins).
func Keyed(sets []Set) map[Key]Set {
	out := make(map[Key]Set, len(sets))
	for _, s := range sets {
		out[s.Key] = s
	}
	return out
}

// Contribution is what one origin wants in one RRset.
type Contribution struct {
	TTL     uint32
	Records []string
}

// Merge returns the RRset served for key: the union of the records of all
// contributions, with the lowest TTL among them. The result has no records
// when there is no contribution. Contributions must hold canonical content.
func Merge(key Key, contribs []Contribution) Set {
	out := Set{Key: key}
	n := 0
	for _, c := range contribs {
		if len(c.Records) == 0 {
			continue
		}
		if n == 0 || c.TTL < out.TTL {
			out.TTL = c.TTL
		}
		n++
		out.Records = append(out.Records, c.Records...)
	}
	if n == 0 {
		return Set{Key: key}
	}
	out = Normalize(out)
	if key.Type == "CNAME" && len(out.Records) > 1 {
		// Two origins disagree on a CNAME target. A CNAME RRset holds one
		// record, so serve the smallest target deterministically: every
		// node picks the same one.
		out.Records = out.Records[:1]
	}
	return out
}

// CompareKeys orders keys by name, then type (for slices.SortFunc).
func CompareKeys(a, b Key) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Type, b.Type)
}

// SortKeys sorts keys in place by name, then type.
func SortKeys(keys []Key) { slices.SortFunc(keys, CompareKeys) }
