package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/plan"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Reconciliation: read every zone from PowerDNS, compare the whole desired
// state and the owned RRsets with it, and write what differs, through the
// same write pipeline as the incremental flush.

var errNotLoaded = errors.New("zone state not loaded")

// reconcileAll reads every zone from PowerDNS (creating missing zones),
// replaces the cached actual state and writes what differs.
func (s *Syncer) reconcileAll(ctx context.Context) error {
	if err := s.loadAll(ctx); err != nil {
		return err
	}
	return s.syncAll(ctx)
}

// loadAll reads every zone and its ownership record into the cache.
func (s *Syncer) loadAll(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	// One listing tells which zones PowerDNS lacks, so that a new node
	// creates each with one request, not a read that finds nothing and
	// then the POST; without it every zone is read.
	var have map[string]bool
	if names, err := s.pdns.ZoneNames(wctx); err == nil {
		have = make(map[string]bool, len(names))
		for _, n := range names {
			have[n] = true
		}
	} else {
		s.log.Debug().Err(err).Msg("could not list powerdns's zones; reading each")
	}
	for _, zone := range s.cfg.Zones {
		if err := s.loadZone(wctx, zone, have); err != nil {
			s.needReconcile = true
			return fmt.Errorf("reading zone %s: %w", zone, err)
		}
	}
	return s.loadRetiring(wctx)
}

// loadZone reads one zone and its ownership record, creating the zone if
// PowerDNS does not have it. have, if not nil, lists the zones PowerDNS
// has: one it lacks is created without a read first.
func (s *Syncer) loadZone(ctx context.Context, zone string, have map[string]bool) error {
	var actual *served
	found := false
	if have == nil || have[zone] {
		var err error
		if actual, found, err = s.readZone(ctx, zone); err != nil {
			return fmt.Errorf("reading zone: %w", err)
		}
	}
	if !found {
		zc := s.zoneConfig(zone)
		spec := pdnsapi.ZoneSpec{Name: zone, SOA: s.soa(zone, 0), NS: s.nsFor(zone), NSTTL: zc.NSTTL, Account: "zonecast"}
		if err := s.pdns.CreateZone(ctx, spec); err != nil {
			if have != nil && errors.Is(err, pdnsapi.ErrConflict) {
				// Created since the listing: read it.
				return s.loadZone(ctx, zone, nil)
			}
			return fmt.Errorf("creating zone: %w", err)
		}
		s.log.Info().Str("zone", zone).Msg("created zone")
		// The zone holds what it was created with and no ownership record:
		// reading both back would cost two more requests per zone created,
		// and a new node creates all of its zones.
		return s.takeZone(ctx, zone, servedOf(spec.Sets()), true)
	}
	return s.takeZone(ctx, zone, actual, false)
}

// takeZone caches zone's RRsets as read (readZone) with its ownership
// record, read from PowerDNS unless the zone was just created.
func (s *Syncer) takeZone(ctx context.Context, zone string, actual *served, created bool) error {
	var owned owner.Set
	if created {
		owned = s.ledger.LoadNew(zone)
	} else {
		var err error
		if owned, err = s.ledger.Load(ctx, zone); err != nil {
			return err
		}
	}
	if actual == nil {
		actual = newServed(0)
	}
	zs := &zoneState{actual: actual, owned: owned, conflicts: map[rrset.Key]bool{},
		held: map[rrset.Key]struct{}{}, approved: map[rrset.Key]struct{}{}}
	if old, ok := s.zones[zone]; ok {
		zs.conflicts = old.conflicts
		zs.held, zs.approved = old.held, old.approved
	}
	if s.signed[zone] {
		if err := s.setUpSigned(ctx, zone, zs); err != nil {
			return err
		}
	}
	s.zones[zone] = zs
	s.prog.setOwned(zone, len(owned))
	return nil
}

