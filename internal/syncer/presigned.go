package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
)

// A signed zone is served as PowerDNS's presigned zones are: the signer's
// RRSIG and denial records stored beside the data, no key on the node.
// PowerDNS 4.7's API cannot set the PRESIGNED mark (pdnsutil
// set-presigned does, with gsqlite3-dnssec=yes), so the syncer checks it
// before writing: a zone without it would serve the signed data with
// PowerDNS's own signatures, or none.

// presignRecheck is how often a signed zone without the mark is read
// again. PowerDNS itself takes domain-metadata-cache-ttl (60 s by default)
// to see a mark pdnsutil set.
const presignRecheck = 10 * time.Second

// setUpSigned prepares the writer's view of a signed zone: the apex NS is
// the signer's to replace (the syncer made it when it created the zone;
// the SOA goes with every batch, see prepare), and the zone is written
// only once PowerDNS marks it presigned.
func (s *Syncer) setUpSigned(ctx context.Context, zone string, zs *zoneState) error {
	zs.owned[rrset.Key{Name: zone, Type: "NS"}] = struct{}{}
	return s.checkPresigned(ctx, zone, zs)
}

// checkPresigned reads the zone's PRESIGNED mark into zs and reports a
// change of it.
func (s *Syncer) checkPresigned(ctx context.Context, zone string, zs *zoneState) error {
	meta, err := s.pdns.AllMetadata(ctx, zone)
	if err != nil {
		return fmt.Errorf("reading the metadata of signed zone %s: %w", zone, err)
	}
	not := !pdnsapi.Presigned(meta)
	if not {
		s.m.NotPresigned.WithLabelValues(zone).Set(1)
		s.log.Error().Str("zone", zone).Msg("signed zone is not presigned in PowerDNS: writing nothing to it " +
			"(run pdnsutil set-presigned on this node, with gsqlite3-dnssec=yes; docs/dnssec.md)")
	} else {
		s.m.NotPresigned.WithLabelValues(zone).Set(0)
		if zs.notPresigned {
			s.log.Info().Str("zone", zone).Msg("signed zone is now presigned in PowerDNS; writing it")
		}
	}
	zs.notPresigned = not
	return nil
}

// presignDue reports when to read the marks of signed zones that lack it:
// a fixed time, so that a steady stream of changes does not put it off.
func (s *Syncer) presignDue() (time.Time, bool) {
	for _, zs := range s.zones {
		if zs.notPresigned {
			if s.presignAt.IsZero() {
				s.presignAt = s.cfg.Now().Add(presignRecheck)
			}
			return s.presignAt, true
		}
	}
	s.presignAt = time.Time{}
	return time.Time{}, false
}

// recheckPresigned reads the marks of the zones that lacked it, and
// reconciles once one has it: nothing was written to it meanwhile.
func (s *Syncer) recheckPresigned(ctx context.Context) {
	s.presignAt = time.Time{}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	ready := false
	for zone, zs := range s.zones {
		if !zs.notPresigned {
			continue
		}
		if err := s.checkPresigned(wctx, zone, zs); err != nil {
			s.log.Warn().Err(err).Str("zone", zone).Msg("checking the presigned mark failed")
			continue
		}
		ready = ready || !zs.notPresigned
	}
	if ready {
		s.RequestReconcile()
	}
}
