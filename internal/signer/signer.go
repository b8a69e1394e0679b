// Package signer is the core of zonecast-signer: it turns the merged
// RRsets of one zone, as the record stream desires them, into the signed
// zone to publish (data, RRSIG, NSEC or NSEC3, DNSKEY, SOA and apex NS),
// and says what changed against what it published before. It is pure:
// time comes in as a parameter, and publishing is the caller's.
package signer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/rrset"
)

// SOA is the template of the signed zone's SOA. The serial is the record
// stream's sequence, as the syncers make it for unsigned zones.
type SOA struct {
	MName, RName                    string
	Refresh, Retry, Expire, Minimum uint32
	TTL                             uint32
}

// Config is one signed zone.
type Config struct {
	Zone     string
	KSK, ZSK dnssec.Key
	NSEC3    *dnssec.NSEC3Params // nil: NSEC
	SOA      SOA
	NS       []string // the apex NS records, which the signer publishes and signs
	NSTTL    uint32
	KeyTTL   uint32 // DNSKEY TTL
	// Validity is how long a new signature is valid from now, Refresh how
	// long before its expiry it is made again, and Jitter how much earlier
	// than Validity each RRset's signatures expire (a fixed share per
	// RRset), so that what was signed together is not refreshed together.
	Validity, Refresh, Jitter time.Duration
	// SOAEvery paces the SOA: while changes keep coming, it is signed
	// again at most this often (0: with every change), and the serial of
	// the last change follows once SOAEvery has passed (SOADue). The SOA
	// is in every negative answer, and PowerDNS reads an answer's SOA and
	// its RRSIGs in separate lookups: the fewer SOA writes, the fewer
	// answers that pair the SOA from before a write with its signature
	// from after it. Keeping the previous SOA's signature beside the new
	// one would break BIND instead (see dnssec.Zone's replaced).
	SOAEvery time.Duration
}

// Inception backdates signatures against clock skew between the signer
// and the resolvers.
const Inception = time.Hour

// Change is what to publish: RRsets to write and keys to withdraw.
type Change struct {
	Upserts []rrset.Set
	Deletes []rrset.Key
}

// Empty reports whether there is nothing to publish.
func (c Change) Empty() bool { return len(c.Upserts) == 0 && len(c.Deletes) == 0 }

// Signer signs one zone and remembers what it published.
type Signer struct {
	cfg       Config
	zone      *dnssec.Zone
	published map[rrset.Key]rrset.Set
	started   bool
	// soaSeq is the stream sequence of the SOA signed last, at soaAt;
	// pendingSeq a later one that waits for SOAEvery.
	soaSeq, pendingSeq uint64
	soaAt              time.Time
}

// New returns a signer of cfg's zone that has published nothing yet.
func New(cfg Config) *Signer {
	return &Signer{cfg: cfg, zone: dnssec.NewZone(cfg.Zone, cfg.KSK, cfg.ZSK, cfg.SOA.Minimum, cfg.NSEC3),
		published: map[rrset.Key]rrset.Set{}}
}

// Adopt takes what an earlier run published (the signer's own subjects,
// replayed): changes are then computed against it, and its signatures
// that verify and stay valid past the refresh horizon are reused.
func (s *Signer) Adopt(published []rrset.Set, now time.Time) {
	for _, p := range published {
		if len(p.Records) == 0 {
			continue
		}
		s.published[p.Key] = p
		if p.Type == "RRSIG" {
			s.zone.Adopt(p, now.Add(s.cfg.Refresh))
		}
	}
}

func (s *Signer) window(now time.Time) dnssec.Window {
	return dnssec.Window{Inception: now.Add(-Inception), Expiration: now.Add(s.cfg.Validity), Jitter: s.cfg.Jitter}
}

// soa returns the SOA RRset for stream sequence seq.
func (s *Signer) soa(seq uint64) (rrset.Set, error) {
	t := s.cfg.SOA
	mname, rname := t.MName, t.RName
	if mname == "" {
		mname = "ns1." + s.cfg.Zone
		if len(s.cfg.NS) > 0 {
			mname = s.cfg.NS[0]
		}
	}
	if rname == "" {
		rname = "hostmaster." + s.cfg.Zone
	}
	serial := uint32(seq)
	if pub, ok := s.Serial(); ok && serial < pub {
		// The stream forgot what made the serial published (expired
		// tombstones or leases): it never goes back.
		serial = pub
	}
	c, err := rrset.CanonicalContent("SOA", fmt.Sprintf("%s %s %d %d %d %d %d", mname, rname, serial,
		t.Refresh, t.Retry, t.Expire, t.Minimum))
	if err != nil {
		return rrset.Set{}, fmt.Errorf("making the SOA of %s: %w", s.cfg.Zone, err)
	}
	return rrset.Set{Key: rrset.Key{Name: s.cfg.Zone, Type: "SOA"}, TTL: t.TTL, Records: []string{c}}, nil
}