// syncAll compares every desired and owned RRset with the cached actual
// state and writes what differs, zone by zone, in parts (see pass).
func (s *Syncer) syncAll(ctx context.Context) error {
	start := time.Now()
	passes := s.in.takeAll(s.cfg.Zones, func(zone string) map[rrset.Key]struct{} {
		if zs := s.zones[zone]; zs != nil {
			return zs.owned
		}
		return nil
	}, func(zone string, set rrset.Set) bool {
		zs := s.zones[zone]
		return zs != nil && zs.settled(zone, set)
	})
	s.log.Debug().Dur("took", time.Since(start)).Msg("took the desired state for a full pass")

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	for i, zone := range s.cfg.Zones {
		p := passes[zone]
		zs, ok := s.zones[zone]
		var err error
		if !ok {
			err = errNotLoaded
		} else {
			var writes int
			writes, err = s.write(wctx, newPass(s, zone, zs, p))
			s.prog.setDrift(zone, writes)
			if writes > 0 {
				s.log.Info().Str("zone", zone).Int("rrsets", writes).Msg("reconciliation wrote drift")
			}
		}
		if err != nil {
			rest := map[string][]rrset.Key{}
			for _, z := range s.cfg.Zones[i:] {
				for _, set := range passes[z].sets {
					rest[z] = append(rest[z], set.Key)
				}
				rest[z] = append(rest[z], passes[z].undesired...)
			}
			s.in.requeue(rest)
			return fmt.Errorf("reconciling zone %s: %w", zone, err)
		}
	}
	if err := s.syncRetiring(wctx); err != nil {
		return err
	}
	s.needReconcile = false
	s.prog.setReachable(true)
	s.prog.reconciled(time.Now())
	s.retire(wctx)
	s.log.Debug().Dur("took", time.Since(start)).Msg("reconciliation done")
	return nil
}

func (s *Syncer) nsFor(zone string) []string {
	zc := s.zoneConfig(zone)
	if len(zc.NS) > 0 {
		return zc.NS
	}
	return []string{zc.SOA.mname(zone)}
}

// Parts of a full pass: while one part is written, the next is planned
// and, with a claim log, claimed. The first part is small so that PowerDNS
// starts at once.
const (
	firstPart = pdnsapi.MaxBatch
	passPart  = 5 * pdnsapi.MaxBatch
)

// firstPartOf sizes the first part of a pass of n sets in name order.
// While PowerDNS takes it, the rest is sorted (see plan), which grows as
// n log n: a first part of one PATCH would leave PowerDNS idle through
// most of the sort of a large zone, so the part grows with the zone.
func firstPartOf(n int) int { return max(firstPart, n/16) }

// pass is the pipeline's source of one zone's full pass: the desired sets,
// then the owned keys no longer desired with the last part, which also
// carries the SOA for the zone's sequence.
type pass struct {
	s      *Syncer
	zone   string
	zs     *zoneState
	p      *zonePass
	first  int    // the size of the first part (firstPartOf)
	from   int    // the next part starts at p.sets[from]
	sorted bool   // p.sets is in name order beyond the first part
	done   bool   // the last part is planned
	ready  *batch // planned ahead
	err    error  // of planning ahead
	// planned is the batch in flight when ahead last planned: one part
	// ahead at most, so that a part needing no write does not move the
	// zone's sequence while an earlier one is still being written.
	planned *batch
	// still: the pass needs no RRset written (see inStep), planned as
	// one part without the name order, which only writes need.
	still bool
}

func newPass(s *Syncer, zone string, zs *zoneState, p *zonePass) *pass {
	if inStep(zs, p) {
		return &pass{s: s, zone: zone, zs: zs, p: p, still: true}
	}
	// In name order across parts, as within one: PowerDNS (SQLite) takes
	// a zone's new names in order markedly faster. Only the first part
	// must be in order before PowerDNS can start: it is selected and
	// sorted, the rest is sorted while it is written.
	first := firstPartOf(len(p.sets))
	if len(p.sets) > first {
		selectFirst(p.sets, first, bySetKey)
		slices.SortFunc(p.sets[:first], bySetKey)
	} else {
		slices.SortFunc(p.sets, bySetKey)
	}
	return &pass{s: s, zone: zone, zs: zs, p: p, first: first}
}

func (*pass) disjoint() {}

func bySetKey(a, b rrset.Set) int { return rrset.CompareKeys(a.Key, b.Key) }

func (ps *pass) next(context.Context) (*batch, error) {
	for {
		if ps.err != nil {
			return nil, ps.err
		}
		if b := ps.ready; b != nil {
			ps.ready = nil
			return b, nil
		}
		if ps.done {
			return nil, nil
		}
		ps.ready = ps.plan()
	}
}

// ahead plans the next part while one is written and, with a claim log,
// records its claims: a local write that may overlap the PATCHes.
func (ps *pass) ahead(ctx context.Context, inFlight *batch) {
	if ps.ready != nil || ps.done || ps.err != nil || ps.planned == inFlight {
		return
	}
	ps.planned = inFlight
	b := ps.plan()
	if b != nil && ps.s.ledger.Logged() {
		if err := ps.s.claimBatch(ctx, b); err != nil {
			ps.s.gate.Uncount(ps.zone, b.counted)
			ps.err = err
			return
		}
	}
	ps.ready = b
}

