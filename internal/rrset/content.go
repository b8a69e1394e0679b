package rrset

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// MaxContentLen bounds one record's presentation content.
const MaxContentLen = 2048

// Types lists the record types a record source may publish, in the
// presentation form used on the wire and by PowerDNS. SOA and apex NS belong
// to the syncer and are not publishable.
var Types = []string{"A", "AAAA", "CAA", "CNAME", "DHCID", "MX", "NS", "PTR", "SRV", "TXT"}

var typeCodes = map[string]uint16{
	"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CAA": dns.TypeCAA, "CNAME": dns.TypeCNAME, "DHCID": dns.TypeDHCID,
	"MX": dns.TypeMX, "NS": dns.TypeNS, "PTR": dns.TypePTR, "SRV": dns.TypeSRV,
	"TXT": dns.TypeTXT, "SOA": dns.TypeSOA,
}

// CanonicalType returns the upper-case form of a publishable type.
func CanonicalType(t string) (string, error) {
	u := asciiUpper(t)
	if u == "SOA" {
		return "", invalidf("type SOA is managed by the syncer")
	}
	i := slices.Index(Types, u)
	if i < 0 {
		return "", invalidf("unsupported type %q (supported: %s)", t, strings.Join(Types, " "))
	}
	// The package's own string: a state of many RRsets then holds one
	// copy of "AAAA", not one per decoded message.
	return Types[i], nil
}

// CanonicalContent parses one record's presentation content for type typ
// (upper case, as returned by CanonicalType or CanonicalSignedType) and
// returns it in the canonical form zonecast writes and compares: addresses
// compressed, names lowercased and fully qualified, strings quoted, DNSSEC
// records as PowerDNS 4.7's API returns them (see signedContent). The
// result is idempotent:
// CanonicalContent(t, CanonicalContent(t, c)) == CanonicalContent(t, c).
func CanonicalContent(typ, content string) (string, error) {
	if content == "" {
		return "", invalidf("empty %s content", typ)
	}
	if len(content) > MaxContentLen {
		return "", invalidf("%s content longer than %d bytes", typ, MaxContentLen)
	}
	for i := 0; i < len(content); i++ {
		if c := content[i]; c < 0x20 || c == 0x7f {
			return "", invalidf("%s content has control character %#02x", typ, c)
		}
	}
	switch typ {
	case "A":
		a, err := netip.ParseAddr(content)
		if err != nil || !a.Is4() {
			return "", invalidf("A content %q is not an IPv4 address", content)
		}
		return addrString(a, content), nil
	case "AAAA":
		a, err := netip.ParseAddr(content)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", invalidf("AAAA content %q is not an IPv6 address", content)
		}
		return addrString(a, content), nil
	case "CNAME", "NS", "PTR":
		n, err := canonicalTarget(content)
		if err != nil {
			return "", invalidf("%s content %q: %v", typ, content, err)
		}
		return n, nil
	}
	code, ok := typeCodes[typ]
	if !ok {
		return "", invalidf("unsupported type %q", typ)
	}
	out, err := parseWithZoneParser(typ, code, content)
	if err != nil {
		return "", err
	}
	// The canonical form can be longer than the input (TXT strings split
	// at 255 bytes, non-ASCII bytes written as \DDD). Bound it too, or
	// the canonical form would be refused when canonicalised again.
	if len(out) > MaxContentLen {
		return "", invalidf("%s content longer than %d bytes in canonical form", typ, MaxContentLen)
	}
	return out, nil
}

// canonicalTarget accepts a host name as record content. Unlike owner names,
// targets may be the root (MX "0 ." style null targets are handled by the
// zone parser) but here "." is refused: a CNAME/NS/PTR to the root is useless.
func canonicalTarget(s string) (string, error) {
	n, err := CanonicalName(s)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(n, "*.") {
		return "", invalidf("wildcard target")
	}
	return n, nil
}

