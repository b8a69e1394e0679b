package syncer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/plan"
	"github.com/zonecast/zonecast/internal/rrset"
)

// The writer's rounds are pipelined. While one zone's PATCHes are in
// flight (PowerDNS works, the syncer waits), the writer keeps taking the
// RRsets that change and plans each one against the cached state; when the
// PATCHes return, the next batch is ready at once. PowerDNS is the slow
// side of a burst, so it should never wait for the syncer's planning.
//
// A key whose RRset is in flight is left dirty until that batch has
// landed, so that it is planned against what PowerDNS then serves. A
// zone's SOA serial (its stream sequence) moves only with a take that held
// nothing of the zone back: the serial never claims a message that is not
// written yet.

// dirtyEntry is a changed RRset as HandleMessage left it for the writer.
type dirtyEntry struct {
	zone string
	set  rrset.Set // the merged desired RRset when it was marked
}

// stageEvery is how often the writer takes new changes while a batch is
// in flight.
const stageEvery = 5 * time.Millisecond

// maxVerifiedClaims bounds the new RRsets whose absence is checked in
// PowerDNS before they are created: the cached actual state may be older
// than the last reconciliation, so a few new RRsets are checked one by one
// and a foreign RRset added by hand since then is reported as a conflict
// rather than overwritten. Bursts of more new RRsets trust the cache (one
// GET per RRset would cost more than the burst); the next reconciliation
// reports what they met.
const maxVerifiedClaims = 32

// staging is what the writer has taken from the dirty marks and planned,
// but not yet written.
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

// flight is a batch whose PATCHes are being written.
type flight struct {
	b    *batch
	busy map[rrset.Key]struct{}
	done chan applied
}

type applied struct {
	rejected []pdnsapi.Rejection
	err      error
}

// flushOnce applies what is pending, logging a failure (shutdown path).
func (s *Syncer) flushOnce(ctx context.Context) {
	if err := s.flush(ctx); err != nil {
		s.log.Warn().Err(err).Msg("could not apply the last changes before stopping; the next start replays them")
	}
}

// maxFlush bounds one flush under a steady stream of changes, so that
// Run also gets to reconciliations and SIGHUP; what is staged then goes
// back to the dirty marks and the next flush carries on.
const maxFlush = time.Second

// flush writes the dirty RRsets, zone by zone, until none is left (or
// maxFlush has passed). When ctx ends it finishes the batch in flight and
// returns; what is left is replayed at the next start.
func (s *Syncer) flush(ctx context.Context) error {
	wctx := context.WithoutCancel(ctx)
	st := newStaging()
	var fl *flight
	var last string // the zone of the last batch: zones take turns
	tick := time.NewTicker(stageEvery)
	defer tick.Stop()
	began := time.Now()
	limit := firstBatch // the round's first batch: PowerDNS waits for it
	for {
		if fl == nil {
			if ctx.Err() != nil {
				s.unstage(st)
				return nil
			}
			if time.Since(began) > maxFlush {
				s.unstage(st)
				s.poke() // carry on after Run's other work
				return nil
			}
			t0 := time.Now()
			s.take(st, nil, limit)
			t1 := time.Now()
			b, err := s.nextBatch(wctx, st, last, limit)
			limit = 0
			if b != nil {
				s.log.Debug().Int("rrsets", len(b.changes)).Dur("take", t1.Sub(t0)).Dur("build", time.Since(t1)).Msg("round: batch ready")
			}
			if err != nil {
				s.unstage(st)
				return err
			}
			if b == nil {
				if st.notLoaded {
					return fmt.Errorf("zone not loaded: %w", errNotLoaded)
				}
				return nil
			}
			last = b.zone
			if fl, err = s.launch(wctx, b); err != nil {
				s.gate.Uncount(b.zone, b.counted)
				s.requeueBatch(b)
				s.unstage(st)
				return err
			}
			continue
		}
		select {
		case r := <-fl.done:
			b := fl.b
			fl = nil
			if _, err := s.land(wctx, b, r.rejected, r.err); err != nil {
				s.requeueBatch(b)
				s.unstage(st)
				return err
			}
		case <-tick.C:
			s.take(st, fl.busy, 0)
		}
	}
}