// abandon takes back what the valve counted of a part planned, never
// written; syncAll marks the pass's keys again.
func (ps *pass) abandon() {
	if ps.ready != nil {
		ps.s.gate.Uncount(ps.zone, ps.ready.counted)
		ps.ready = nil
	}
}

// plan plans the next part; nil when it needs no write.
func (ps *pass) plan() *batch {
	if ps.still {
		return ps.planStill()
	}
	size := passPart
	if ps.from == 0 {
		size = ps.first
	} else if !ps.sorted {
		slices.SortFunc(ps.p.sets[ps.from:], bySetKey)
		ps.sorted = true
	}
	to := min(ps.from+size, len(ps.p.sets))
	last := to == len(ps.p.sets)
	part := ps.p.sets[ps.from:to]
	ps.from = to
	var und []rrset.Key
	if last {
		und = ps.p.undesired
		ps.done = true
	}
	ch := plan.ComputeSets(part, und, ps.zs.actual, ps.zs.owned)
	keys := make([]rrset.Key, 0, len(part)+len(und))
	for _, set := range part {
		keys = append(keys, set.Key)
	}
	keys = append(keys, und...)
	var soa rrset.Set
	if i := slices.IndexFunc(part, func(s rrset.Set) bool { return s.Type == "SOA" && s.Name == ps.zone }); i >= 0 {
		soa = part[i]
	}
	return ps.s.prepare(ps.zone, ps.zs, keys, ch, ps.p.seq, last, soa)
}

// inStep reports whether a full pass would plan nothing for any of its
// RRsets: every desired one kept as PowerDNS serves it, and no owned key
// undesired. That is a reconciliation without drift, the common one, and
// on a large zone sorting the pass into name order was the biggest part
// of its own work. It stops at the first RRset that needs more.
func inStep(zs *zoneState, p *zonePass) bool {
	if len(p.undesired) > 0 {
		return false // owned and undesired: always a delete or a release
	}
	for _, set := range p.sets {
		if plan.Decide(set, zs.actual, zs.owned).Action != plan.Keep {
			return false
		}
	}
	return true
}

// settled reports whether a full pass of zone has nothing to do with set:
// kept as PowerDNS serves it (plan.Decide), with no mark of its key to
// settle (held, approved, in conflict; see planStill). The zone's SOA is
// never settled: the pass writes the zone's position with it.
func (zs *zoneState) settled(zone string, set rrset.Set) bool {
	k := set.Key
	if len(zs.owned) == 0 || k.Type == "SOA" && k.Name == zone {
		// Nothing owned, nothing kept (a new node): no lookups.
		return false
	}
	_, held := zs.held[k]
	_, approved := zs.approved[k]
	if held || approved || zs.conflicts[k] {
		return false
	}
	return plan.Decide(set, zs.actual, zs.owned).Action == plan.Keep
}

// planStill plans a pass in step (inStep) as one last part: the SOA, if
// the zone's position is not served yet, and the bookkeeping of its keys.
// Of those, only the keys held, approved or in conflict have marks to
// lose (prepare): the others are not handed over.
func (ps *pass) planStill() *batch {
	ps.done = true
	zs := ps.zs
	var keys []rrset.Key
	var soa rrset.Set
	for _, set := range ps.p.sets {
		k := set.Key
		if set.Type == "SOA" && set.Name == ps.zone {
			soa = set
		}
		_, held := zs.held[k]
		_, approved := zs.approved[k]
		if held || approved || zs.conflicts[k] {
			keys = append(keys, k)
		}
	}
	return ps.s.prepare(ps.zone, zs, keys, plan.Changes{}, ps.p.seq, true, soa)
}

// selectFirst reorders s so that s[:k] holds its k smallest elements, in
// no particular order (quickselect): the first part of a pass is known
// without sorting the whole zone first.
func selectFirst[T any](s []T, k int, cmp func(a, b T) int) {
	if k <= 0 || k >= len(s) {
		return
	}
	lo, hi := 0, len(s)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Median of three as the pivot.
		if cmp(s[mid], s[lo]) < 0 {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if cmp(s[hi], s[lo]) < 0 {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if cmp(s[hi], s[mid]) < 0 {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		i, j := lo, hi
		for i <= j {
			for cmp(s[i], pivot) < 0 {
				i++
			}
			for cmp(s[j], pivot) > 0 {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		// s[lo..j] <= pivot <= s[i..hi]; between them, equal to it.
		switch {
		case k-1 <= j:
			hi = j
		case k-1 >= i:
			lo = i
		default:
			return
		}
	}
}
