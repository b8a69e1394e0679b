// Package dnsupdate evaluates RFC 2136 DNS UPDATE messages against the
// fleet's desired state and turns them into zonecast record events. It is
// pure: no I/O, no clock, no logger. The caller (internal/gateway) verifies
// TSIG, holds the state, publishes the result and answers the client.
package dnsupdate

import (
	"time"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/rrset"
)

// View is what evaluation reads of the desired state: every origin's
// contribution to an RRset, and which types a name holds.
type View interface {
	// Contributions returns every origin's contribution to key (nil when
	// none). The caller must not modify it.
	Contributions(key rrset.Key) map[string]rrset.Contribution
	// Types returns the types that have at least one contribution at name.
	Types(name string) []string
}

// Index is a View rebuilt from the record stream. It is not safe for
// concurrent use; the gateway guards it with a lock.
type Index struct {
	sets   map[rrset.Key]map[string]rrset.Contribution
	names  map[string]map[string]int // name -> type -> number of contributing origins
	meta   map[lease.Ref]subjectMeta // per contribution
	leased int                       // contributions with a lease
	leases lease.Schedule
}

// subjectMeta is what the index knows of a contribution's message.
type subjectMeta struct {
	seq uint64 // its stream sequence; 0: not yet stored
	end int64  // its lease end, Unix ns; 0: none
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{sets: map[rrset.Key]map[string]rrset.Contribution{}, names: map[string]map[string]int{},
		meta: map[lease.Ref]subjectMeta{}}
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
func (x *Index) Subjects() int { return len(x.meta) }

// Seq returns the stream sequence of the origin's contribution to key, as
// given to ApplyAt; 0 if none is known.
func (x *Index) Seq(key rrset.Key, origin string) uint64 {
	return x.meta[lease.Ref{Key: key, Origin: origin}].seq
}

// ExpireDue withdraws the contributions whose lease has ended by now and
// returns how many.
func (x *Index) ExpireDue(now time.Time) int {
	current := func(r lease.Ref, at int64) bool { return x.meta[r].end == at }
	due := x.leases.Due(now.UnixNano(), current)
	for _, r := range due {
		// The stream drops the message about now, or a syncer replaces it
		// with a tombstone: until the gateway hears which, it expects
		// the expired one (a refused compare-and-set reads the truth).
		x.set(r.Key, r.Origin, rrset.Contribution{}, x.meta[r].seq, time.Time{})
	}
	x.leases.Compact(x.leased, current)
	return len(due)
}

func (x *Index) set(key rrset.Key, origin string, c rrset.Contribution, seq uint64, end time.Time) {
	ref := lease.Ref{Key: key, Origin: origin}
	if x.meta[ref].end != 0 {
		x.leased--
	}
	switch {
	case len(c.Records) == 0 && seq == 0:
		delete(x.meta, ref)
	case len(c.Records) == 0:
		// A tombstone (or an invalid body) stays in the stream: an update
		// of the subject must expect its sequence.
		x.meta[ref] = subjectMeta{seq: seq}
	default:
		md := subjectMeta{seq: seq}
		if !end.IsZero() {
			md.end = end.UnixNano()
			x.leased++
			x.leases.Add(ref, md.end)
		}
		x.meta[ref] = md
	}
	cs := x.sets[key]
	_, had := cs[origin]
	if len(c.Records) == 0 {
		if !had {
			return
		}
		delete(cs, origin)
		if len(cs) == 0 {
			delete(x.sets, key)
		}
		types := x.names[key.Name]
		if types[key.Type]--; types[key.Type] <= 0 {
			delete(types, key.Type)
		}
		if len(types) == 0 {
			delete(x.names, key.Name)
		}
		return
	}
	if cs == nil {
		cs = map[string]rrset.Contribution{}
		x.sets[key] = cs
	}
	cs[origin] = c
	if !had {
		types := x.names[key.Name]
		if types == nil {
			types = map[string]int{}
			x.names[key.Name] = types
		}
		types[key.Type]++
	}
}

// Contributions implements View.
func (x *Index) Contributions(key rrset.Key) map[string]rrset.Contribution { return x.sets[key] }

// Types implements View.
func (x *Index) Types(name string) []string {
	types := x.names[name]
	if len(types) == 0 {
		return nil
	}
	out := make([]string, 0, len(types))
	for t := range types {
		out = append(out, t)
	}
	return out
}

// LeaseEnd returns when the origin's contribution to key ends; zero if
// never (or if there is none).
func (x *Index) LeaseEnd(key rrset.Key, origin string) time.Time {
	if at := x.meta[lease.Ref{Key: key, Origin: origin}].end; at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// Get returns the merged RRset served for key.
func (x *Index) Get(key rrset.Key) rrset.Set { return merged(key, x.sets[key]) }

// Len returns the number of RRsets with a contribution.
func (x *Index) Len() int { return len(x.sets) }

func merged(key rrset.Key, cs map[string]rrset.Contribution) rrset.Set {
	parts := make([]rrset.Contribution, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c)
	}
	return rrset.Merge(key, parts)
}
