package syncer

import (
	"context"
	"slices"

	"github.com/zonecast/zonecast/internal/rrset"
)

// zoneRead takes a zone, RRset by RRset as PowerDNS sends it, into the
// cached actual state of the zone. It keeps only what differs from the
// cache: the cache's sets mostly share their strings with the desired
// state (they were written from it), and a copy of the whole zone beside
// them would double the syncer's memory at the peak of every
// reconciliation, for a zone that usually did not drift. The cache itself
// changes only in result, once the whole zone was read.
type zoneRead struct {
	cached map[rrset.Key]rrset.Set // read only until result
	// seen holds the keys of cached read so far (cached's strings): the
	// rest is gone from PowerDNS.
	seen map[rrset.Key]struct{}
	// changed holds the sets read that differ from cached or are not in
	// it, in the order read: a key read twice ends as read last.
	changed []rrset.Set
	// fresh, with nothing cached, takes every set as read.
	fresh map[rrset.Key]rrset.Set
}

func newZoneRead(cached map[rrset.Key]rrset.Set) *zoneRead {
	if len(cached) == 0 {
		return &zoneRead{fresh: map[rrset.Key]rrset.Set{}}
	}
	return &zoneRead{cached: cached, seen: make(map[rrset.Key]struct{}, len(cached))}
}

// add takes one set as read.
func (r *zoneRead) add(set rrset.Set) {
	if r.fresh != nil {
		r.fresh[set.Key] = set
		return
	}
	if cur, ok := r.cached[set.Key]; ok {
		set.Key = cur.Key // the cache's strings, not the answer's copies
		if _, again := r.seen[cur.Key]; !again {
			r.seen[cur.Key] = struct{}{}
			if cur.TTL == set.TTL && slices.Equal(cur.Records, set.Records) {
				return
			}
		}
	}
	r.changed = append(r.changed, set)
}

// result returns the actual state of the zone as read: the cache, updated
// in place, or the fresh map.
func (r *zoneRead) result() map[rrset.Key]rrset.Set {
	if r.fresh != nil {
		return r.fresh
	}
	if len(r.seen) < len(r.cached) {
		for k := range r.cached {
			if _, ok := r.seen[k]; !ok {
				delete(r.cached, k)
			}
		}
	}
	for _, set := range r.changed {
		r.cached[set.Key] = set
	}
	r.seen, r.changed = nil, nil
	return r.cached
}

// readZone reads zone from PowerDNS into its cached actual state, if any
// (see zoneRead). A zone PowerDNS does not have gives found=false and
// leaves the cache alone, as does an error.
func (s *Syncer) readZone(ctx context.Context, zone string) (actual map[rrset.Key]rrset.Set, found bool, err error) {
	var cached map[rrset.Key]rrset.Set
	if zs := s.zones[zone]; zs != nil {
		cached = zs.actual
	}
	r := newZoneRead(cached)
	found, err = s.pdns.EachRRset(ctx, zone, r.add)
	if err != nil || !found {
		return nil, found, err
	}
	return r.result(), true, nil
}
