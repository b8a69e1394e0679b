// Package signerd is zonecast-signer's shell around the signing core
// (internal/signer): it folds the record stream of the signed zones into
// their desired RRsets, signs what changed, and publishes the result on
// the signer's own subjects, each change as one atomic batch. The folding
// and signing (state) is pure and takes time as a parameter; Run adds the
// stream, the publisher and the clock.
package signerd

import (
	"fmt"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/desired"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/signer"
)

// state is the desired RRsets of the signed zones, as the record stream
// says, their signers, and what changed since the last signing.
type state struct {
	prefix  string
	desired *desired.State
	zones   map[string]*signer.Signer
	order   []string // zone names, sorted
	dirty   map[string]map[rrset.Key]bool
	started bool // the first signing (of every whole zone) is done
}

func newState(prefix string, signers []*signer.Signer) *state {
	s := &state{prefix: prefix, zones: map[string]*signer.Signer{}, dirty: map[string]map[rrset.Key]bool{}}
	for _, sg := range signers {
		s.zones[sg.Zone()] = sg
		s.order = append(s.order, sg.Zone())
	}
	slices.Sort(s.order)
	s.desired = desired.New(s.order)
	return s
}

// outcome says what a delivery did, for metrics and logs.
type outcome int

const (
	folded  outcome = iota // a set or a tombstone
	expired                // a marker, or a lease already over: withdrawn
	invalid                // refused: undecodable, or not allowed in the zones
)

// fold takes one delivery of the record stream, received at now, into the
// desired state. An invalid message is refused, and withdraws the
// subject's previous contribution, as the syncers do, so that the signer
// and the nameservers agree on what the stream holds.
func (s *state) fold(d events.Delivery, now time.Time) (outcome, error) {
	if d.Removed || (!d.Expires.IsZero() && !d.Expires.After(now)) {
		key, origin, err := events.ParseSubject(s.prefix, d.Subject)
		if err != nil {
			return invalid, fmt.Errorf("reading delete marker: %w", err)
		}
		s.withdraw(key, origin, d.Seq)
		return expired, nil
	}
	msg, err := events.DecodeWithSubject(s.prefix, d.Subject, d.Data)
	if err != nil {
		if key, origin, perr := events.ParseSubject(s.prefix, d.Subject); perr == nil {
			s.withdraw(key, origin, d.Seq)
		}
		return invalid, err
	}
	zone, changed, err := s.desired.ApplyLease(msg, d.Seq, d.Expires)
	if err != nil {
		s.withdraw(msg.Key(), msg.Origin, d.Seq)
		return invalid, err
	}
	if changed {
		s.mark(zone, msg.Key())
	}
	return folded, nil
}

func (s *state) withdraw(key rrset.Key, origin string, seq uint64) {
	if zone, changed, ok := s.desired.Withdraw(key, origin, seq); ok && changed {
		s.mark(zone, key)
	}
}

func (s *state) mark(zone string, key rrset.Key) {
	if s.dirty[zone] == nil {
		s.dirty[zone] = map[rrset.Key]bool{}
	}
	s.dirty[zone][key] = true
}

// expire withdraws the contributions whose lease ended by now.
func (s *state) expire(now time.Time) {
	for _, e := range s.desired.ExpireDue(now) {
		if e.Changed {
			s.mark(e.Zone, e.Key)
		}
	}
}

// nextExpiry is when expire may next have something to do.
func (s *state) nextExpiry() (time.Time, bool) { return s.desired.NextExpiry() }

// adopt hands each zone's signer what an earlier run published.
func (s *state) adopt(published map[string][]rrset.Set, now time.Time) {
	for zone, sets := range published {
		if sg := s.zones[zone]; sg != nil {
			sg.Adopt(sets, now)
		}
	}
}

// zoneChange is what to publish for one zone.
type zoneChange struct {
	zone   string
	serial uint64 // the record stream sequence the change is signed at
	signer.Change
}

// sign signs what changed since the last call, at now: the first call
// signs every whole zone (and withdraws what an earlier run published
// that is gone), later ones the zones with changes. A zone that fails is
// reported and left marked, and the others are still signed.
func (s *state) sign(now time.Time) ([]zoneChange, []error) {
	var out []zoneChange
	var errs []error
	var whole map[string][]rrset.Set
	if !s.started {
		whole = map[string][]rrset.Set{}
		s.desired.Each(func(zone string, set rrset.Set) { whole[zone] = append(whole[zone], set) })
	}
	for _, zone := range s.order {
		var sets []rrset.Set
		if !s.started {
			sets = whole[zone]
		} else if len(s.dirty[zone]) > 0 {
			for k := range s.dirty[zone] {
				sets = append(sets, s.desired.Get(k))
			}
		} else {
			continue
		}
		seq := s.desired.Seq(zone)
		ch, err := s.zones[zone].Apply(sets, seq, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.dirty, zone)
		if !ch.Empty() {
			out = append(out, zoneChange{zone: zone, serial: seq, Change: ch})
		}
	}
	s.started = true
	return out, errs
}

// flushSOA signs, in every zone, the SOA that SOAEvery held back once it
// is due at now.
func (s *state) flushSOA(now time.Time) ([]zoneChange, []error) {
	return s.each(func(sg *signer.Signer) (signer.Change, error) { return sg.FlushSOA(now) })
}

// soaDue is when the next held-back SOA is due.
func (s *state) soaDue() (time.Time, bool) {
	var first time.Time
	for _, zone := range s.order {
		if at, ok := s.zones[zone].SOADue(); ok && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// refresh re-signs, in every zone, what expires within its signer's
// refresh horizon from now.
func (s *state) refresh(now time.Time) ([]zoneChange, []error) {
	return s.each(func(sg *signer.Signer) (signer.Change, error) { return sg.Refresh(now) })
}

// each runs op on every zone's signer, and returns what to publish and
// what failed; a zone that fails leaves the others be.
func (s *state) each(op func(*signer.Signer) (signer.Change, error)) ([]zoneChange, []error) {
	var out []zoneChange
	var errs []error
	for _, zone := range s.order {
		ch, err := op(s.zones[zone])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ch.Empty() {
			out = append(out, zoneChange{zone: zone, serial: s.desired.Seq(zone), Change: ch})
		}
	}
	return out, errs
}
