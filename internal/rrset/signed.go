package rrset

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// SignedTypes lists the types a signer may publish for a signed zone:
// the sources' types, the SOA and apex NS, and DNSSEC's.
var SignedTypes = append(slices.Clip(Types), "SOA", "DNSKEY", "CDS", "CDNSKEY", "DS", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM")

func init() {
	for t, c := range map[string]uint16{"DNSKEY": dns.TypeDNSKEY, "CDS": dns.TypeCDS, "CDNSKEY": dns.TypeCDNSKEY,
		"DS": dns.TypeDS, "RRSIG": dns.TypeRRSIG, "NSEC": dns.TypeNSEC, "NSEC3": dns.TypeNSEC3, "NSEC3PARAM": dns.TypeNSEC3PARAM} {
		typeCodes[t] = c
	}
}

// CanonicalSignedType returns the upper-case form of a type a signer may
// publish (SignedTypes).
func CanonicalSignedType(t string) (string, error) {
	u := asciiUpper(t)
	i := slices.Index(SignedTypes, u)
	if i < 0 {
		return "", invalidf("unsupported type %q in a signed zone (supported: %s)", t, strings.Join(SignedTypes, " "))
	}
	return SignedTypes[i], nil
}

// canonicalDNSSEC lower-cases the names inside DNSSEC records, as
// PowerDNS writes them.
func canonicalDNSSEC(rr dns.RR) {
	switch r := rr.(type) {
	case *dns.RRSIG:
		r.SignerName = strings.ToLower(r.SignerName)
	case *dns.NSEC:
		r.NextDomain = strings.ToLower(r.NextDomain)
	case *dns.NSEC3:
		r.NextDomain = strings.ToLower(r.NextDomain)
		r.Salt = strings.ToLower(r.Salt)
	case *dns.NSEC3PARAM:
		r.Salt = strings.ToLower(r.Salt)
	}
}
