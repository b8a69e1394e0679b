// Package instance maps LXD instances to the DNS records zonecast-watcher
// publishes for them, and computes what to publish against what was last
// published. It is pure: no I/O, no clock, no logger.
//
// # Names
//
// An instance of project "default" is published as <instance>.<zone>. An
// instance of another project is published as Config.ProjectTemplate
// expanded, then .<zone>: the default template "{instance}.{project}" gives
// <instance>.<project>.<zone>; "{instance}" publishes every project flat
// (instances of the same name in two projects then share one RRset); any
// template with {instance} and optional {project} and fixed labels works,
// e.g. "{instance}.{project}.lxd". Every zone in Config.Zones gets the
// names.
//
// # Records
//
// A running, frozen or freezing instance gets an AAAA RRset with its global IPv6
// addresses and an A RRset with its IPv4 addresses. Link-local, loopback,
// multicast and unspecified addresses, and the "lo" interface, are never
// published. Config.NICs limits the interfaces (names as seen inside the
// instance, e.g. eth0), Config.Allow keeps only addresses inside one of its
// prefixes and Config.Deny drops addresses inside one of its prefixes.
// With Config.ACMEChallengeNS, each name with addresses also gets
// "_acme-challenge.<name>. NS <name>." so that the instance can answer
// ACME dns-01 challenges itself. For every address inside one of
// Config.ReverseZones, a PTR to the instance's main name (in the first zone)
// is published.
//
// # Per-instance overrides (LXD config keys)
//
//	user.zonecast.enabled=false   publish nothing for this instance (also: 0, no, off)
//	user.zonecast.ttl=300         TTL of this instance's records (1-604800)
//	user.zonecast.names=www,api   extra names with the same addresses, comma separated:
//	                              relative to each zone ("www" -> www.<zone>), or
//	                              absolute with a trailing dot inside one of the zones
//
// An invalid override is reported as a warning and ignored; the instance is
// still published with the defaults.
package instance

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Defaults.
const (
	DefaultTTL             = 60
	DefaultProjectTemplate = "{instance}.{project}"
	DefaultProject         = "default"
)

// LXD config keys read per instance.
const (
	KeyEnabled = "user.zonecast.enabled"
	KeyTTL     = "user.zonecast.ttl"
	KeyNames   = "user.zonecast.names"
)

// ErrConfig is wrapped by every error of Config.Check.
var ErrConfig = errors.New("invalid watcher configuration")

// Config says how instances become records.
type Config struct {
	// Zones the instances are published in (at least one).
	Zones []string
	// Origin is the node id every message carries.
	Origin string
	// ProjectTemplate names instances of projects other than "default";
	// empty means DefaultProjectTemplate.
	ProjectTemplate string
	// NoA and NoAAAA switch off A and AAAA records (both on by default).
	NoA, NoAAAA bool
	// NICs, when not empty, are the only interfaces whose addresses count.
	NICs []string
	// Allow, when not empty, keeps only addresses inside one of the prefixes.
	Allow []netip.Prefix
	// Deny drops addresses inside any of the prefixes; it wins over Allow.
	Deny []netip.Prefix
	// TTL of the records; 0 means DefaultTTL.
	TTL uint32
	// ACMEChallengeNS publishes _acme-challenge.<name>. NS <name>.
	ACMEChallengeNS bool
	// ReverseZones (ip6.arpa or in-addr.arpa) get a PTR per address inside them.
	ReverseZones []string
}

func configf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Check validates c and returns it with canonical zones and defaults filled in.
func (c Config) Check() (Config, error) {
	out := c
	if len(c.Zones) == 0 {
		return Config{}, configf("no zone")
	}
	out.Zones = make([]string, 0, len(c.Zones))
	for _, z := range c.Zones {
		cz, err := rrset.CanonicalName(z)
		if err != nil {
			return Config{}, configf("zone %q: %v", z, err)
		}
		if strings.HasPrefix(cz, "*.") {
			return Config{}, configf("zone %q is a wildcard", z)
		}
		out.Zones = append(out.Zones, cz)
	}
	if err := events.CheckOrigin(c.Origin); err != nil {
		return Config{}, configf("node id: %v", err)
	}
	if out.ProjectTemplate == "" {
		out.ProjectTemplate = DefaultProjectTemplate
	}
	if err := checkTemplate(out.ProjectTemplate); err != nil {
		return Config{}, err
	}
	if c.NoA && c.NoAAAA {
		return Config{}, configf("both A and AAAA are switched off: nothing to publish")
	}
	if out.TTL == 0 {
		out.TTL = DefaultTTL
	}
	if out.TTL < events.MinTTL || out.TTL > events.MaxTTL {
		return Config{}, configf("ttl %d outside [%d, %d]", out.TTL, events.MinTTL, events.MaxTTL)
	}
	for _, p := range append(append([]netip.Prefix(nil), c.Allow...), c.Deny...) {
		if !p.IsValid() {
			return Config{}, configf("invalid prefix %v", p)
		}
	}
	out.ReverseZones = make([]string, 0, len(c.ReverseZones))
	for _, z := range c.ReverseZones {
		cz, err := rrset.CanonicalName(z)
		if err != nil {
			return Config{}, configf("reverse zone %q: %v", z, err)
		}
		if !rrset.InZone(cz, "ip6.arpa.") && !rrset.InZone(cz, "in-addr.arpa.") {
			return Config{}, configf("reverse zone %q is not below ip6.arpa or in-addr.arpa", z)
		}
		out.ReverseZones = append(out.ReverseZones, cz)
	}
	return out, nil
}

// checkTemplate accepts labels that are {instance}, {project} or fixed DNS
// labels, with {instance} exactly once.
func checkTemplate(t string) error {
	n := 0
	for _, l := range strings.Split(t, ".") {
		switch l {
		case "{instance}":
			n++
		case "{project}":
		default:
			if err := checkHostLabel(l); err != nil {
				return configf("project template %q: %v", t, err)
			}
		}
	}
	if n != 1 {
		return configf("project template %q must hold {instance} exactly once, as a whole label", t)
	}
	return nil
}

// checkHostLabel accepts a host name label: 1-63 letters, digits and
// hyphens, not starting or ending with a hyphen.
func checkHostLabel(l string) error {
	if l == "" || len(l) > rrset.MaxLabelLen {
		return fmt.Errorf("label %q must have 1 to %d characters", l, rrset.MaxLabelLen)
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with '-'", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i] | 0x20 // ASCII lower case for letters
		if (c >= 'a' && c <= 'z') || (l[i] >= '0' && l[i] <= '9') || l[i] == '-' {
			continue
		}
		return fmt.Errorf("label %q has character %q (allowed: a-z 0-9 -)", l, l[i])
	}
	return nil
}
