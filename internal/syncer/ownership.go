package syncer

import (
	"context"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

// The writer's side of ownership: the ledger (owner.Ledger) keeps the
// record; here a batch's claims are recorded before its PATCHes and its
// releases after them.

// claimBatch records the ownership a batch needs before it is written.
func (s *Syncer) claimBatch(ctx context.Context, b *batch) error {
	if b.claimed {
		return nil
	}
	start := time.Now()
	if err := s.claim(ctx, b.zone, b.ch.Claims); err != nil {
		return err
	}
	b.claimed, b.claimTook = true, time.Since(start)
	return nil
}

func (s *Syncer) claim(ctx context.Context, zone string, keys []rrset.Key) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.ledger.Claim(ctx, zone, keys)
	s.prog.setOwned(zone, len(s.ledger.Owned(zone)))
	return err
}

// settleOwnership releases what a written batch removed, and the claims
// whose creation PowerDNS refused, then compacts the record when due.
func (s *Syncer) settleOwnership(ctx context.Context, b *batch, bad map[rrset.Key]bool) {
	var release []rrset.Key
	for _, k := range b.ch.Releases {
		if !bad[k] {
			release = append(release, k)
		}
	}
	for _, k := range b.ch.Claims {
		if bad[k] {
			release = append(release, k)
		}
	}
	if len(release) > 0 {
		err := s.ledger.Release(ctx, b.zone, release)
		s.prog.setOwned(b.zone, len(s.ledger.Owned(b.zone)))
		if err != nil {
			// Ownership is over-recorded, which is safe; the next
			// reconciliation releases it.
			s.log.Warn().Err(err).Str("zone", b.zone).Msg("could not record released ownership")
			s.needReconcile = true
		}
	}
	if s.ledger.CompactDue(b.zone) {
		start := time.Now()
		err := s.ledger.Compact(ctx, b.zone)
		s.log.Debug().Str("zone", b.zone).Dur("took", time.Since(start)).Msg("compacted the ownership record")
		if err != nil {
			s.log.Warn().Err(err).Str("zone", b.zone).Msg("could not compact the ownership record; will retry")
		}
	}
}

// recoverClaims reads the claims a previous run logged but did not copy
// into PowerDNS.
func (s *Syncer) recoverClaims() error {
	n, bad, err := s.ledger.Recover()
	if bad > 0 {
		s.log.Warn().Int("lines", bad).Msg("skipped unreadable claim log lines (a write cut short by a crash)")
	}
	if n > 0 {
		s.log.Info().Int("rrsets", n).Msg("claims from the claim log not yet in the zone metadata; copying them")
	}
	return err
}

// checkpoint copies the logged claims into the zones' metadata.
func (s *Syncer) checkpoint(ctx context.Context) {
	start := time.Now()
	n, err := s.ledger.Checkpoint(ctx)
	if err != nil {
		s.log.Warn().Err(err).Msg("could not copy logged claims into the zone metadata; will retry")
		return
	}
	if n > 0 {
		s.log.Debug().Int("rrsets", n).Dur("took", time.Since(start)).Msg("copied logged claims into the zone metadata")
	}
}

// checkpointAtExit is a checkpoint at shutdown, bounded in time; what it
// cannot copy stays in the log.
func (s *Syncer) checkpointAtExit(ctx context.Context) {
	if !s.ledger.Pending() {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.ledger.Checkpoint(cctx); err != nil {
		s.log.Warn().Err(err).Msg("could not copy logged claims before stopping; the next start does")
	}
}
