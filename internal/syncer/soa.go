package syncer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
)

// SOA is the template of the SOA record the syncer writes to each zone.
// Empty MName and RName default to the first NS (or ns1.<zone>) and
// hostmaster.<zone>.
type SOA struct {
	MName, RName                    string
	Refresh, Retry, Expire, Minimum uint32
	TTL                             uint32
}

func (t SOA) mname(zone string) string {
	if t.MName != "" {
		return t.MName
	}
	return "ns1." + zone
}

func (t SOA) rname(zone string) string {
	if t.RName != "" {
		return t.RName
	}
	return "hostmaster." + zone
}

// Serial derives the SOA serial from the stream sequence of the last
// message applied in the zone: every node that has applied the same state
// serves the same serial, so `dig SOA` shows whether a node has caught up.
func Serial(seq uint64) uint32 { return uint32(seq) }

// writtenSerial returns the serial of the SOA among changes: the
// syncer's own (Serial of the stream sequence), or in a signed zone the
// signer's.
func writtenSerial(changes []pdnsapi.Change) (uint32, bool) {
	for _, c := range changes {
		if c.Set.Type != "SOA" || len(c.Set.Records) != 1 {
			continue
		}
		if f := strings.Fields(c.Set.Records[0]); len(f) == 7 {
			if n, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				return uint32(n), true
			}
		}
	}
	return 0, false
}

// ZoneConfig is what one zone is created with, and its SOA template.
type ZoneConfig struct {
	SOA   SOA
	NS    []string // apex NS; empty: Config.NS
	NSTTL uint32   // TTL of the apex NS RRset; 0: the SOA's
}

// zoneConfig returns the settings of zone: its own (Config.PerZone), or
// the syncer's.
func (s *Syncer) zoneConfig(zone string) ZoneConfig {
	zc, ok := s.cfg.PerZone[zone]
	if !ok {
		return ZoneConfig{SOA: s.cfg.SOA, NS: s.cfg.NS}
	}
	if len(zc.NS) == 0 {
		zc.NS = s.cfg.NS
	}
	return zc
}

// soa returns the zone's SOA RRset for stream sequence seq, canonical.
func (s *Syncer) soa(zone string, seq uint64) rrset.Set {
	zc := s.zoneConfig(zone)
	t := zc.SOA
	mname := t.MName
	if mname == "" && len(zc.NS) > 0 {
		mname = zc.NS[0]
	}
	t.MName = mname
	content := fmt.Sprintf("%s %s %d %d %d %d %d", t.mname(zone), t.rname(zone), Serial(seq),
		t.Refresh, t.Retry, t.Expire, t.Minimum)
	if c, err := rrset.CanonicalContent("SOA", content); err == nil {
		content = c
	}
	return rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: t.TTL, Records: []string{content}}
}
