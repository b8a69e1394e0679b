package syncer

import (
	"iter"
	"maps"

	"github.com/zonecast/zonecast/internal/rrset"
)

// served is the cached actual state of one zone: the RRsets PowerDNS
// serves, by key (plan.Actual). A value leaves its key out, since the map
// holds it already, and marks the zone read that last saw it, so that a
// read needs no set of the keys it saw beside the cache: the repeated key
// and that set would cost more than the map itself, in the zones where
// the map is most of the syncer's memory (docs/benchmarks.md). Values are
// pointers so that a read marks and updates them in place: writing a map
// entry again would store the key as given, the answer's copy of the
// strings the cache shares with the desired state.
type served struct {
	sets map[rrset.Key]*servedSet
	read uint32 // the mark of the latest zone read (zoneRead)
}

type servedSet struct {
	TTL     uint32
	seen    uint32 // the mark of the zone read that last saw the set
	Records []string
}

func newServed(n int) *served { return &served{sets: make(map[rrset.Key]*servedSet, n)} }

// servedOf caches sets (a later set of the same key wins).
func servedOf(sets []rrset.Set) *served {
	a := newServed(len(sets))
	for _, s := range sets {
		a.put(s)
	}
	return a
}

// Served returns the set of k and whether PowerDNS serves it.
func (a *served) Served(k rrset.Key) (rrset.Set, bool) {
	v, ok := a.sets[k]
	if !ok {
		return rrset.Set{Key: k}, false
	}
	return rrset.Set{Key: k, TTL: v.TTL, Records: v.Records}, true
}

// Len is the number of RRsets served.
func (a *served) Len() int { return len(a.sets) }

func (a *served) has(k rrset.Key) bool {
	_, ok := a.sets[k]
	return ok
}

// put caches s as served. A key already cached keeps its strings.
func (a *served) put(s rrset.Set) {
	if v, ok := a.sets[s.Key]; ok {
		v.TTL, v.Records = s.TTL, s.Records
		return
	}
	a.sets[s.Key] = &servedSet{TTL: s.TTL, Records: s.Records}
}

func (a *served) drop(k rrset.Key) { delete(a.sets, k) }

// keys yields the keys served, in no order.
func (a *served) keys() iter.Seq[rrset.Key] { return maps.Keys(a.sets) }
