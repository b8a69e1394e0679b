package syncer

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/plan"
	"github.com/zonecast/zonecast/internal/rrset"
)

// The incremental flush: the write pipeline's source of the changes the
// intake marked. While a batch is in flight it keeps taking the marks and
// planning them against the cached state (staging), so that the next
// batch is ready when the PATCHes return.
//
// A key whose RRset is in flight is left marked until that batch has
// landed, so that it is planned against what PowerDNS then serves. A
// zone's SOA serial (its stream sequence) moves only with a take that held
// nothing of the zone back: the serial never claims a message that is not
// written yet.

// maxVerifiedClaims bounds the new RRsets whose absence is checked in
// PowerDNS before they are created: the cached actual state may be older
// than the last reconciliation, so a few new RRsets are checked one by one
// and a foreign RRset added by hand since then is reported as a conflict
// rather than overwritten. Bursts of more new RRsets trust the cache (one
// GET per RRset would cost more than the burst); the next reconciliation
// reports what they met.
const maxVerifiedClaims = 32

// maxFlush bounds one flush under a steady stream of changes, so that
// Run also gets to reconciliations and SIGHUP; what is staged then goes
// back to the marks and the next flush carries on.
const maxFlush = time.Second

// firstBatch bounds the first batch of a round. PowerDNS is idle until it
// is planned and claimed, and a burst can leave thousands of changes
// marked by then; the rest is planned while the first batch is written.
const firstBatch = pdnsapi.MaxBatch

// staging is what the writer has taken from the marks and planned, but
// not yet written.
type staging struct {
	zones     map[string]*stagedZone
	notLoaded bool // a change of a zone whose state is not loaded was held back
}

type stagedZone struct {
	dec    map[rrset.Key]plan.Decision
	seq    uint64 // the stream sequence the zone's SOA may show once dec is written
	seqSet bool
}

func newStaging() *staging { return &staging{zones: map[string]*stagedZone{}} }

// zone returns z's staged decisions, made with room for hint of them if
// they are new.
func (st *staging) zone(z string, hint int) *stagedZone {
	sz, ok := st.zones[z]
	if !ok {
		sz = &stagedZone{dec: make(map[rrset.Key]plan.Decision, hint)}
		st.zones[z] = sz
	}
	return sz
}

// split keeps at most limit decisions in sz, the first in name order, and
// returns the others (nil if none). The zone's sequence goes with the
// others: the SOA must not claim what is not written yet.
func (sz *stagedZone) split(limit int) *stagedZone {
	if limit <= 0 || len(sz.dec) <= limit {
		return nil
	}
	keys := make([]rrset.Key, 0, len(sz.dec))
	for k := range sz.dec {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, rrset.CompareKeys)
	// Move the few first decisions out, not the many others.
	first := make(map[rrset.Key]plan.Decision, limit)
	for _, k := range keys[:limit] {
		first[k] = sz.dec[k]
		delete(sz.dec, k)
	}
	rest := &stagedZone{dec: sz.dec, seq: sz.seq, seqSet: sz.seqSet}
	sz.dec, sz.seq, sz.seqSet = first, 0, false
	return rest
}

// flush is the pipeline's source of marked changes.
type flush struct {
	s     *Syncer
	stop  <-chan struct{} // ends the flush between batches
	st    *staging
	last  string // the zone of the last batch: zones take turns
	began time.Time
	limit int // of the next batch; the round's first is bounded
}

// flush writes the marked RRsets, zone by zone, until none is left (or
// maxFlush has passed). When ctx ends it finishes the batch in flight and
// returns; what is left is replayed at the next start.
func (s *Syncer) flush(ctx context.Context) error {
	f := &flush{s: s, stop: ctx.Done(), st: newStaging(), began: time.Now(), limit: firstBatch}
	_, err := s.write(context.WithoutCancel(ctx), f)
	return err
}

// flushOnce applies what is pending, logging a failure (shutdown path).
func (s *Syncer) flushOnce(ctx context.Context) {
	if err := s.flush(ctx); err != nil {
		s.log.Warn().Err(err).Msg("could not apply the last changes before stopping; the next start replays them")
	}
}

func (f *flush) next(ctx context.Context) (*batch, error) {
	s := f.s
	select {
	case <-f.stop:
		f.abandon()
		return nil, nil
	default:
	}
	if time.Since(f.began) > maxFlush {
		f.abandon()
		s.in.poke() // carry on after Run's other work
		return nil, nil
	}
	t0 := time.Now()
	s.take(f.st, nil, f.limit)
	t1 := time.Now()
	b, err := s.nextBatch(ctx, f.st, f.last, f.limit)
	f.limit = 0
	if err != nil {
		return nil, err
	}
	if b == nil {
		if f.st.notLoaded {
			return nil, fmt.Errorf("zone not loaded: %w", errNotLoaded)
		}
		return nil, nil
	}
	s.log.Debug().Int("rrsets", len(b.changes)).Dur("take", t1.Sub(t0)).Dur("build", time.Since(t1)).Msg("round: batch ready")
	f.last = b.zone
	return b, nil
}

func (f *flush) ahead(_ context.Context, b *batch) { f.s.take(f.st, b.inFlight(), 0) }

// abandon marks what the staging holds dirty again.
func (f *flush) abandon() {
	keys := make(map[string][]rrset.Key, len(f.st.zones))
	for z, sz := range f.st.zones {
		ks := make([]rrset.Key, 0, len(sz.dec))
		for k := range sz.dec {
			ks = append(ks, k)
		}
		keys[z] = ks
	}
	f.s.in.requeue(keys)
	clear(f.st.zones)
}

