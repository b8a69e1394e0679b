// Package dnsupdate evaluates RFC 2136 DNS UPDATE messages against the
// fleet's desired state and turns them into zonecast record events. It is
// pure: no I/O, no clock, no logger. The caller (internal/gateway) verifies
// TSIG, holds the state, publishes the result and answers the client.
package dnsupdate

import (
	"slices"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/rrset"
)

// View is what evaluation reads of the desired state: every origin's
// contribution to an RRset, and which types a name holds.
type View interface {
	// Parts returns every origin's contribution to key, in no particular
	// order (nil when none). The caller must not modify it, nor keep it
	// past a change of the view.
	Parts(key rrset.Key) Parts
	// Types returns the types that have at least one contribution at
	// name, in no particular order. The caller must not modify it.
	Types(name string) []string
}

// Part is one origin's contribution to an RRset.
type Part struct {
	Origin string
	rrset.Contribution
	// What the index knows of the contribution's message, beside it: one
	// object per RRset for the collector to follow, not three.
	seq uint64 // its stream sequence; 0: not yet stored
	end int64  // its lease end, Unix ns; 0: none
}

// Parts are the contributions of the origins to one RRset: a few at most
// (one for most RRsets), so a slice rather than a map.
type Parts []Part

// Of returns origin's contribution (empty when none).
func (ps Parts) Of(origin string) rrset.Contribution {
	for i := range ps {
		if ps[i].Origin == origin {
			return ps[i].Contribution
		}
	}
	return rrset.Contribution{}
}

// Index is a View rebuilt from the record stream. It is not safe for
// concurrent use; the gateway guards it with a lock.
//
// It holds every RRset of the gateway's zones, so its shape decides the
// gateway's memory and the garbage collector's work as zones grow: one
// map entry per RRset holding its contributions (their sequences and
// lease ends beside them, in the same array), and one per name with its
// types as bits, instead of maps within maps, whose tables were almost
// all empty slots for the one origin and the one type most names have.
type Index struct {
	sets    map[rrset.Key]Parts
	names   map[string]typeSet   // name -> types with a contribution
	tombs   map[lease.Ref]uint64 // subjects without a contribution whose sequence is known
	origins map[string]string    // interned: an origin read from a subject keeps the whole subject alive
	odd     map[string][]string  // name -> types outside rrset.Types with a contribution
	parts   int                  // contributions
	leased  int                  // contributions with a lease
	leases  lease.Schedule
}

func (ps Parts) find(origin string) int {
	for i := range ps {
		if ps[i].Origin == origin {
			return i
		}
	}
	return -1
}

// typeSet is the types of one name: bit i for rrset.Types[i]. A type
// outside that list (none reaches the index through events.Validate or
// the stream) is kept in Index.odd instead.
type typeSet uint32

// typeLists[s] is the list of the types of set s, shared: Types returns
// it without allocating.
var typeLists = func() [][]string {
	out := make([][]string, 1<<len(rrset.Types))
	for s := range out {
		for i, t := range rrset.Types {
			if s&(1<<i) != 0 {
				out[s] = append(out[s], t)
			}
		}
		out[s] = slices.Clip(out[s]) // an append by a caller copies
	}
	return out
}()

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{sets: map[rrset.Key]Parts{}, names: map[string]typeSet{}, tombs: map[lease.Ref]uint64{},
		origins: map[string]string{}, odd: map[string][]string{}}
}

// Apply folds one canonical message into the index: the origin's
// contribution is replaced, or removed for a tombstone.
func (x *Index) Apply(m events.Message) { x.ApplyAt(m, 0, time.Time{}) }

// ApplyLease is Apply for a message whose lease ends at end (zero: never):
// ExpireDue withdraws it then, as the stream drops it.
func (x *Index) ApplyLease(m events.Message, end time.Time) { x.ApplyAt(m, 0, end) }

// ApplyAt is ApplyLease for a message stored at stream sequence seq (0:
// not stored yet), which Seq then returns.
func (x *Index) ApplyAt(m events.Message, seq uint64, end time.Time) {
	x.set(m.Key(), m.Origin, rrset.Contribution{TTL: m.TTL, Records: m.Records}, seq, end)
}

// Withdraw removes an origin's contribution (invalid body).
func (x *Index) Withdraw(key rrset.Key, origin string) {
	x.set(key, origin, rrset.Contribution{}, 0, time.Time{})
}

// Subjects returns the number of subjects whose sequence the index keeps
// (contributions, and tombstones it was told the sequence of).
func (x *Index) Subjects() int { return x.parts + len(x.tombs) }

// Seq returns the stream sequence of the origin's contribution to key, as
// given to ApplyAt; 0 if none is known.
func (x *Index) Seq(key rrset.Key, origin string) uint64 {
	ps := x.sets[key]
	if i := ps.find(origin); i >= 0 {
		return ps[i].seq
	}
	if len(x.tombs) == 0 {
		return 0
	}
	return x.tombs[lease.Ref{Key: key, Origin: origin}]
}

// leaseEnd returns the lease end (Unix ns) of the origin's contribution
// to key; 0: none.
func (x *Index) leaseEnd(key rrset.Key, origin string) int64 {
	ps := x.sets[key]
	if i := ps.find(origin); i >= 0 {
		return ps[i].end
	}
	return 0
}