// take moves the dirty marks into st and plans them; keys in busy (in
// flight) stay dirty, and so do changes of zones not loaded. With budget
// > 0 it plans at most budget changes and leaves the others dirty, with
// their zones' sequences: at a round's start PowerDNS waits for the first
// batch only, and planning a burst's thousands of changes under the
// intake's load takes tens of milliseconds.
func (s *Syncer) take(st *staging, busy map[rrset.Key]struct{}, budget int) {
	settling := s.settling()
	s.mu.Lock()
	taken := s.dirty
	if s.spare == nil {
		// While a burst arrives, make room for as many marks as came
		// since the last take: growing a map entry by entry costs
		// several times more.
		s.spare = make(map[rrset.Key]dirtyEntry, min(s.pending.Load(), uint64(len(taken)), dirtyHintMax))
	}
	s.dirty, s.spare = s.spare, nil
	var seqs map[string]uint64
	if len(s.seqDirty) > 0 {
		seqs = make(map[string]uint64, len(s.seqDirty))
		for z := range s.seqDirty {
			seqs[z] = s.desired.Seq(z)
		}
		clear(s.seqDirty)
	}
	s.mu.Unlock()

	held := map[string]bool{}
	var heldKeys []rrset.Key
	var creates map[string][]rrset.Key
	planned, hint := 0, len(taken)
	if budget > 0 {
		hint = min(hint, budget)
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
		d := plan.Decide(e.set, zs.actual, zs.owned)
		st.zone(e.zone, hint).dec[k] = d
		if d.Action == plan.Create && busy != nil && s.cfg.Claims != nil {
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
		if err := s.claim(context.Background(), zone, s.zones[zone], keys); err != nil {
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
	s.mu.Lock()
	for _, k := range heldKeys {
		if _, newer := s.dirty[k]; !newer {
			s.dirty[k] = taken[k]
		}
	}
	for z := range held {
		s.seqDirty[z] = true
	}
	s.mu.Unlock()
	// Reuse a small map; clearing a big one costs its whole capacity at
	// every take, more than growing a fresh one.
	if len(taken) <= reuseMax {
		clear(taken)
		s.spare = taken
	}
}

// reuseMax is the size up to which take reuses the map of dirty marks;
// dirtyHintMax bounds the room made for the marks of a burst.
const (
	reuseMax     = 1024
	dirtyHintMax = 1 << 16
)

// firstBatch bounds the first batch of a round. PowerDNS is idle until it
// is planned and claimed, and a burst can leave thousands of changes dirty
// by then; the rest is planned while the first batch is written.
const firstBatch = pdnsapi.MaxBatch

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
		if rest := sz.split(limit); rest != nil {
			st.zones[zone] = rest
		}
		zs := s.zones[zone]
		b, err := s.batchOf(ctx, zone, zs, sz)
		if err != nil {
			st.zones[zone] = sz
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
				zs.actual[k] = set
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
	return s.prepare(zone, zs, keys, ch, sz.seq, sz.seqSet), nil
}

// launch claims what the batch creates, then starts its PATCHes.
func (s *Syncer) launch(ctx context.Context, b *batch) (*flight, error) {
	if err := s.claimBatch(ctx, b); err != nil {
		return nil, err
	}
	return s.startApply(ctx, b), nil
}

// startApply starts a claimed batch's PATCHes.
func (s *Syncer) startApply(ctx context.Context, b *batch) *flight {
	b.start = time.Now()
	f := &flight{b: b, busy: make(map[rrset.Key]struct{}, len(b.keys)), done: make(chan applied, 1)}
	for _, k := range b.keys {
		f.busy[k] = struct{}{}
	}
	go func() {
		actx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		defer cancel()
		rejected, err := s.pdns.Apply(actx, b.zone, b.changes, b.always)
		f.done <- applied{rejected: rejected, err: err}
	}()
	return f
}

// Parts of a full pass: while one part is written, the next is planned
// and, with a claim log, claimed. The first part is small so that PowerDNS
// starts at once.
const (
	firstPart = pdnsapi.MaxBatch
	passPart  = 5 * pdnsapi.MaxBatch
)

// syncZoneParts plans and writes a full pass of one zone: the desired
// sets, and the owned keys no longer desired. The SOA for seq goes with
// the last part. It returns the RRsets written.
func (s *Syncer) syncZoneParts(ctx context.Context, zone string, zs *zoneState, sets []rrset.Set,
	undesired []rrset.Key, seq uint64) (int, error) {
	// In name order across parts, as within one: PowerDNS (SQLite) takes
	// a zone's new names in order markedly faster (docs/benchmarks.md,
	// "A new node converging 100,000 RRsets").
	// Only the first part must be in order before PowerDNS can start:
	// it is selected and sorted, the rest is sorted while it is written
	// (sorting 100,000 RRsets takes about 30 ms).
	bySetKey := func(a, b rrset.Set) int { return rrset.CompareKeys(a.Key, b.Key) }
	if len(sets) > firstPart {
		selectFirst(sets, firstPart, bySetKey)
		slices.SortFunc(sets[:firstPart], bySetKey)
	} else {
		slices.SortFunc(sets, bySetKey)
	}
	var fl *flight
	written := 0
	// wait waits for the part in flight; land takes its outcome in. A part
	// that succeeded is landed after the next part has left (the parts'
	// keys are disjoint), so that PowerDNS does not wait for the
	// bookkeeping.
	wait := func() (*batch, applied) {
		if fl == nil {
			return nil, applied{}
		}
		r := <-fl.done
		b := fl.b
		fl = nil
		return b, r
	}
	land := func(b *batch, r applied) error {
		if b == nil {
			return nil
		}
		n, err := s.land(ctx, b, r.rejected, r.err)
		written += n
		return err
	}
	finish := func() error { return land(wait()) }
	for from, size := 0, firstPart; ; from, size = from+size, passPart {
		if from == firstPart {
			slices.SortFunc(sets[from:], bySetKey)
		}
		to := min(from+size, len(sets))
		last := to == len(sets)
		part := sets[from:to]
		var und []rrset.Key
		if last {
			und = undesired
		}
		ch := plan.ComputeSets(part, und, zs.actual, zs.owned)
		keys := make([]rrset.Key, 0, len(part)+len(und))
		for _, set := range part {
			keys = append(keys, set.Key)
		}
		keys = append(keys, und...)
		b := s.prepare(zone, zs, keys, ch, seq, last)
		if b != nil && s.cfg.Claims != nil {
			// A local write: it may overlap the PATCHes in flight.
			if err := s.claimBatch(ctx, b); err != nil {
				s.gate.Uncount(zone, b.counted)
				_ = finish()
				return written, err
			}
		}
		prev, r := wait()
		if r.err != nil {
			if b != nil {
				s.gate.Uncount(zone, b.counted) // planned, never written
			}
			return written, land(prev, r)
		}
		if b != nil {
			if s.cfg.Claims == nil {
				if err := s.claimBatch(ctx, b); err != nil {
					s.gate.Uncount(zone, b.counted)
					_ = land(prev, r)
					return written, err
				}
			}
			fl = s.startApply(ctx, b)
		}
		if err := land(prev, r); err != nil {
			_ = finish()
			return written, err
		}
		if last {
			break
		}
	}
	return written, finish()
}

// requeueBatch marks a batch's keys dirty again after it failed.
func (s *Syncer) requeueBatch(b *batch) {
	s.requeue(map[string][]rrset.Key{b.zone: b.keys})
}

// unstage marks what st holds dirty again.
func (s *Syncer) unstage(st *staging) {
	keys := make(map[string][]rrset.Key, len(st.zones))
	for z, sz := range st.zones {
		ks := make([]rrset.Key, 0, len(sz.dec))
		for k := range sz.dec {
			ks = append(ks, k)
		}
		keys[z] = ks
	}
	s.requeue(keys)
	clear(st.zones)
}

// requeue marks keys dirty again, with their current desired RRsets.
func (s *Syncer) requeue(keys map[string][]rrset.Key) {
	s.mu.Lock()
	for z, ks := range keys {
		for _, k := range ks {
			s.dirty[k] = dirtyEntry{zone: z, set: s.desired.Get(k)}
		}
		s.seqDirty[z] = true
	}
	s.mu.Unlock()
}

// selectFirst reorders s so that s[:k] holds its k smallest elements, in
// no particular order (quickselect).
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
