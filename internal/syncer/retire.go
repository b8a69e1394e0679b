package syncer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Retiring zones (Config.Retiring): zones removed from the fleet's zone
// list that this syncer no longer manages. It follows nothing there; each
// full pass plans the deletion of every RRset it owns in the zone, which
// goes through the delete limit like any other deletion (held beyond it,
// until an operator approves, status and /readyz saying so), and keeps the
// zone's SOA as it is. Once it owns nothing there and holds nothing, it
// deletes the zone from PowerDNS if nothing but the apex SOA and NS is
// left, or leaves it, no longer managed, to whoever wrote the rest. Either
// way the zone then leaves the syncer's state. A zone PowerDNS does not
// have is done with when it is read.

// loadRetiring reads the retiring zones not done with (never creating
// one); a zone PowerDNS does not have is done with.
func (s *Syncer) loadRetiring(ctx context.Context) error {
	for _, zone := range slices.Sorted(maps.Keys(s.retiring)) {
		actual, found, err := s.readZone(ctx, zone)
		if err != nil {
			s.needReconcile = true
			return fmt.Errorf("reading zone %s (removed from the zone list): %w", zone, err)
		}
		if !found {
			s.log.Debug().Str("zone", zone).Msg("zone removed from the zone list: not in powerdns")
			s.dropZone(zone)
			continue
		}
		if err := s.takeZone(ctx, zone, actual, false); err != nil {
			s.needReconcile = true
			return fmt.Errorf("reading zone %s (removed from the zone list): %w", zone, err)
		}
	}
	return nil
}

// syncRetiring writes the full pass of each loaded retiring zone: every
// owned RRset undesired.
func (s *Syncer) syncRetiring(ctx context.Context) error {
	for _, zone := range slices.Sorted(maps.Keys(s.retiring)) {
		zs := s.zones[zone]
		if zs == nil {
			continue
		}
		keys := make([]rrset.Key, 0, len(zs.owned))
		for k := range zs.owned {
			keys = append(keys, k)
		}
		rrset.SortKeys(keys)
		if _, err := s.write(ctx, newPass(s, zone, zs, &zonePass{undesired: keys})); err != nil {
			s.in.requeue(map[string][]rrset.Key{zone: keys})
			return fmt.Errorf("withdrawing from zone %s (removed from the zone list): %w", zone, err)
		}
	}
	return nil
}

// retire finishes the retiring zones in which the syncer owns and holds
// nothing any more. A failure is logged, and tried again after the next
// write or reconciliation.
func (s *Syncer) retire(ctx context.Context) {
	for _, zone := range slices.Sorted(maps.Keys(s.retiring)) {
		zs := s.zones[zone]
		if zs == nil || len(zs.owned) > 0 || len(zs.held) > 0 {
			continue
		}
		if err := s.finishRetiring(ctx, zone); err != nil {
			s.log.Warn().Err(err).Str("zone", zone).Msg("could not finish withdrawing from a zone removed from the zone list; will retry")
		}
	}
}

func (s *Syncer) finishRetiring(ctx context.Context, zone string) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	// Read again: the cache may be older than what others wrote since.
	sets, found, err := s.pdns.Zone(wctx, zone)
	if err != nil {
		return fmt.Errorf("reading zone: %w", err)
	}
	if others := foreign(zone, sets); found && others > 0 {
		s.log.Warn().Str("zone", zone).Int("rrsets", others).
			Msg("zone removed from the zone list: the syncer's rrsets are deleted; the zone stays in powerdns, no longer managed, " +
				"as it holds rrsets others wrote")
	} else if found {
		if err := s.pdns.DeleteZone(wctx, zone); err != nil && !errors.Is(err, pdnsapi.ErrNotFound) {
			return err
		}
		s.log.Info().Str("zone", zone).Msg("deleted the zone removed from the zone list")
	}
	if err := s.ledger.Forget(zone); err != nil {
		s.log.Warn().Err(err).Msg("could not clear the claim log; the next checkpoint does")
	}
	s.dropZone(zone)
	return nil
}

// foreign counts the RRsets of a zone other than its apex SOA and NS.
func foreign(zone string, sets []rrset.Set) int {
	n := 0
	for _, set := range sets {
		if set.Name == zone && (set.Type == "SOA" || set.Type == "NS") {
			continue
		}
		n++
	}
	return n
}

// dropZone forgets a retiring zone: done with.
func (s *Syncer) dropZone(zone string) {
	delete(s.retiring, zone)
	delete(s.zones, zone)
	s.rect.forget(zone)
	s.prog.forget(zone)
}
