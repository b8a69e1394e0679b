package dnssec

import (
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/rrset"
)

// Compare orders owner names canonically (RFC 4034, section 6.1): label by
// label from the root, each compared as lowercase octets, a name before
// the names below it. It allocates nothing for names without escapes: it
// orders every chain and batch, and is called O(n log n) times for them.
func Compare(a, b string) int {
	if strings.IndexByte(a, '\\') >= 0 || strings.IndexByte(b, '\\') >= 0 {
		return compareEscaped(a, b)
	}
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	for a != "" && b != "" {
		var la, lb string
		a, la = lastLabel(a)
		b, lb = lastLabel(b)
		if c := compareFold(la, lb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// lastLabel splits name (without its trailing dot) into what comes before
// its last label, and that label.
func lastLabel(name string) (rest, label string) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// compareFold compares a and b as octets with ASCII letters lowercased.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lower(a[i]), lower(b[i])
		if ca != cb {
			return int(ca) - int(cb)
		}
	}
	return len(a) - len(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// compareEscaped is Compare for names with escapes (\. or \DDD), split by
// miekg/dns, which knows them.
func compareEscaped(a, b string) int {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// Owner is a name of a zone with the types of its RRsets.
type Owner struct {
	Name  string
	Types []string
}

// Authoritative returns the owners of zone that get a place in the denial
// chain: not below a delegation (glue is not the zone's data), in
// canonical order. A delegation stays with only its NS and DS (see
// AtCut); what is below it goes.
func Authoritative(zone string, owners []Owner) []Owner {
	out := slices.Clone(owners)
	slices.SortFunc(out, func(a, b Owner) int { return Compare(a.Name, b.Name) })
	var cuts []string
	kept := out[:0]
	for _, o := range out {
		if below(o.Name, cuts) {
			continue
		}
		if IsCut(zone, o) {
			cuts = append(cuts, o.Name)
			o = AtCut(o)
		}
		kept = append(kept, o)
	}
	return kept
}

// IsCut reports whether o is a delegation of zone: NS below the apex.
func IsCut(zone string, o Owner) bool {
	return o.Name != zone && slices.Contains(o.Types, "NS")
}

// AtCut returns delegation o with only the types the parent is
// authoritative for, NS and DS (RFC 4035, section 2.3): any other data
// there is hidden by the delegation, left out of the denial bitmap and
// unsigned, as a validator expects.
func AtCut(o Owner) Owner {
	var types []string
	for _, t := range o.Types {
		if t == "NS" || t == "DS" {
			types = append(types, t)
		}
	}
	return Owner{Name: o.Name, Types: types}
}

func below(name string, cuts []string) bool {
	for _, c := range cuts {
		if name != c && dns.IsSubDomain(c, name) {
			return true
		}
	}
	return false
}

// NSECChain returns the NSEC RRsets of zone for its authoritative owners
// (see Authoritative): each names the next owner in canonical order, the
// last the apex, with the owner's types plus RRSIG and NSEC. ttl is the
// NSEC TTL (the SOA minimum, RFC 4034 section 4).
func NSECChain(zone string, owners []Owner, ttl uint32) []rrset.Set {
	auth := Authoritative(zone, owners)
	out := make([]rrset.Set, 0, len(auth))
	for i, o := range auth {
		next := zone
		if i+1 < len(auth) {
			next = auth[i+1].Name
		}
		out = append(out, NSEC(o, next, ttl))
	}
	return out
}

// NSEC returns the NSEC RRset of o pointing at next.
func NSEC(o Owner, next string, ttl uint32) rrset.Set {
	types := []uint16{dns.TypeRRSIG, dns.TypeNSEC}
	for _, t := range o.Types {
		if code, ok := dns.StringToType[t]; ok && !slices.Contains(types, code) {
			types = append(types, code)
		}
	}
	slices.Sort(types)
	rr := &dns.NSEC{Hdr: dns.RR_Header{Name: o.Name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: next, TypeBitMap: types}
	return rrset.Set{Key: rrset.Key{Name: o.Name, Type: "NSEC"}, TTL: ttl, Records: []string{Content(rr)}}
}
