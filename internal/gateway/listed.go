package gateway

import (
	"fmt"
	"slices"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/rrset"
)

// ZoneList is the fleet's zone list as the gateway follows it
// (zonegate.Gate): of the gateway's zones (Config.Zones, its role's), it
// writes only into those the list allows now.
type ZoneList interface {
	// Writable reports whether zone, one of Config.Zones, may be
	// written into now.
	Writable(zone string) bool
	// Refused counts one write refused for its unlisted zone, by path:
	// dns, dyndns or web.
	Refused(via string)
}

// listed reports whether zone, one of the gateway's, may be written into
// now: always without a zone list.
func (g *Gateway) listed(zone string) bool {
	return g.cfg.ZoneList == nil || g.cfg.ZoneList.Writable(zone)
}

// Writable reports whether zone, one of the gateway's, may be written
// into now (the web page offers only those).
func (g *Gateway) Writable(zone string) bool { return g.listed(zone) }

// unlisted returns why a write into a name is refused because its zone
// (the most specific of the gateway's zones holding it) is not in the
// fleet's zone list, and counts it under via; "" when that is not why.
func (g *Gateway) unlisted(name, via string) string {
	zone, ok := rrset.ZoneOf(name, g.cfg.Zones)
	if !ok || g.listed(zone) {
		return ""
	}
	g.cfg.ZoneList.Refused(via)
	return fmt.Sprintf("zone %s is not in the fleet's zone list", zone)
}

// unlistedUpdate returns why an RFC 2136 UPDATE of the zone in its zone
// section is refused NOTAUTH because that zone is one of the gateway's but
// not listed (RFC 2136 3.1.1: a zone not served), and counts it; "" when
// not. A zone not among the gateway's is left to dnsupdate, which answers
// NOTAUTH too.
func (g *Gateway) unlistedUpdate(req *dns.Msg, via string) string {
	zone := dns.CanonicalName(req.Question[0].Name)
	if !slices.Contains(g.cfg.Zones, zone) {
		return ""
	}
	return g.unlisted(zone, via)
}