// take moves the marks into st and plans them; keys in busy (in flight)
// stay marked, and so do changes of zones not loaded. With budget > 0 it
// plans at most budget changes and leaves the others marked, with their
// zones' sequences: at a round's start PowerDNS waits for the first batch
// only, and planning a burst's thousands of changes under the intake's
// load takes a while.
func (s *Syncer) take(st *staging, busy map[rrset.Key]struct{}, budget int) {
	settling := s.settling()
	taken, seqs := s.in.swap()
	held := map[string]bool{}
	var heldKeys []rrset.Key
	var creates map[string][]rrset.Key
	planned, hint := 0, len(taken)
	if budget > 0 {
		hint = min(hint, budget)
	}
	// A zone's staged map is made with room for its share of the marks:
	// the whole take's count for each of a thousand zones would be a
	// thousand maps of a burst's size.
	var perZone map[string]int
	if len(s.zones) > 1 && hint > 1 {
		perZone = make(map[string]int, len(s.zones))
		for _, e := range taken {
			perZone[e.zone]++
		}
	}
	for k, e := range taken {
		zs := s.zones[e.zone]
		_, inFlight := busy[k]
		settle := settling && len(e.set.Records) == 0 // a deletion while deletions arrive: see deleteSettle
		if over := budget > 0 && planned >= budget; zs == nil || inFlight || over || settle {
			st.notLoaded = st.notLoaded || zs == nil
			held[e.zone] = true
			heldKeys = append(heldKeys, k)
			continue
		}
		planned++
		if s.retiring[e.zone] {
			// Withdrawn from: nothing there is desired (an approval
			// requeues its held deletions).
			e.set = rrset.Set{Key: k}
		}
		d := plan.Decide(e.set, zs.actual, zs.owned)
		zh := hint
		if perZone != nil {
			zh = min(hint, perZone[e.zone])
		}
		st.zone(e.zone, zh).dec[k] = d
		if d.Action == plan.Create && busy != nil && s.ledger.Logged() {
			if creates == nil {
				creates = map[string][]rrset.Key{}
			}
			creates[e.zone] = append(creates[e.zone], k)
		}
	}
	// While PowerDNS writes, log the claims of the next batch already: a
	// local write off the critical path. A claim for a key that ends up
	// not written is released by the next reconciliation.
	for zone, keys := range creates {
		if err := s.claim(context.Background(), zone, keys); err != nil {
			continue // claimed again, with the error reported, at launch
		}
		dec := st.zones[zone].dec
		for _, k := range keys {
			d := dec[k]
			d.Action = plan.Replace
			dec[k] = d
		}
	}
	for z, seq := range seqs {
		if held[z] || s.zones[z] == nil {
			st.notLoaded = st.notLoaded || s.zones[z] == nil
			held[z] = true
			continue
		}
		sz := st.zone(z, 0)
		sz.seq, sz.seqSet = seq, true
	}
	// A signed zone's SOA waits with what is held of the zone: its serial
	// says that the signer's changes up to it are served, and it would
	// land before them.
	for z := range held {
		soa := rrset.Key{Name: z, Type: "SOA"}
		if _, took := taken[soa]; took && s.signed[z] && st.zones[z] != nil {
			delete(st.zones[z].dec, soa)
			heldKeys = append(heldKeys, soa)
		}
	}
	s.in.putBack(taken, heldKeys, held)
}

// nextBatch builds the next zone's batch from st, the zone after last
// first, of at most limit RRsets (0: no bound); nil when nothing is left to
// write.
func (s *Syncer) nextBatch(ctx context.Context, st *staging, last string, limit int) (*batch, error) {
	zones := make([]string, 0, len(st.zones))
	for z := range st.zones {
		zones = append(zones, z)
	}
	slices.Sort(zones)
	if i, found := slices.BinarySearch(zones, last); len(zones) > 0 {
		if found {
			i++
		}
		zones = append(zones[i:], zones[:i]...)
	}
	for _, zone := range zones {
		sz := st.zones[zone]
		delete(st.zones, zone)
		rest := sz.split(limit)
		b, err := s.batchOf(ctx, zone, s.zones[zone], sz)
		if rest != nil {
			if err != nil {
				maps.Copy(rest.dec, sz.dec) // all of it back, with the zone's sequence
			}
			st.zones[zone] = rest
		} else if err != nil {
			st.zones[zone] = sz
		}
		if err != nil {
			return nil, err
		}
		if b != nil {
			return b, nil
		}
	}
	return nil, nil
}

// batchOf turns a zone's staged decisions into a batch, checking a few new
// RRsets in PowerDNS first (see maxVerifiedClaims).
func (s *Syncer) batchOf(ctx context.Context, zone string, zs *zoneState, sz *stagedZone) (*batch, error) {
	keys := make([]rrset.Key, 0, len(sz.dec))
	ch := plan.Changes{Upserts: make([]rrset.Set, 0, len(sz.dec))}
	for k, d := range sz.dec {
		keys = append(keys, k)
		ch.Add(d)
	}
	if n := len(ch.Claims); n > 0 && n <= maxVerifiedClaims {
		found := false
		for _, k := range ch.Claims {
			set, ok, err := s.pdns.RRset(ctx, zone, k)
			if err != nil {
				return nil, fmt.Errorf("checking %s before creating it: %w", k, err)
			}
			if ok {
				zs.actual.put(set)
				found = true
			}
		}
		if found {
			ch = plan.Changes{}
			for _, k := range keys {
				ch.Add(plan.Decide(sz.dec[k].Desired, zs.actual, zs.owned))
			}
		}
	}
	soa := sz.dec[rrset.Key{Name: zone, Type: "SOA"}].Desired
	return s.prepare(zone, zs, keys, ch, sz.seq, sz.seqSet, soa), nil
}
