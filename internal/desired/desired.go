// Package desired holds the fleet's desired state as rebuilt from the record
// stream: every origin's contribution to every RRset of the managed zones,
// and per zone the stream sequence of the last message applied. It is pure:
// the caller feeds it decoded messages in stream order.
package desired

import (
	"fmt"
	"time"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/lease"
	"github.com/zonecast/zonecast/internal/rrset"
)

type contribution struct {
	origin string
	rrset.Contribution
	expires int64 // the message's lease end, Unix ns; 0: none
}

// State is the desired state of a set of zones. It is not safe for
// concurrent use.
type State struct {
	zones []string
	index rrset.ZoneSet
	// sets holds each zone's RRsets apart, so that one zone's snapshot
	// or reconciliation walks that zone only, not the whole fleet's.
	sets   map[string]map[rrset.Key][]contribution
	n      int // RRsets desired, over every zone
	seq    map[string]uint64
	leases lease.Schedule
	leased int             // contributions with a lease
	signed map[string]bool // zones whose data only the signer's messages bring
}

// New returns an empty state for the canonical zones.
func New(zones []string) *State {
	return &State{zones: zones, index: rrset.NewZoneSet(zones),
		sets: make(map[string]map[rrset.Key][]contribution, len(zones)), seq: make(map[string]uint64)}
}

// Reserve makes room for n RRsets in a state that is still empty (a
// replay that knows how many messages it brings), sparing the map its
// repeated growth. With several zones the share of each is unknown, so
// only a single zone's map is sized.
func (s *State) Reserve(n int) {
	if s.n == 0 && n > 0 && len(s.zones) == 1 {
		s.sets[s.zones[0]] = make(map[rrset.Key][]contribution, n)
	}
}

// MarkSigned makes zones (among the managed ones) signed: their data comes
// from the signer's messages only (ApplySigned), apex SOA and NS included,
// and a record source's message for them is refused.
func (s *State) MarkSigned(zones []string) {
	if s.signed == nil {
		s.signed = map[string]bool{}
	}
	for _, z := range zones {
		s.signed[z] = true
	}
}

// Signed reports whether zone is signed (MarkSigned).
func (s *State) Signed(zone string) bool { return s.signed[zone] }

// Zones returns the managed zones.
func (s *State) Zones() []string { return s.zones }

// ZoneOf returns the managed zone of a canonical name.
func (s *State) ZoneOf(name string) (string, bool) { return s.index.Of(name) }

// Check reports why a canonical message may not be applied to these zones:
// its name is outside every managed zone, or it would replace the syncer's
// own apex data (NS at the apex, or a CNAME there).
func (s *State) Check(m events.Message) (zone string, err error) {
	zone, ok := s.ZoneOf(m.Name)
	if !ok {
		return "", fmt.Errorf("%w: name %s is outside the managed zones", events.ErrInvalid, m.Name)
	}
	if s.signed[zone] {
		return "", fmt.Errorf("%w: zone %s is signed: its records come from the signer", events.ErrInvalid, zone)
	}
	if m.Name == zone && (m.Type == "NS" || m.Type == "CNAME") {
		return "", fmt.Errorf("%w: %s at the zone apex %s is managed by the syncer", events.ErrInvalid, m.Type, zone)
	}
	return zone, nil
}

// Apply folds one canonical message, stored at stream sequence seq, into
// the state: the origin's contribution to the RRset is replaced, or removed
// for a tombstone. It returns the zone and whether the merged RRset changed.
func (s *State) Apply(m events.Message, seq uint64) (zone string, changed bool, err error) {
	return s.ApplyLease(m, seq, time.Time{})
}

// ApplyLease is Apply for a message whose lease runs out at expires (zero:
// never). ExpireDue withdraws the contribution once that time has passed,
// unless a later message replaced it.
func (s *State) ApplyLease(m events.Message, seq uint64, expires time.Time) (zone string, changed bool, err error) {
	zone, err = s.Check(m)
	if err != nil {
		return "", false, err
	}
	var exp int64
	if !expires.IsZero() {
		exp = expires.UnixNano()
	}
	changed = s.set(zone, m.Key(), m.Origin, rrset.Contribution{TTL: m.TTL, Records: m.Records}, exp)
	s.advance(zone, seq)
	return zone, changed, nil
}

// ApplySigned folds one canonical message of the signer (see MarkSigned),
// stored at stream sequence seq: its name must be in a signed zone.
func (s *State) ApplySigned(m events.Message, seq uint64) (zone string, changed bool, err error) {
	zone, ok := s.ZoneOf(m.Name)
	if !ok || !s.signed[zone] {
		return "", false, fmt.Errorf("%w: name %s is outside the signed zones", events.ErrInvalid, m.Name)
	}
	changed = s.set(zone, m.Key(), m.Origin, rrset.Contribution{TTL: m.TTL, Records: m.Records}, 0)
	s.advance(zone, seq)
	return zone, changed, nil
}

// Withdraw removes an origin's contribution, as a tombstone does, for a
// subject whose last message is gone or unusable (expired lease, or a body
// that failed validation and replaced the previous one in the stream).
func (s *State) Withdraw(key rrset.Key, origin string, seq uint64) (zone string, changed bool, ok bool) {
	zone, ok = s.ZoneOf(key.Name)
	if !ok {
		return "", false, false
	}
	changed = s.set(zone, key, origin, rrset.Contribution{}, 0)
	s.advance(zone, seq)
	return zone, changed, true
}

