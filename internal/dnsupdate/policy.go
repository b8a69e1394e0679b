package dnsupdate

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Policy is what one TSIG key may change. Zones is required; Names and
// Types, when not empty, restrict the update section further. A name
// "*.example.com." in Names allows every name strictly below example.com.
// Prerequisites are not restricted: they only read.
type Policy struct {
	Zones []string // canonical zones
	Names []string // canonical names or "*." suffix patterns; empty: any name in Zones
	Types []string // upper-case types; empty: any publishable type
}

// AllowsZone reports whether zone (canonical) is in the policy.
func (p Policy) AllowsZone(zone string) bool { return slices.Contains(p.Zones, zone) }

// Allows reports whether the policy allows changing name/typ. A key that
// may change a name's A, AAAA or PTR may change its DHCID too: that is
// the record (RFC 4701) by which a DHCP server's updates claim the name
// (RFC 4703), and kea's D2 writes it beside every address it adds.
func (p Policy) Allows(name, typ string) bool {
	if len(p.Types) > 0 && !slices.Contains(p.Types, typ) && !(typ == "DHCID" && p.guardsAddresses()) {
		return false
	}
	if len(p.Names) == 0 {
		return true
	}
	for _, n := range p.Names {
		if n == name {
			return true
		}
		if suffix, ok := strings.CutPrefix(n, "*"); ok && strings.HasSuffix(name, suffix) && name != suffix[1:] {
			return true
		}
	}
	return false
}

// guardsAddresses reports whether Types has a type a DHCID guards.
func (p Policy) guardsAddresses() bool {
	return slices.ContainsFunc(p.Types, func(t string) bool { return t == "A" || t == "AAAA" || t == "PTR" })
}

// Origin returns the origin id of the records a source publishes: prefix,
// a dash, then id lowercased with every character outside a-z 0-9 - _ as a
// dash and no trailing dot ("tsig", "dhcp.Key." -> "tsig-dhcp-key"). When
// that changes more than case and dots, or is longer than events.MaxOriginLen,
// a short hash of id is appended (after truncation). Dots and dashes give
// the same origin ("a.b" and "a-b"): the key store refuses a second key
// whose origin is already taken.
func Origin(prefix, id string) string {
	id = strings.TrimSuffix(id, ".")
	var b strings.Builder
	lossy := false
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_':
			b.WriteByte(c)
		case c == '.':
			b.WriteByte('-')
		default:
			b.WriteByte('-')
			lossy = true
		}
	}
	o := prefix + "-" + b.String()
	if !lossy && len(o) <= events.MaxOriginLen {
		return o
	}
	sum := sha256.Sum256([]byte(strings.ToLower(id)))
	h := hex.EncodeToString(sum[:5])
	if max := events.MaxOriginLen - len(h) - 1; len(o) > max {
		o = o[:max]
	}
	return o + "-" + h
}

// canonicalZone returns the canonical form of a zone name from a message,
// or false if it cannot be one.
func canonicalZone(name string) (string, bool) {
	z, err := rrset.CanonicalName(name)
	return z, err == nil
}