// apex returns the RRsets the signer owns at the apex: SOA, NS, DNSKEY and
// NSEC3PARAM.
func (s *Signer) apex(seq uint64) ([]rrset.Set, error) {
	soa, err := s.soa(seq)
	if err != nil {
		return nil, err
	}
	ns := rrset.Set{Key: rrset.Key{Name: s.cfg.Zone, Type: "NS"}, TTL: s.cfg.NSTTL}
	for _, n := range s.cfg.NS {
		c, err := rrset.CanonicalContent("NS", n)
		if err != nil {
			return nil, fmt.Errorf("apex NS of %s: %w", s.cfg.Zone, err)
		}
		ns.Records = append(ns.Records, c)
	}
	out := append([]rrset.Set{soa, rrset.Normalize(ns)}, s.keySets()...)
	if s.cfg.NSEC3 != nil {
		out = append(out, dnssec.NSEC3PARAM(s.cfg.Zone, *s.cfg.NSEC3, s.cfg.SOA.Minimum))
	}
	return out, nil
}

// keySets are the apex RRsets that the keys make: DNSKEY, and CDS and
// CDNSKEY, which ask the parent for the DS of the KSKs.
func (s *Signer) keySets() []rrset.Set {
	return []rrset.Set{s.zone.DNSKEY(s.cfg.KeyTTL), s.zone.CDS(s.cfg.KeyTTL), s.zone.CDNSKEY(s.cfg.KeyTTL)}
}

// SetKeys puts ks's keys to work at now (see Plan) and returns what to
// publish: the DNSKEY, CDS and CDNSKEY RRsets with their signatures, and
// when the ZSK changed, every signature made again with the new one.
func (s *Signer) SetKeys(ks KeySet, now time.Time) (Change, error) {
	zskChanged := s.zone.SetKeys(ks.KSKs, ks.ZSK, ks.Published)
	s.cfg.KSK, s.cfg.ZSK = ks.KSKs[0], ks.ZSK
	if !s.started {
		return Change{}, nil // the first Apply brings them
	}
	zch, err := s.zone.Apply(s.keySets(), s.window(now))
	if err != nil {
		return Change{}, fmt.Errorf("signing the keys of %s: %w", s.cfg.Zone, err)
	}
	if zskChanged {
		sigs, err := s.zone.ResignAll(s.window(now))
		if err != nil {
			return Change{}, fmt.Errorf("signing %s with ZSK %d: %w", s.cfg.Zone, ks.ZSK.Tag(), err)
		}
		zch.Upserts = append(zch.Upserts, sigs...)
	}
	return s.filter(zch.Upserts, zch.Deletes), nil
}

// Apply signs changed, the merged RRsets of the zone that changed (one
// without records is gone), at stream sequence seq (the SOA serial), and
// returns what differs from what was published. The first call also
// brings the apex's own RRsets and withdraws what an earlier run
// published that is no longer in the zone: pass the whole zone then.
// Sources may not publish the apex SOA and NS, nor DNSSEC types; such
// RRsets in changed are refused.
func (s *Signer) Apply(changed []rrset.Set, seq uint64, now time.Time) (Change, error) {
	for _, c := range changed {
		if c.Name == s.cfg.Zone && (c.Type == "SOA" || c.Type == "NS") || !slices.Contains(rrset.Types, c.Type) {
			return Change{}, fmt.Errorf("signing %s in %s: the signer's own RRset", c.Key, s.cfg.Zone)
		}
	}
	apex, err := s.apex(seq)
	if err != nil {
		return Change{}, err
	}
	switch {
	case !s.started:
		changed = append(slices.Clone(changed), apex...)
		s.soaSeq, s.soaAt, s.pendingSeq = seq, now, 0
	case seq != s.soaSeq && now.Sub(s.soaAt) >= s.cfg.SOAEvery:
		changed = append(slices.Clone(changed), apex[0])
		s.soaSeq, s.soaAt, s.pendingSeq = seq, now, 0
	case seq != s.soaSeq:
		s.pendingSeq = seq
	}
	zch, err := s.zone.Apply(changed, s.window(now))
	if err != nil {
		return Change{}, fmt.Errorf("signing %d RRsets of %s: %w", len(changed), s.cfg.Zone, err)
	}
	if !s.started {
		s.started = true
		return s.full(), nil
	}
	return s.filter(zch.Upserts, zch.Deletes), nil
}

