package syncer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/plan"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/valve"
)

// Held deletions: the safety valve (internal/valve) between the desired
// state and PowerDNS. A batch whose deletions the valve does not admit is
// written without them; the keys wait in the zone's held set, still owned
// and served, until an operator approves them (Approve) or they are
// desired again. While a zone holds deletions its SOA serial stays where
// it was: it must not claim a stream position whose deletions PowerDNS
// does not have.

// Hold is what one zone holds.
type Hold struct {
	Zone  string
	Held  int // deletions held
	Owned int // RRsets the syncer owns there
}

// holdDeletes passes ch's deletions through the valve; those an operator
// approved go through as they are. It returns the changes to write
// (without the deletions held, and without their releases), whether the
// batch may still move the zone's SOA, and how many deletions the valve
// counted (to take back if they are not written).
func (s *Syncer) holdDeletes(zone string, zs *zoneState, keys []rrset.Key, ch plan.Changes, seqKnown bool) (plan.Changes, bool, int) {
	had := len(zs.held)
	deleting := make(map[rrset.Key]bool, len(ch.Deletes))
	for _, k := range ch.Deletes {
		deleting[k] = true
	}
	// Every key planned here leaves the hold: desired again, gone by other
	// hands, or deleted now; what the valve holds again comes back below.
	// An approval lapses for a key planned without a deletion.
	for _, k := range keys {
		delete(zs.held, k)
		if !deleting[k] {
			delete(zs.approved, k)
		}
	}
	counted := 0
	if len(ch.Deletes) > 0 {
		var approved, asked []rrset.Key
		for _, k := range ch.Deletes {
			if _, ok := zs.approved[k]; ok {
				approved = append(approved, k)
			} else {
				asked = append(asked, k)
			}
		}
		p := valve.Plan{Zone: zone, N: len(asked), Owned: len(zs.owned), Holding: len(zs.held) > 0}
		if !p.Holding {
			p.Backlog = s.in.pendingDeletes(zone)
		}
		if s.gate.Admit(s.cfg.Now(), p) {
			counted = len(asked)
		} else {
			for _, h := range asked {
				zs.held[h] = struct{}{}
			}
			ch.Deletes = approved
			ch.Releases = slices.DeleteFunc(slices.Clone(ch.Releases), func(r rrset.Key) bool {
				_, h := zs.held[r]
				return h
			})
			if !p.Holding {
				pol := s.gate.Policy()
				s.log.Warn().Str("zone", zone).Int("held", len(zs.held)).Int("owned", len(zs.owned)).
					Float64("limit_share", pol.Share).Int("limit_min", pol.Min).Dur("limit_window", pol.Window).
					Msgf("holding deletions: they would remove more than the delete limit of the zone's owned rrsets; "+
						"nothing else waits for them. If they are meant, approve them: zonecast-syncer approve --zone %s", zone)
			}
		}
	}
	if n := len(zs.held); n != had {
		s.prog.setHeld(zone, n)
		switch {
		case n == 0 && s.retiring[zone]:
			s.log.Info().Str("zone", zone).Msg("no deletion held any more in the zone removed from the zone list")
		case n == 0:
			s.log.Info().Str("zone", zone).Msg("no deletion held any more: the zone follows the stream again")
			s.in.seqMoved(zone) // the SOA catches up with the stream
			s.in.poke()
		}
	}
	return ch, seqKnown && len(zs.held) == 0, counted
}

// Deletions that arrive while others keep arriving wait until they stop
// for deleteSettle (at most deleteSettleMax), so that the delete limit
// judges a publisher's burst of tombstones whole: the first of them must
// not reach PowerDNS before the burst shows its size. A single deletion
// waits deleteSettle.
const (
	deleteSettle    = 25 * time.Millisecond
	deleteSettleMax = time.Second
)

// settling reports whether deletions should wait this take, and if so
// arranges for the writer to take them once they may go.
func (s *Syncer) settling() bool {
	now := s.cfg.Now()
	last := s.in.lastDeletion()
	quiet := last.IsZero() || now.Sub(last) >= deleteSettle
	if !quiet && s.settleSince.IsZero() {
		s.settleSince = now
	}
	if quiet || now.Sub(s.settleSince) >= deleteSettleMax {
		s.settleSince, s.settleWake = time.Time{}, time.Time{}
		return false
	}
	s.settleWake = last.Add(deleteSettle)
	if limit := s.settleSince.Add(deleteSettleMax); limit.Before(s.settleWake) {
		s.settleWake = limit
	}
	return true
}

// Approve lets the deletions that zone holds now be written, and returns
// how many that is (0: nothing held). It waits for the writer, or ctx.
func (s *Syncer) Approve(ctx context.Context, zone string) (int, error) {
	if !slices.Contains(s.allZones(), zone) {
		return 0, fmt.Errorf("approving deletions: %s is not a zone of this syncer", zone)
	}
	var n int
	if err := s.do(ctx, func() { n = s.approve(zone) }); err != nil {
		return 0, fmt.Errorf("approving deletions in %s: %w", zone, err)
	}
	return n, nil
}

// HeldKeys returns the RRsets whose deletion zone holds, sorted.
func (s *Syncer) HeldKeys(ctx context.Context, zone string) ([]rrset.Key, error) {
	var keys []rrset.Key
	err := s.do(ctx, func() {
		if zs := s.zones[zone]; zs != nil {
			for k := range zs.held {
				keys = append(keys, k)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("listing held deletions of %s: %w", zone, err)
	}
	rrset.SortKeys(keys)
	return keys, nil
}

// do runs fn on the writer goroutine, between rounds, and waits for it
// (or ctx). The writer takes calls once the initial convergence is done.
func (s *Syncer) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case s.calls <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// approve lets exactly the deletions zone holds now through: they are
// planned again, pass the valve, and leave the approval once written
// (land) or planned without a deletion.
func (s *Syncer) approve(zone string) int {
	zs := s.zones[zone]
	if zs == nil || len(zs.held) == 0 {
		return 0
	}
	n := len(zs.held)
	s.gate.Approve(zone)
	keys := make([]rrset.Key, 0, n)
	for k := range zs.held {
		keys = append(keys, k)
		zs.approved[k] = struct{}{}
	}
	s.in.requeue(map[string][]rrset.Key{zone: keys})
	s.log.Warn().Str("zone", zone).Int("deletions", n).Msg("held deletions approved; writing them")
	s.in.poke()
	return n
}

// Holds returns the zones that hold deletions. Safe from any goroutine.
func (s *Syncer) Holds() []Hold {
	p := s.Progress()
	var out []Hold
	for _, z := range s.allZones() {
		if zp := p.Zones[z]; zp.Held > 0 {
			out = append(out, Hold{Zone: z, Held: zp.Held, Owned: zp.Owned})
		}
	}
	return out
}

// allZones returns the managed zones, then the retiring ones (done with
// or not).
func (s *Syncer) allZones() []string {
	if len(s.cfg.Retiring) == 0 {
		return s.cfg.Zones
	}
	return append(slices.Clip(s.cfg.Zones), s.cfg.Retiring...)
}

// approveAtStart approves what the initial convergence held in the zones
// of Config.ApproveAtStart (the daemon's --approve-deletions).
func (s *Syncer) approveAtStart() {
	for _, z := range s.cfg.ApproveAtStart {
		if n := s.approve(z); n > 0 {
			s.log.Warn().Str("zone", z).Int("deletions", n).Msg("approved at start (--approve-deletions)")
		}
	}
}
