// Package lease schedules the end of record leases: which contributions
// run out next, and which have run out by a given time. It is pure: the
// caller passes the time in and keeps the contributions themselves.
//
// The record stream removes an expired message without a trace (it keeps
// no delete markers, which would need roll-ups: see internal/bus), so every
// reader that holds contributions with leases ends them itself, at the
// time the stream would: when the message was stored plus its lease.
package lease

import (
	"container/heap"

	"github.com/zonecast/zonecast/internal/rrset"
)

// Ref names one origin's contribution to one RRset: one stream subject.
type Ref struct {
	Key    rrset.Key
	Origin string
}

// Schedule is a queue of lease ends. A contribution published again gets a
// new end; its old entry stays queued and is dropped when it comes due,
// because the holder no longer confirms it (see Due). Compact bounds what
// such stale entries cost. It is not safe for concurrent use.
type Schedule struct {
	q entries
}

type entry struct {
	at  int64 // Unix ns
	ref Ref
}

type entries []entry

func (e entries) Len() int           { return len(e) }
func (e entries) Less(i, j int) bool { return e[i].at < e[j].at }
func (e entries) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *entries) Push(x any)        { *e = append(*e, x.(entry)) }
func (e *entries) Pop() any {
	old := *e
	n := len(old) - 1
	x := old[n]
	old[n] = entry{}
	*e = old[:n]
	return x
}

// Add queues the lease of ref ending at at (Unix ns); at 0 means no lease
// and queues nothing.
func (s *Schedule) Add(ref Ref, at int64) {
	if at == 0 {
		return
	}
	heap.Push(&s.q, entry{at: at, ref: ref})
}

// Next returns the earliest queued end, and false if nothing is queued.
// It may be the end of a stale entry: Due then returns nothing for it.
func (s *Schedule) Next() (int64, bool) {
	if len(s.q) == 0 {
		return 0, false
	}
	return s.q[0].at, true
}

// Due removes every entry ending at or before now and returns the refs
// whose current lease it is: current(ref, at) reports whether ref's
// contribution still has the lease ending at at (false for a contribution
// replaced, withdrawn or published again since).
func (s *Schedule) Due(now int64, current func(ref Ref, at int64) bool) []Ref {
	var out []Ref
	for len(s.q) > 0 && s.q[0].at <= now {
		e := heap.Pop(&s.q).(entry)
		if current(e.ref, e.at) {
			out = append(out, e.ref)
		}
	}
	return out
}

// Len returns the number of queued entries, stale ones included.
func (s *Schedule) Len() int { return len(s.q) }

// Compact drops the entries that current no longer confirms, if there are
// more than twice as many entries as live leases (and a few): a publisher
// that renews its leases every third of a lease leaves about three entries
// per contribution otherwise.
func (s *Schedule) Compact(live int, current func(ref Ref, at int64) bool) {
	if len(s.q) <= 2*live+compactSlack {
		return
	}
	kept := s.q[:0]
	for _, e := range s.q {
		if current(e.ref, e.at) {
			kept = append(kept, e)
		}
	}
	clear(s.q[len(kept):])
	s.q = kept
	heap.Init(&s.q)
}

// compactSlack keeps small schedules from being compacted over and over.
const compactSlack = 1024
