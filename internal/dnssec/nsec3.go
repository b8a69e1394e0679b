package dnssec

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/rrset"
)

// NSEC3Params are a zone's NSEC3 settings. The zero value, no extra
// iterations and no salt, is what RFC 9276 advises.
type NSEC3Params struct {
	Iterations uint16
	Salt       string // hex; empty: none
}

// Check reports whether p is usable.
func (p NSEC3Params) Check() error {
	if _, err := hex.DecodeString(p.Salt); err != nil {
		return fmt.Errorf("nsec3 salt %q: not hex: %w", p.Salt, err)
	}
	if len(p.Salt) > 2*255 {
		return fmt.Errorf("nsec3 salt: longer than 255 octets")
	}
	return nil
}

func (p NSEC3Params) salt() string {
	if p.Salt == "" {
		return "-"
	}
	return strings.ToUpper(p.Salt)
}

// NSEC3PARAM returns the apex's NSEC3PARAM RRset for p.
func NSEC3PARAM(zone string, p NSEC3Params, ttl uint32) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: zone, Type: "NSEC3PARAM"}, TTL: ttl,
		Records: []string{fmt.Sprintf("1 0 %d %s", p.Iterations, p.salt())}}
}

// hashed returns the hash of name for p, in base32hex, lowercase.
func (p NSEC3Params) hashed(name string) string {
	return strings.ToLower(dns.HashName(name, dns.SHA1, p.Iterations, p.Salt))
}

// NSEC3Chain returns the NSEC3 RRsets of zone for its authoritative owners
// and the empty non-terminals above them (RFC 5155): one per name, owned
// by the name's hash under the zone, in hash order, each naming the next
// hash, the last the first. A name's bitmap holds its types, and RRSIG
// when any of them is signed (not a delegation's NS alone).
func NSEC3Chain(zone string, owners []Owner, p NSEC3Params, ttl uint32) []rrset.Set {
	auth := Authoritative(zone, owners)
	types := make(map[string][]string, len(auth))
	for _, o := range auth {
		types[o.Name] = o.Types
		for n := parent(o.Name); n != "" && dns.IsSubDomain(zone, n); n = parent(n) {
			if _, ok := types[n]; ok {
				break
			}
			types[n] = nil // an empty non-terminal
		}
	}
	type entry struct{ hash, name string }
	entries := make([]entry, 0, len(types))
	for n := range types {
		entries = append(entries, entry{hash: p.hashed(n), name: n})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.hash, b.hash) })
	out := make([]rrset.Set, 0, len(entries))
	for i, e := range entries {
		next := entries[(i+1)%len(entries)].hash
		out = append(out, nsec3(zone, e.hash, next, e.name, types[e.name], p, ttl))
	}
	return out
}

func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return ""
	}
	return name[i:]
}

func nsec3(zone, hash, next, name string, types []string, p NSEC3Params, ttl uint32) rrset.Set {
	var bitmap []uint16
	signed := false
	for _, t := range types {
		code, ok := dns.StringToType[t]
		if !ok || slices.Contains(bitmap, code) {
			continue
		}
		bitmap = append(bitmap, code)
		if !(t == "NS" && name != zone) {
			signed = true
		}
	}
	if signed {
		bitmap = append(bitmap, dns.TypeRRSIG)
	}
	slices.Sort(bitmap)
	owner := hash + "." + zone
	salt := p.Salt
	rr := &dns.NSEC3{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
		Hash: dns.SHA1, Iterations: p.Iterations, SaltLength: uint8(len(salt) / 2), Salt: strings.ToUpper(salt),
		HashLength: 20, NextDomain: next, TypeBitMap: bitmap}
	if salt == "" {
		rr.Salt = ""
	}
	return rrset.Set{Key: rrset.Key{Name: owner, Type: "NSEC3"}, TTL: ttl, Records: []string{Content(rr)}}
}