func (s *State) advance(zone string, seq uint64) {
	if seq > s.seq[zone] {
		s.seq[zone] = seq
	}
}

func (s *State) set(zone string, key rrset.Key, origin string, c rrset.Contribution, expires int64) bool {
	sets := s.sets[zone]
	if sets == nil {
		sets = make(map[rrset.Key][]contribution)
		s.sets[zone] = sets
	}
	cs := sets[key]
	before := merged(key, cs)
	i := 0
	for ; i < len(cs); i++ {
		if cs[i].origin == origin {
			break
		}
	}
	if i < len(cs) && cs[i].expires != 0 {
		s.leased--
	}
	if len(c.Records) == 0 {
		expires = 0
	}
	if expires != 0 {
		s.leased++
		s.leases.Add(lease.Ref{Key: key, Origin: origin}, expires)
	}
	switch {
	case len(c.Records) == 0 && i < len(cs):
		cs = append(cs[:i], cs[i+1:]...)
	case len(c.Records) == 0:
	case i < len(cs):
		cs[i].Contribution, cs[i].expires = c, expires
	default:
		cs = append(cs, contribution{origin: origin, Contribution: c, expires: expires})
	}
	switch _, had := sets[key]; {
	case len(cs) == 0 && had:
		delete(sets, key)
		s.n--
	case len(cs) == 0:
	default:
		if !had {
			s.n++
		}
		sets[key] = cs
	}
	return !before.Equal(merged(key, cs))
}

// Expired is a contribution whose lease ExpireDue ended.
type Expired struct {
	lease.Ref
	Zone    string
	Changed bool // the merged RRset changed
}

// NextExpiry returns when the next lease may end, and false if none is
// held. It may be early (a lease since renewed); ExpireDue then ends
// nothing.
func (s *State) NextExpiry() (time.Time, bool) {
	at, ok := s.leases.Next()
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

// ExpireDue withdraws every contribution whose lease has ended by now, as
// the stream removes its message then. Zone sequences do not move: no
// stream message says so (yet).
func (s *State) ExpireDue(now time.Time) []Expired {
	due := s.leases.Due(now.UnixNano(), s.holdsLease)
	out := make([]Expired, 0, len(due))
	for _, r := range due {
		zone, _ := s.ZoneOf(r.Key.Name)
		out = append(out, Expired{Ref: r, Zone: zone, Changed: s.set(zone, r.Key, r.Origin, rrset.Contribution{}, 0)})
	}
	s.leases.Compact(s.leased, s.holdsLease)
	return out
}

// holdsLease reports whether r's contribution has the lease ending at at.
func (s *State) holdsLease(r lease.Ref, at int64) bool {
	for _, c := range s.contributions(r.Key) {
		if c.origin == r.Origin {
			return c.expires == at
		}
	}
	return false
}

// Get returns the merged RRset for key; it has no records if nothing is
// desired there.
func (s *State) Get(key rrset.Key) rrset.Set { return merged(key, s.contributions(key)) }

// contributions returns the contributions to key.
func (s *State) contributions(key rrset.Key) []contribution {
	zone, ok := s.ZoneOf(key.Name)
	if !ok {
		return nil
	}
	return s.sets[zone][key]
}

// merged returns the RRset the contributions cs to key make.
func merged(key rrset.Key, cs []contribution) rrset.Set {
	switch len(cs) {
	case 0:
		return rrset.Set{Key: key}
	case 1:
		return rrset.Set{Key: key, TTL: cs[0].TTL, Records: cs[0].Records}
	}
	parts := make([]rrset.Contribution, len(cs))
	for i, c := range cs {
		parts[i] = c.Contribution
	}
	return rrset.Merge(key, parts)
}

// Origins returns the origins contributing to key.
func (s *State) Origins(key rrset.Key) []string {
	var out []string
	for _, c := range s.contributions(key) {
		out = append(out, c.origin)
	}
	return out
}

// Each calls fn with every desired RRset and its zone, in no order.
func (s *State) Each(fn func(zone string, set rrset.Set)) {
	for zone, sets := range s.sets {
		for k, cs := range sets {
			fn(zone, merged(k, cs))
		}
	}
}

// Contributed is one origin's contribution to one RRset.
type Contributed struct {
	Key    rrset.Key
	Origin string
	rrset.Contribution
	Expires time.Time // the lease's end; zero: none
}

// Contributions returns every contribution to the RRsets of zone, in no
// order. The records are shared with the state, which never changes them
// in place.
func (s *State) Contributions(zone string) []Contributed {
	var out []Contributed
	for k, cs := range s.sets[zone] {
		for _, c := range cs {
			e := Contributed{Key: k, Origin: c.origin, Contribution: c.Contribution}
			if c.expires != 0 {
				e.Expires = time.Unix(0, c.expires).UTC()
			}
			out = append(out, e)
		}
	}
	return out
}

// Advance moves zone's sequence forward to seq (a loaded snapshot's); a
// lower seq changes nothing.
func (s *State) Advance(zone string, seq uint64) {
	if _, ok := s.index[zone]; ok {
		s.advance(zone, seq)
	}
}

// Seq returns the stream sequence of the last message applied in zone.
func (s *State) Seq(zone string) uint64 { return s.seq[zone] }

// Len returns the number of RRsets desired.
func (s *State) Len() int { return s.n }