// ExpireDue withdraws the contributions whose lease has ended by now and
// returns how many.
func (x *Index) ExpireDue(now time.Time) int {
	current := func(r lease.Ref, at int64) bool { return x.leaseEnd(r.Key, r.Origin) == at }
	due := x.leases.Due(now.UnixNano(), current)
	for _, r := range due {
		// The stream drops the message about now, or a syncer replaces it
		// with a tombstone: until the gateway hears which, it expects
		// the expired one (a refused compare-and-set reads the truth).
		x.set(r.Key, r.Origin, rrset.Contribution{}, x.Seq(r.Key, r.Origin), time.Time{})
	}
	x.leases.Compact(x.leased, current)
	return len(due)
}

// typeBit returns the bit of typ in a typeSet, or false for a type
// outside rrset.Types.
func typeBit(typ string) (typeSet, bool) {
	for i, t := range rrset.Types {
		if t == typ {
			return 1 << i, true
		}
	}
	return 0, false
}

func (x *Index) intern(origin string) string {
	if o, ok := x.origins[origin]; ok {
		return o
	}
	origin = strings.Clone(origin)
	x.origins[origin] = origin
	return origin
}

func (x *Index) set(key rrset.Key, origin string, c rrset.Contribution, seq uint64, end time.Time) {
	ps := x.sets[key]
	i := ps.find(origin)
	if i >= 0 && ps[i].end != 0 {
		x.leased--
	}
	if len(c.Records) == 0 {
		if i >= 0 {
			// Swap with the last: the order of the parts means nothing.
			last := len(ps) - 1
			ps[i], ps[last] = ps[last], Part{}
			x.parts--
			if last == 0 {
				delete(x.sets, key)
				x.dropType(key)
			} else {
				x.sets[key] = ps[:last]
			}
		}
		// A tombstone (or an invalid body) stays in the stream: an update
		// of the subject must expect its sequence.
		if seq != 0 {
			x.tombs[lease.Ref{Key: key, Origin: x.intern(origin)}] = seq
		} else if len(x.tombs) > 0 {
			delete(x.tombs, lease.Ref{Key: key, Origin: origin})
		}
		return
	}
	if len(x.tombs) > 0 {
		delete(x.tombs, lease.Ref{Key: key, Origin: origin})
	}
	p := Part{Contribution: c, seq: seq}
	if !end.IsZero() {
		p.end = end.UnixNano()
		x.leased++
	}
	if i >= 0 {
		p.Origin = ps[i].Origin
		ps[i] = p
	} else {
		p.Origin = x.intern(origin)
		if len(ps) == 0 {
			x.addType(key)
		}
		x.sets[key] = append(ps, p)
		x.parts++
	}
	if p.end != 0 {
		x.leases.Add(lease.Ref{Key: key, Origin: p.Origin}, p.end)
	}
}

// addType notes that key's name has a contribution of key's type.
func (x *Index) addType(key rrset.Key) {
	bit, ok := typeBit(key.Type)
	if !ok {
		x.odd[key.Name] = append(x.odd[key.Name], key.Type)
		return
	}
	x.names[key.Name] |= bit
}

// dropType notes that key's name has no contribution of key's type left.
func (x *Index) dropType(key rrset.Key) {
	bit, ok := typeBit(key.Type)
	if !ok {
		if odd := slices.DeleteFunc(slices.Clone(x.odd[key.Name]), func(t string) bool { return t == key.Type }); len(odd) > 0 {
			x.odd[key.Name] = odd
		} else {
			delete(x.odd, key.Name)
		}
		return
	}
	if s := x.names[key.Name] &^ bit; s != 0 {
		x.names[key.Name] = s
	} else {
		delete(x.names, key.Name)
	}
}

// Parts implements View.
func (x *Index) Parts(key rrset.Key) Parts { return x.sets[key] }

// Own returns the origin's contribution to key (empty when none).
func (x *Index) Own(key rrset.Key, origin string) rrset.Contribution {
	return x.Parts(key).Of(origin)
}

// Contributions returns every origin's contribution to key, by origin (nil
// when none): a new map, for callers that look up more than one origin.
func (x *Index) Contributions(key rrset.Key) map[string]rrset.Contribution {
	ps := x.Parts(key)
	if len(ps) == 0 {
		return nil
	}
	out := make(map[string]rrset.Contribution, len(ps))
	for _, p := range ps {
		out[p.Origin] = p.Contribution
	}
	return out
}

// Types implements View.
func (x *Index) Types(name string) []string {
	types := typeLists[x.names[name]]
	if len(x.odd) == 0 || len(x.odd[name]) == 0 {
		return types
	}
	return append(slices.Clone(types), x.odd[name]...)
}

// LeaseEnd returns when the origin's contribution to key ends; zero if
// never (or if there is none).
func (x *Index) LeaseEnd(key rrset.Key, origin string) time.Time {
	if at := x.leaseEnd(key, origin); at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// Get returns the merged RRset served for key.
func (x *Index) Get(key rrset.Key) rrset.Set { return merged(key, x.Parts(key)) }

// Len returns the number of RRsets with a contribution.
func (x *Index) Len() int { return len(x.sets) }

func merged(key rrset.Key, ps Parts) rrset.Set {
	cs := make([]rrset.Contribution, len(ps))
	for i, p := range ps {
		cs[i] = p.Contribution
	}
	return rrset.Merge(key, cs)
}
