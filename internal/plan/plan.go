// Package plan computes what the syncer must write to PowerDNS so that the
// RRsets it owns match the desired state. It is pure: the diff between
// desired and actual state is a value, computed from literals in tests.
package plan

import (
	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Conflict is a desired RRset that exists in PowerDNS but is not owned by
// zonecast: it is reported, never overwritten.
type Conflict struct {
	Desired rrset.Set
	Actual  rrset.Set
}

// Actual is what PowerDNS serves, normalised: the RRset of a key and
// whether it is present. The syncer's cache implements it without holding
// each key twice; Sets is the plain map.
type Actual interface {
	Served(k rrset.Key) (rrset.Set, bool)
	Len() int
}

// Sets is an Actual held as a map of sets.
type Sets map[rrset.Key]rrset.Set

// Served returns the set of k and whether it is present.
func (m Sets) Served(k rrset.Key) (rrset.Set, bool) {
	s, ok := m[k]
	return s, ok
}

// Len is the number of RRsets held.
func (m Sets) Len() int { return len(m) }

// Changes is the outcome of Compute.
type Changes struct {
	Upserts   []rrset.Set // RRsets to write (create or replace)
	Deletes   []rrset.Key // owned RRsets to remove
	Claims    []rrset.Key // keys to record as owned BEFORE the upserts are written
	Releases  []rrset.Key // keys to drop from ownership AFTER the deletes are written
	Conflicts []Conflict
}

// HasChanges reports whether PowerDNS or the ownership record must change.
func (c Changes) HasChanges() bool {
	return len(c.Upserts)+len(c.Deletes)+len(c.Claims)+len(c.Releases) > 0
}

// Writes is the number of RRsets the changes write.
func (c Changes) Writes() int { return len(c.Upserts) + len(c.Deletes) }

// Compute compares desired and actual for each key. desired returns the
// merged desired RRset (no records: nothing desired); actual holds what
// PowerDNS serves, normalised; owned is the ownership record.
//
//   - desired, absent: create it and claim it;
//   - desired, present and owned: replace it if it differs;
//   - desired, present and not owned: a conflict, left alone;
//   - not desired, owned and present: delete it, then release it;
//   - not desired, owned and absent: release it;
//   - not desired, not owned: not ours, left alone.
func Compute(keys []rrset.Key, desired func(rrset.Key) rrset.Set, actual Actual, owned owner.Set) Changes {
	var c Changes
	for _, k := range keys {
		c.add(desired(k), actual, owned)
	}
	return c
}

// ComputeSets is Compute for desired RRsets given as values, plus keys
// where nothing is desired any more: a full pass needs no lookups of the
// desired state then.
func ComputeSets(desired []rrset.Set, undesired []rrset.Key, actual Actual, owned owner.Set) Changes {
	var c Changes
	if n := len(desired) - actual.Len(); n > 0 {
		// Mostly new RRsets (a new node): size the output once.
		c.Upserts = make([]rrset.Set, 0, n)
		c.Claims = make([]rrset.Key, 0, n)
	}
	for _, d := range desired {
		c.add(d, actual, owned)
	}
	for _, k := range undesired {
		c.add(rrset.Set{Key: k}, actual, owned)
	}
	return c
}

// Action is what a plan does with one key.
type Action uint8

// The actions of Decide, in the order of Compute's table.
const (
	Keep        Action = iota // nothing to write
	Create                    // write the desired RRset and claim it first
	Replace                   // write the desired RRset (already owned)
	Conflicting               // desired, but a foreign RRset holds the key
	Remove                    // delete the owned RRset, then release it
	Release                   // release an owned key that is already absent
)

// Decision is the plan for one key.
type Decision struct {
	Action  Action
	Desired rrset.Set // the desired RRset (its key is the decision's key)
	Actual  rrset.Set // for Conflicting: what PowerDNS serves
}

// Decide plans one key; d has no records when nothing is desired there.
// A claim comes with Create only when the key is not owned yet.
func Decide(d rrset.Set, actual Actual, owned owner.Set) Decision {
	k := d.Key
	if k.Type == "SOA" {
		return Decision{Action: Keep, Desired: d}
	}
	a, present := actual.Served(k)
	own := owned.Has(k)
	switch {
	case len(d.Records) > 0 && !present:
		if own {
			return Decision{Action: Replace, Desired: d}
		}
		return Decision{Action: Create, Desired: d}
	case len(d.Records) > 0 && own:
		if !d.Equal(a) {
			return Decision{Action: Replace, Desired: d}
		}
		return Decision{Action: Keep, Desired: d}
	case len(d.Records) > 0:
		return Decision{Action: Conflicting, Desired: d, Actual: a}
	case own && present:
		return Decision{Action: Remove, Desired: d}
	case own:
		return Decision{Action: Release, Desired: d}
	}
	return Decision{Action: Keep, Desired: d}
}

// Add appends one decision to the changes.
func (c *Changes) Add(dec Decision) {
	k := dec.Desired.Key
	switch dec.Action {
	case Create:
		c.Upserts = append(c.Upserts, dec.Desired)
		c.Claims = append(c.Claims, k)
	case Replace:
		c.Upserts = append(c.Upserts, dec.Desired)
	case Conflicting:
		c.Conflicts = append(c.Conflicts, Conflict{Desired: dec.Desired, Actual: dec.Actual})
	case Remove:
		c.Deletes = append(c.Deletes, k)
		c.Releases = append(c.Releases, k)
	case Release:
		c.Releases = append(c.Releases, k)
	}
}

// add decides one key; d has no records when nothing is desired there.
func (c *Changes) add(d rrset.Set, actual Actual, owned owner.Set) {
	c.Add(Decide(d, actual, owned))
}
