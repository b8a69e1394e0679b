package dnsupdate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/rrset"
)

// mapIndex is the index as it was, maps within maps: the model that
// TestIndexMatchesMaps checks Index against.
type mapIndex struct {
	sets   map[rrset.Key]map[string]rrset.Contribution
	names  map[string]map[string]int // name -> type -> number of contributing origins
	meta   map[lease.Ref]mapMeta     // per contribution
	leased int                       // contributions with a lease
	leases lease.Schedule
}

// mapMeta is what the index knows of a contribution's message.
type mapMeta struct {
	seq uint64 // its stream sequence; 0: not yet stored
	end int64  // its lease end, Unix ns; 0: none
}

// NewIndex returns an empty index.
func newMapIndex() *mapIndex {
	return &mapIndex{sets: map[rrset.Key]map[string]rrset.Contribution{}, names: map[string]map[string]int{},
		meta: map[lease.Ref]mapMeta{}}
}

// Apply folds one canonical message into the index: the origin's
// contribution is replaced, or removed for a tombstone.
func (x *mapIndex) Apply(m events.Message) { x.ApplyAt(m, 0, time.Time{}) }

// ApplyLease is Apply for a message whose lease ends at end (zero: never):
// ExpireDue withdraws it then, as the stream drops it.
func (x *mapIndex) ApplyLease(m events.Message, end time.Time) { x.ApplyAt(m, 0, end) }

// ApplyAt is ApplyLease for a message stored at stream sequence seq (0:
// not stored yet), which Seq then returns.
func (x *mapIndex) ApplyAt(m events.Message, seq uint64, end time.Time) {
	x.set(m.Key(), m.Origin, rrset.Contribution{TTL: m.TTL, Records: m.Records}, seq, end)
}

// Withdraw removes an origin's contribution (invalid body).
func (x *mapIndex) Withdraw(key rrset.Key, origin string) {
	x.set(key, origin, rrset.Contribution{}, 0, time.Time{})
}

// Subjects returns the number of subjects whose sequence the index keeps
// (contributions, and tombstones it was told the sequence of).
func (x *mapIndex) Subjects() int { return len(x.meta) }

// Seq returns the stream sequence of the origin's contribution to key, as
// given to ApplyAt; 0 if none is known.
func (x *mapIndex) Seq(key rrset.Key, origin string) uint64 {
	return x.meta[lease.Ref{Key: key, Origin: origin}].seq
}

// ExpireDue withdraws the contributions whose lease has ended by now and
// returns how many.
func (x *mapIndex) ExpireDue(now time.Time) int {
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

func (x *mapIndex) set(key rrset.Key, origin string, c rrset.Contribution, seq uint64, end time.Time) {
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
		x.meta[ref] = mapMeta{seq: seq}
	default:
		md := mapMeta{seq: seq}
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
func (x *mapIndex) Contributions(key rrset.Key) map[string]rrset.Contribution { return x.sets[key] }

// Types implements View.
func (x *mapIndex) Types(name string) []string {
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

// LeaseEnd returns when the origin's contribution to key ends.
func (x *mapIndex) LeaseEnd(key rrset.Key, origin string) time.Time {
	if at := x.meta[lease.Ref{Key: key, Origin: origin}].end; at != 0 {
		return time.Unix(0, at)
	}
	return time.Time{}
}

// TestIndexMatchesMaps applies the same random changes (several origins,
// types in and outside rrset.Types, tombstones with and without a
// sequence, leases that end) to Index and to the maps it replaced, and
// compares everything either answers after each.
func TestIndexMatchesMaps(t *testing.T) {
	t.Parallel()
	for seed := uint64(0); seed < 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 7))
			x, m := NewIndex(), newMapIndex()
			names := []string{"a.z.", "b.z.", "c.z."}
			types := []string{"A", "AAAA", "TXT", "CNAME", "SOA"} // SOA: outside rrset.Types
			origins := []string{"o1", "o2", "o3"}
			now := time.Unix(1000, 0)
			for step := 0; step < 400; step++ {
				key := rrset.Key{Name: names[rng.IntN(len(names))], Type: types[rng.IntN(len(types))]}
				origin := origins[rng.IntN(len(origins))]
				var recs []string
				for range rng.IntN(3) {
					recs = append(recs, fmt.Sprintf("r%d", rng.IntN(4)))
				}
				msg := events.Message{Version: events.Version, Name: key.Name, Type: key.Type, Origin: origin, TTL: uint32(60 + rng.IntN(3)), Records: recs}
				var seq uint64
				if rng.IntN(3) > 0 {
					seq = uint64(step + 1)
				}
				var end time.Time
				if rng.IntN(3) == 0 {
					end = now.Add(time.Duration(rng.IntN(20)) * time.Second)
				}
				switch rng.IntN(6) {
				case 0:
					x.Withdraw(key, origin)
					m.Withdraw(key, origin)
				case 1:
					now = now.Add(time.Duration(rng.IntN(5)) * time.Second)
					if a, b := x.ExpireDue(now), m.ExpireDue(now); a != b {
						t.Fatalf("step %d: ExpireDue %d, maps %d", step, a, b)
					}
				default:
					x.ApplyAt(msg, seq, end)
					m.ApplyAt(msg, seq, end)
				}
				if x.Subjects() != m.Subjects() || x.Len() != len(m.sets) {
					t.Fatalf("step %d: subjects %d rrsets %d, maps %d %d", step, x.Subjects(), x.Len(), m.Subjects(), len(m.sets))
				}
				for _, n := range names {
					got, want := slices.Sorted(slices.Values(x.Types(n))), slices.Sorted(slices.Values(m.Types(n)))
					if !slices.Equal(got, want) {
						t.Fatalf("step %d: Types(%s) %v, maps %v", step, n, got, want)
					}
					for _, typ := range types {
						k := rrset.Key{Name: n, Type: typ}
						if got, want := x.Contributions(k), m.Contributions(k); fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("step %d: Contributions(%s) %v, maps %v", step, k, got, want)
						}
						for _, o := range origins {
							if x.Seq(k, o) != m.Seq(k, o) || !x.LeaseEnd(k, o).Equal(m.LeaseEnd(k, o)) {
								t.Fatalf("step %d: %s %s: seq %d end %v, maps %d %v", step, k, o, x.Seq(k, o), x.LeaseEnd(k, o), m.Seq(k, o), m.LeaseEnd(k, o))
							}
							if got, want := x.Own(k, o), m.Contributions(k)[o]; got.TTL != want.TTL || !slices.Equal(got.Records, want.Records) {
								t.Fatalf("step %d: Own(%s, %s) %v, maps %v", step, k, o, got, want)
							}
						}
					}
				}
			}
		})
	}
}
