package syncer

import (
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/plan"
	"github.com/zonecast/zonecast/internal/rrset"
)

// zoneState is the writer's view of one zone in PowerDNS.
type zoneState struct {
	actual    *served
	owned     map[rrset.Key]struct{} // the ledger's owned set of the zone, the same map (loadZone)
	conflicts map[rrset.Key]bool
	held      map[rrset.Key]struct{} // deletions the valve holds
	approved  map[rrset.Key]struct{} // held deletions an operator approved, until written
	// notPresigned: a signed zone PowerDNS does not mark presigned. Nothing
	// is written to it (it would serve the signer's data as unsigned, and
	// sign it online where it holds keys) until a check finds the mark.
	notPresigned bool
	// deep counts the RRsets of actual that a rectify has work for (see
	// deepKey); deepKnown says whether it has been counted yet.
	deep      int
	deepKnown bool
}

// takeIn updates the cached actual state of zone with a written plan,
// leaving out what PowerDNS refused, and reports whether the zone needs a
// rectify.
//
// A rectify of an unsigned zone computes its empty non-terminals and which
// records are below a delegation. In a flat zone (only the apex and names
// one label below it, no delegation) neither exists, and a name one label
// below the apex that comes or goes adds none, so only RRsets that make or
// unmake depth (deepKey), or names coming or going in a zone that has
// depth, need one. The common host zone never needs one, and its new
// names do not wait for a pass over the whole zone.
func (zs *zoneState) takeIn(zone string, ch plan.Changes, bad map[rrset.Key]bool) (rectify bool) {
	if !zs.deepKnown {
		for k := range zs.actual.keys() {
			if deepKey(zone, k) {
				zs.deep++
			}
		}
		zs.deepKnown = true
	}
	var came, deep bool
	for _, set := range ch.Upserts {
		if bad[set.Key] {
			continue
		}
		if !zs.actual.has(set.Key) {
			came = true
			if deepKey(zone, set.Key) {
				deep = true
				zs.deep++
			}
		}
		zs.actual.put(set)
	}
	for _, k := range ch.Deletes {
		if bad[k] {
			continue
		}
		if zs.actual.has(k) {
			came = true
			if deepKey(zone, k) {
				deep = true
				zs.deep--
			}
		}
		zs.actual.drop(k)
		delete(zs.approved, k)
	}
	return deep || (came && zs.deep > 0)
}

// deepKey reports whether an RRset of zone gives a rectify work: a name
// more than one label below the apex (it may have empty non-terminals
// above it, or sit below a delegation), or a delegation (NS or DS below the
// apex).
func deepKey(zone string, k rrset.Key) bool {
	if k.Name == zone {
		return false
	}
	if k.Type == "NS" || k.Type == "DS" {
		return true
	}
	below := strings.TrimSuffix(k.Name, "."+zone)
	if zone == "." {
		below = strings.TrimSuffix(k.Name, ".")
	}
	return strings.Contains(below, ".")
}

// batch is one zone's planned write: the RRset changes, the SOA that goes
// with them, and the ownership it needs.
type batch struct {
	zone      string
	zs        *zoneState
	keys      []rrset.Key // every key the plan looked at
	ch        plan.Changes
	seq       uint64
	seqKnown  bool // the batch brings the zone to stream sequence seq
	changes   []pdnsapi.Change
	always    []pdnsapi.Change
	claimed   bool // its claims are recorded already
	claimTook time.Duration
	start     time.Time              // when the PATCHes began
	counted   int                    // deletions the delete limit counted (taken back if not written)
	busy      map[rrset.Key]struct{} // keys, as a set (see inFlight)
}

// inFlight returns the batch's keys as a set.
func (b *batch) inFlight() map[rrset.Key]struct{} {
	if b.busy == nil {
		b.busy = make(map[rrset.Key]struct{}, len(b.keys))
		for _, k := range b.keys {
			b.busy[k] = struct{}{}
		}
	}
	return b.busy
}

// prepare reports the plan's conflicts, passes its deletions through the
// valve and turns it into a batch; nil when PowerDNS and the ownership
// record need nothing.
//
// In a signed zone, soa is the signer's SOA among the RRsets planned
// (none if it did not change): it is written with them, as its signature
// is in the apex's RRSIG RRset, which came with it. A newer one in the
// desired state would not match the signatures written beside it.
func (s *Syncer) prepare(zone string, zs *zoneState, keys []rrset.Key, ch plan.Changes, seq uint64, seqKnown bool, soa rrset.Set) *batch {
	s.reportConflicts(zone, zs, keys, ch.Conflicts)
	if s.retiring[zone] {
		seqKnown = false // its SOA stays: the zone follows no stream position
	}
	ch, seqKnown, counted := s.holdDeletes(zone, zs, keys, ch, seqKnown)
	if zs.notPresigned {
		return nil
	}
	b := &batch{zone: zone, zs: zs, keys: keys, ch: ch, seq: seq, seqKnown: seqKnown, counted: counted}
	soaKey := rrset.Key{Name: zone, Type: "SOA"}
	switch {
	case s.signed[zone]:
		// The signer's SOA, with the serial it signed, never the syncer's.
		if len(soa.Records) > 0 {
			if cur, ok := zs.actual.Served(soaKey); !ok || !cur.Equal(soa) {
				b.always = append(b.always, pdnsapi.Change{Set: soa})
			}
		}
	case seqKnown:
		soa := s.soa(zone, seq)
		if cur, ok := zs.actual.Served(soaKey); !ok || !cur.Equal(soa) {
			b.always = append(b.always, pdnsapi.Change{Set: soa})
		}
	}
	if !ch.HasChanges() && len(b.always) == 0 {
		if seqKnown {
			s.prog.setSeq(zone, seq) // nothing to write: applied
		}
		return nil
	}
	// Neighbouring names in one PATCH, and deterministic batches.
	slices.SortFunc(ch.Upserts, func(a, b rrset.Set) int { return rrset.CompareKeys(a.Key, b.Key) })
	rrset.SortKeys(ch.Deletes)
	b.changes = make([]pdnsapi.Change, 0, ch.Writes())
	for _, set := range ch.Upserts {
		b.changes = append(b.changes, pdnsapi.Change{Set: set})
	}
	for _, k := range ch.Deletes {
		b.changes = append(b.changes, pdnsapi.Change{Set: rrset.Set{Key: k, TTL: 60}, Delete: true})
	}
	return b
}

func (s *Syncer) reportConflicts(zone string, zs *zoneState, keys []rrset.Key, conflicts []plan.Conflict) {
	for _, k := range keys {
		delete(zs.conflicts, k)
	}
	for _, c := range conflicts {
		zs.conflicts[c.Desired.Key] = true
		s.log.Warn().Str("zone", zone).Str("name", c.Desired.Name).Str("type", c.Desired.Type).
			Strs("desired", c.Desired.Records).Strs("actual", c.Actual.Records).
			Msg("conflict: a foreign rrset holds this name and type; left untouched")
	}
	s.prog.setConflicts(zone, len(zs.conflicts))
}
