package web

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zonecast/zonecast/internal/events"
)

// The checks of the forms' fields (pure). Their refusals are userErrors,
// shown on the page, the values as typed between quotes; html/template escapes
// what is shown.

// labelRe is one DNS label of a host name: letters, digits and inner
// hyphens (RFC 1123), at most 63.
var labelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func parseLabel(s string) (string, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if !labelRe.MatchString(l) {
		return "", refuse(fmt.Sprintf("“%s” is not a host label: use letters, digits and hyphens (not first or last), at most 63, no dots", s))
	}
	return l, nil
}

// parseTTL reads a TTL in seconds; empty: dflt.
func parseTTL(s string, dflt uint32) (uint32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return dflt, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < events.MinTTL || n > events.MaxTTL {
		return 0, refuse(fmt.Sprintf("TTL “%s”: want seconds from %d to %d", s, events.MinTTL, events.MaxTTL))
	}
	return uint32(n), nil
}

// maxLease is the longest lease accepted: a year.
const maxLease = 366 * 24 * 3600

// parseLease reads a lease in seconds; empty or 0: none.
func parseLease(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxLease {
		return 0, refuse(fmt.Sprintf("lease “%s”: want seconds from 0 (none) to %d", s, maxLease))
	}
	return n, nil
}

// parsePrefixLen reads the length of a router's prefix; empty: 64.
func parsePrefixLen(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 64, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 127 {
		return 0, refuse(fmt.Sprintf("prefix length “%s”: want 1 to 127", s))
	}
	return n, nil
}

// parseInterfaceID reads an interface ID, written as an IPv6 address
// such as ::1234:5678 (its bits below the prefix length are used).
func parseInterfaceID(s string) (string, error) {
	s = strings.TrimSpace(s)
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" {
		return "", refuse(fmt.Sprintf("interface ID “%s”: write it as an IPv6 address, such as ::1234:5678", s))
	}
	return ip.String(), nil
}

// parseAddrs reads a list of addresses of one family (v4: IPv4, else
// IPv6), separated by commas or spaces; canonical, sorted, unique. An
// empty list is not nil: it removes the family's records.
func parseAddrs(s string, v4 bool) ([]string, error) {
	family, field := "IPv6", "AAAA"
	if v4 {
		family, field = "IPv4", "A"
	}
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		ip, err := netip.ParseAddr(f)
		if err != nil || ip.Zone() != "" || ip.Is4() != v4 || ip.Is4In6() {
			return nil, refuse(fmt.Sprintf("%s: “%s” is not an %s address", field, f, family))
		}
		out = append(out, ip.String())
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > events.MaxRecords {
		return nil, refuse(fmt.Sprintf("%s: at most %d addresses", field, events.MaxRecords))
	}
	return out, nil
}

// parseZones reads a comma-separated list of zones.
func parseZones(s string) []string {
	var out []string
	for _, z := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		out = append(out, z)
	}
	return out
}
