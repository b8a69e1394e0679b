// Package claim decides first-come name claims made with SIG(0)-signed
// UPDATEs (RFC 2931, as nsregd and RFC 9665's SRP do): a name one label
// below a claim zone is taken by the first key that adds its KEY RR and
// signs with it, and only that key may change it until the claim lapses,
// a key lease after its last update. The package is pure: the gateway
// reads and writes claims in its fleet-wide store and publishes the
// records.
package claim

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/rrset"
)

// ErrInvalid is wrapped by validation errors.
var ErrInvalid = errors.New("invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Claim is a name held by a key.
type Claim struct {
	Name string `json:"name"` // canonical, one label below Zone
	Zone string `json:"zone"` // canonical claim zone
	// Key is the KEY RR's RDATA in presentation form (flags, protocol,
	// algorithm, public key), as KeyData writes it.
	Key       string    `json:"key"`
	Source    string    `json:"source"` // the address the claim came from
	Created   time.Time `json:"created"`
	Refreshed time.Time `json:"refreshed"` // the last update signed by Key
	// KeyLeaseSeconds is how long the claim outlives its last update.
	KeyLeaseSeconds int64 `json:"key_lease_seconds"`
}

// Expires is when the claim lapses unless refreshed.
func (c Claim) Expires() time.Time {
	return c.Refreshed.Add(time.Duration(c.KeyLeaseSeconds) * time.Second)
}

// Live reports whether the claim still holds its name at now.
func (c Claim) Live(now time.Time) bool { return now.Before(c.Expires()) }

// Origin is the origin id of the records published for the claim: one per
// name, so that a claim can never change another's records.
func (c Claim) Origin() string { return Origin(c.Name) }

// Origin is the origin id of the records of the claim of name.
func Origin(name string) string { return dnsupdate.Origin("sig0", name) }

// PublicKey returns the claim's key as a KEY RR owned by its name.
func (c Claim) PublicKey() (*dns.KEY, error) {
	rr, err := dns.NewRR(c.Name + " 0 IN KEY " + c.Key)
	if err != nil {
		return nil, fmt.Errorf("claim %s: key: %w", c.Name, err)
	}
	k, ok := rr.(*dns.KEY)
	if !ok {
		return nil, invalidf("claim %s: key %q is not a KEY", c.Name, c.Key)
	}
	return k, nil
}

// KeyData is k's RDATA in presentation form, what Claim.Key holds: two
// KEY RRs are the same key when their KeyData are equal.
func KeyData(k *dns.KEY) string {
	return fmt.Sprintf("%d %d %d %s", k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
}

// Validate checks c and returns it canonical.
func (c Claim) Validate() (Claim, error) {
	var err error
	if c.Zone, err = rrset.CanonicalName(c.Zone); err != nil {
		return Claim{}, invalidf("claim zone %q: %v", c.Zone, err)
	}
	if c.Name, err = rrset.CanonicalName(c.Name); err != nil {
		return Claim{}, invalidf("claim name %q: %v", c.Name, err)
	}
	if _, err := Label(c.Name, c.Zone); err != nil {
		return Claim{}, err
	}
	if _, err := c.PublicKey(); err != nil {
		return Claim{}, invalidf("%v", err)
	}
	if c.KeyLeaseSeconds <= 0 {
		return Claim{}, invalidf("claim %s: key lease %d s", c.Name, c.KeyLeaseSeconds)
	}
	return c, nil
}

// Label returns the label of name (canonical) directly below zone, or
// an error when name is not exactly one label below it or the label is
// not a host name label (letters, digits, hyphens, as RFC 952 and 1123
// have it: what a machine calls itself, and what the store can key).
func Label(name, zone string) (string, error) {
	rest, ok := strings.CutSuffix(name, "."+zone)
	if !ok || rest == "" {
		return "", invalidf("%s is not a name below %s", name, zone)
	}
	if strings.Contains(rest, ".") {
		return "", invalidf("%s is more than one label below %s", name, zone)
	}
	if len(rest) > 63 || rest[0] == '-' || rest[len(rest)-1] == '-' {
		return "", invalidf("label %q of %s is not a host name", rest, name)
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", invalidf("label %q of %s is not a host name (letters, digits, hyphens)", rest, name)
		}
	}
	return rest, nil
}

// Policy is what the claim zones accept.
type Policy struct {
	Zones []string // canonical claim zones
	// Subnets are where claims may come from; empty: anywhere.
	Subnets []netip.Prefix
	// UpdatesFromAnywhere lets the holder of a claim update it from any
	// address, not only from Subnets.
	UpdatesFromAnywhere bool
	Reserved            []string // labels nobody may claim
	MaxTTL              uint32   // TTLs above are lowered to it
	Lease               time.Duration
	KeyLease            time.Duration
	Types               []string // the types a claim may publish
	// PerSubnet caps the live claims made from one /24 (IPv4) or /64
	// (IPv6); 0: no cap.
	PerSubnet int
}

// Defaults of a claim zone: an SRP-like two hours of record lease and a
// week of key lease (RFC 9665 suggests the key lease be much longer than
// the lease), addresses only.
var (
	DefaultLease    = 2 * time.Hour
	DefaultKeyLease = 7 * 24 * time.Hour
	DefaultMaxTTL   = uint32(3600)
	DefaultTypes    = []string{"A", "AAAA"}
)

// Validate checks p, fills its defaults and returns it canonical.
func (p Policy) Validate() (Policy, error) {
	for i, z := range p.Zones {
		c, err := rrset.CanonicalName(z)
		if err != nil {
			return Policy{}, invalidf("claim zone %q: %v", z, err)
		}
		p.Zones[i] = c
	}
	for i, r := range p.Reserved {
		p.Reserved[i] = strings.ToLower(strings.TrimSuffix(r, "."))
		if p.Reserved[i] == "" || strings.Contains(p.Reserved[i], ".") {
			return Policy{}, invalidf("reserved name %q: want one label", r)
		}
	}
	if p.Lease == 0 {
		p.Lease = DefaultLease
	}
	if p.KeyLease == 0 {
		p.KeyLease = DefaultKeyLease
	}
	if p.MaxTTL == 0 {
		p.MaxTTL = DefaultMaxTTL
	}
	if p.Lease < time.Second || p.KeyLease < p.Lease {
		return Policy{}, invalidf("claim lease %s and key lease %s: want a lease of at least 1s and a key lease at least as long", p.Lease, p.KeyLease)
	}
	if len(p.Types) == 0 {
		p.Types = slices.Clone(DefaultTypes)
	}
	for i, t := range p.Types {
		c, err := rrset.CanonicalType(t)
		if err != nil {
			return Policy{}, fmt.Errorf("claim type: %w", err)
		}
		p.Types[i] = c
	}
	if p.PerSubnet < 0 {
		return Policy{}, invalidf("claims per subnet %d", p.PerSubnet)
	}
	return p, nil
}

// Zone returns the claim zone of an UPDATE's zone section (canonical),
// and whether it is one.
func (p Policy) Zone(zone string) bool { return slices.Contains(p.Zones, zone) }

// allowedFrom reports whether a claim may come from addr.
func (p Policy) allowedFrom(addr netip.Addr) bool {
	if len(p.Subnets) == 0 {
		return true
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(p.Subnets, func(s netip.Prefix) bool { return s.Contains(addr) })
}

// Subnet is the subnet PerSubnet counts addr in: its /24 or /64.
func Subnet(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p
}