// SOADue returns when the SOA of the last change, which SOAEvery held
// back, is due (FlushSOA), and false if none waits.
func (s *Signer) SOADue() (time.Time, bool) {
	if s.pendingSeq == 0 {
		return time.Time{}, false
	}
	return s.soaAt.Add(s.cfg.SOAEvery), true
}

// FlushSOA signs the SOA that waits for SOAEvery, if it is due at now.
func (s *Signer) FlushSOA(now time.Time) (Change, error) {
	if at, ok := s.SOADue(); !ok || now.Before(at) {
		return Change{}, nil
	}
	return s.Apply(nil, s.pendingSeq, now)
}

// Refresh re-signs the RRsets whose signatures expire within the refresh
// horizon, and returns their new RRSIG RRsets.
func (s *Signer) Refresh(now time.Time) (Change, error) {
	due := s.zone.Expiring(now.Add(s.cfg.Refresh))
	if len(due) == 0 {
		return Change{}, nil
	}
	sigs, err := s.zone.Resign(due, s.window(now))
	if err != nil {
		return Change{}, fmt.Errorf("re-signing %d RRsets of %s: %w", len(due), s.cfg.Zone, err)
	}
	return s.filter(sigs, nil), nil
}

// full compares the whole zone with what was published, records the zone
// as published and returns the difference, withdrawals included: what an
// earlier run published and the zone no longer holds.
func (s *Signer) full() Change {
	all := s.zone.All()
	seen := make(map[rrset.Key]bool, len(all))
	for _, set := range all {
		seen[set.Key] = true
	}
	var gone []rrset.Key
	for k := range s.published {
		if !seen[k] {
			gone = append(gone, k)
		}
	}
	rrset.SortKeys(gone)
	return s.filter(all, gone)
}

// filter returns the part of a change that differs from what was
// published, and records it as published.
func (s *Signer) filter(upserts []rrset.Set, deletes []rrset.Key) Change {
	var ch Change
	for _, set := range upserts {
		set = canonical(set)
		if old, ok := s.published[set.Key]; ok && old.Equal(set) {
			continue
		}
		s.published[set.Key] = set
		ch.Upserts = append(ch.Upserts, set)
	}
	for _, k := range deletes {
		if _, ok := s.published[k]; ok {
			delete(s.published, k)
			ch.Deletes = append(ch.Deletes, k)
		}
	}
	return ch
}

// canonical returns set as the stream holds it once published: each
// record in canonical form (rrset.CanonicalContent, PowerDNS's), sorted.
// What an earlier run published, replayed, then compares equal.
func canonical(set rrset.Set) rrset.Set {
	out := rrset.Set{Key: set.Key, TTL: set.TTL, Records: make([]string, len(set.Records))}
	for i, r := range set.Records {
		c, err := rrset.CanonicalContent(set.Type, r)
		if err != nil {
			c = r // publishing refuses it, and says why
		}
		out.Records[i] = c
	}
	return rrset.Normalize(out)
}

// Published returns how many RRsets the signer has published.
func (s *Signer) Published() int { return len(s.published) }

// EarliestExpiry returns when the first signature the signer made or
// adopted expires, and false before the first Apply.
func (s *Signer) EarliestExpiry() (time.Time, bool) { return s.zone.EarliestExpiry() }

// Zone returns the name of the signed zone.
func (s *Signer) Zone() string { return s.cfg.Zone }

// Config returns the signer's configuration.
func (s *Signer) Config() Config { return s.cfg }

// Serial returns the serial of the SOA last published, and false before
// any.
func (s *Signer) Serial() (uint32, bool) {
	soa, ok := s.published[rrset.Key{Name: s.cfg.Zone, Type: "SOA"}]
	if !ok || len(soa.Records) != 1 {
		return 0, false
	}
	f := strings.Fields(soa.Records[0])
	if len(f) != 7 {
		return 0, false
	}
	n, err := strconv.ParseUint(f[2], 10, 32)
	return uint32(n), err == nil
}