// canonicalHost accepts an MX or SRV target: a host name as for
// canonicalTarget, or the root "." (null MX, RFC 7505; "no service", RFC
// 2782). The zone parser keeps \DDD escapes and any byte in names, so
// "\097bc." and "abc." would otherwise be two distinct canonical forms of one
// name, which PowerDNS refuses as duplicate records.
func canonicalHost(s string) (string, error) {
	if s == "." {
		return s, nil
	}
	return canonicalTarget(s)
}

// checkCAATag enforces RFC 8659 section 4.1: a tag is 1 to 15 ASCII
// letters and digits. The zone parser takes any bytes, and would print
// others raw (not as \DDD), so "0 \xc7 x" passed as content.
func checkCAATag(tag string) error {
	if tag == "" || len(tag) > 15 {
		return invalidf("tag %q must have 1 to 15 characters", tag)
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			continue
		}
		return invalidf("tag %q has character %q (allowed: A-Z a-z 0-9)", tag, c)
	}
	return nil
}

// parseWithZoneParser handles the types with structured content through
// miekg/dns's presentation-format parser, then lowercases embedded names.
func parseWithZoneParser(typ string, code uint16, content string) (string, error) {
	if c, ok := specialOutsideQuotes(content); ok {
		return "", invalidf("%s content %q has %q outside quotes", typ, content, c)
	}
	rr, err := dns.NewRR("x. 3600 IN " + typ + " " + content)
	if err != nil {
		return "", invalidf("%s content %q: %v", typ, content, err)
	}
	if rr == nil || rr.Header().Rrtype != code {
		return "", invalidf("%s content %q does not parse as %s", typ, content, typ)
	}
	if out, ok, err := signedContent(rr, content); ok {
		if err != nil {
			return "", invalidf("%s content %q: %v", typ, content, err)
		}
		return out, nil
	}
	switch r := rr.(type) {
	case *dns.MX:
		if r.Mx, err = canonicalHost(r.Mx); err != nil {
			return "", invalidf("MX content %q: %v", content, err)
		}
	case *dns.SRV:
		if r.Target, err = canonicalHost(r.Target); err != nil {
			return "", invalidf("SRV content %q: %v", content, err)
		}
	case *dns.CAA:
		if err := checkCAATag(r.Tag); err != nil {
			return "", invalidf("CAA content %q: %v", content, err)
		}
	case *dns.SOA:
		r.Ns = strings.ToLower(r.Ns)
		r.Mbox = strings.ToLower(r.Mbox)
	case *dns.TXT:
		if len(r.Txt) == 0 {
			return "", invalidf("TXT content %q has no string", content)
		}
	case *dns.DHCID:
		// The zone parser keeps the digest as written, valid or not.
		d, err := canonicalDHCID(r.Digest)
		if err != nil {
			return "", invalidf("DHCID content %q: %v", content, err)
		}
		r.Digest = d
	}
	full := rr.String()
	hdr := rr.Header().String()
	if !strings.HasPrefix(full, hdr) {
		return "", invalidf("%s content %q: unexpected parser output", typ, content)
	}
	out := strings.TrimPrefix(full, hdr)
	if out == "" {
		return "", invalidf("%s content %q is empty after parsing", typ, content)
	}
	return out, nil
}

// canonicalDHCID checks a DHCID's base64 RDATA (RFC 4701 section 3: a
// 2-byte identifier type, a 1-byte digest type, then the digest) and
// returns it padded, as PowerDNS writes it back. It bounds nothing else:
// the digest's length depends on its type.
func canonicalDHCID(b64 string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("not base64: %w", err)
	}
	if len(raw) < 4 {
		return "", fmt.Errorf("%d bytes of RDATA, want an identifier type, a digest type and a digest", len(raw))
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// specialOutsideQuotes finds a zone-file control character (comment,
// directive or grouping) outside a quoted string: the parser would silently
// drop or reinterpret what follows, so such content is refused.
func specialOutsideQuotes(s string) (byte, bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && (c == ';' || c == '$' || c == '(' || c == ')'):
			return c, true
		}
	}
	return 0, false
}

// addrString is a.String(), reusing content when it is that already (the
// common case: sources publish canonical addresses), without allocating.
func addrString(a netip.Addr, content string) string {
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) == content {
		return content
	}
	return a.String()
}
