package syncer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zonecast/zonecast/internal/owner"
	"github.com/zonecast/zonecast/internal/rrset"
)

// ClaimLog is a local write-ahead log of ownership claims
// (internal/claimlog). With one, a batch's claims cost a local write
// instead of a PowerDNS metadata write before its PATCH; the syncer copies them into
// the zone metadata when it is idle (a checkpoint), and at start-up merges
// what the log still holds into the ownership read from PowerDNS.
type ClaimLog interface {
	Append(zone string, keys []rrset.Key, claim bool) error
	Load() (map[string]owner.Set, int, error)
	Clear() error
}

// loadClaimLog reads the claims a previous run logged but did not copy
// into PowerDNS.
func (s *Syncer) loadClaimLog() error {
	if s.cfg.Claims == nil {
		return nil
	}
	claims, bad, err := s.cfg.Claims.Load()
	if err != nil {
		return err
	}
	if bad > 0 {
		s.log.Warn().Int("lines", bad).Msg("skipped unreadable claim log lines (a write cut short by a crash)")
	}
	n := 0
	for zone, set := range claims {
		n += len(set)
		for k := range set {
			s.pendingClaims[zone] = append(s.pendingClaims[zone], k)
		}
	}
	if n > 0 {
		s.log.Info().Int("rrsets", n).Msg("claims from the claim log not yet in the zone metadata; copying them")
		s.checkpointAt = time.Now()
	}
	return nil
}

// logClaims records keys as claimed in the claim log.
func (s *Syncer) logClaims(zone string, keys []rrset.Key) error {
	if err := s.cfg.Claims.Append(zone, keys, true); err != nil {
		return err
	}
	s.pendingClaims[zone] = append(s.pendingClaims[zone], keys...)
	if s.checkpointAt.IsZero() {
		s.checkpointAt = time.Now().Add(s.cfg.RectifyDelay)
	}
	return nil
}

// checkpoint copies the logged claims into the zones' ownership metadata,
// then clears the log. On failure everything stays logged for next time.
func (s *Syncer) checkpoint(ctx context.Context) error {
	s.checkpointAt = time.Time{}
	if len(s.pendingClaims) == 0 {
		return nil
	}
	start := time.Now()
	n := 0
	for zone, pending := range s.pendingClaims {
		zs, ok := s.zones[zone]
		if !ok {
			// A zone not managed any more, or not loaded: the claims
			// stay in the log until it is.
			continue
		}
		keys := make([]rrset.Key, 0, len(pending))
		for _, k := range pending {
			if zs.owned.Has(k) { // not released since
				keys = append(keys, k)
			}
		}
		rrset.SortKeys(keys)
		keys = slices.Compact(keys)
		if err := s.writeOwnership(ctx, zone, zs, keys, true); err != nil {
			s.checkpointAt = time.Now().Add(s.cfg.RectifyDelay)
			return fmt.Errorf("copying logged claims of %s into the zone metadata: %w", zone, err)
		}
		n += len(keys)
		delete(s.pendingClaims, zone)
	}
	if len(s.pendingClaims) > 0 {
		return nil
	}
	if err := s.cfg.Claims.Clear(); err != nil {
		return err
	}
	s.log.Debug().Int("rrsets", n).Dur("took", time.Since(start)).Msg("copied logged claims into the zone metadata")
	return nil
}

// checkpointAtExit is checkpoint at shutdown, bounded in time; what it
// cannot copy stays in the log.
func (s *Syncer) checkpointAtExit(ctx context.Context) {
	if s.cfg.Claims == nil || len(s.pendingClaims) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.checkpoint(cctx); err != nil {
		s.log.Warn().Err(err).Msg("could not copy logged claims before stopping; the next start does")
	}
}

// unlogClaims records released keys in the claim log while claims are
// pending there, so that a restart does not take them for owned.
func (s *Syncer) unlogClaims(zone string, keys []rrset.Key) error {
	pending := s.pendingClaims[zone]
	if len(pending) == 0 {
		return nil
	}
	gone := make(map[rrset.Key]bool, len(keys))
	for _, k := range keys {
		gone[k] = true
	}
	s.pendingClaims[zone] = slices.DeleteFunc(pending, func(k rrset.Key) bool { return gone[k] })
	return s.cfg.Claims.Append(zone, keys, false)
}
