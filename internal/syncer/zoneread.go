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
// reconciliation, for a zone that usually did not drift. The cache's
// contents change only in result, once the whole zone was read; until
// then the read only marks what it saw (served.read).
type zoneRead struct {
	cached *served
	mark   uint32
	// changed holds the sets read that differ from cached or are not in
	// it, in the order read: a key read twice ends as read last.
	changed []rrset.Set
	// fresh, with nothing cached, takes every set as read.
	fresh *served
}

func newZoneRead(cached *served) *zoneRead {
	if cached == nil || cached.Len() == 0 {
		return &zoneRead{fresh: newServed(0)}
	}
	// A read that failed half-way left its marks: the next one's differ.
	// 0 is the mark of a set never read.
	if cached.read++; cached.read == 0 {
		cached.read = 1
	}
	return &zoneRead{cached: cached, mark: cached.read}
}

// add takes one set as read.
func (r *zoneRead) add(set rrset.Set) {
	if r.fresh != nil {
		r.fresh.put(set)
		return
	}
	if cur, ok := r.cached.sets[set.Key]; ok && cur.seen != r.mark {
		cur.seen = r.mark
		if cur.TTL == set.TTL && slices.Equal(cur.Records, set.Records) {
			return
		}
	}
	r.changed = append(r.changed, set)
}

// result returns the actual state of the zone as read: the cache, updated
// in place, or the fresh one.
func (r *zoneRead) result() *served {
	if r.fresh != nil {
		return r.fresh
	}
	for k, v := range r.cached.sets {
		if v.seen != r.mark {
			delete(r.cached.sets, k)
		}
	}
	for _, set := range r.changed {
		r.cached.put(set)
	}
	r.changed = nil
	return r.cached
}

// readZone reads zone from PowerDNS into its cached actual state, if any
// (see zoneRead). A zone PowerDNS does not have gives found=false and
// leaves the cache alone, as does an error.
func (s *Syncer) readZone(ctx context.Context, zone string) (actual *served, found bool, err error) {
	var cached *served
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
