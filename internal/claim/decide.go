package claim

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/dnsupdate"
	"github.com/zonecast/zonecast/internal/sig0"
)

// Request is one SIG(0)-signed UPDATE of a claim zone.
type Request struct {
	Msg    *dns.Msg
	Zone   string // the zone section's name, canonical, a claim zone
	Signer string // the SIG(0)'s signer name, canonical: the name claimed
	From   netip.Addr
	// Current is the claim stored for Signer (nil: none). A claim that
	// lapsed counts as none.
	Current *Claim
	// SubnetClaims counts the live claims made from From's subnet
	// (Subnet), for Policy.PerSubnet; it is called only for a new claim
	// under a cap.
	SubnetClaims func() int
	// Verify checks the message's SIG(0) with key (sig0.Verify over the
	// bytes received); its errors wrap the sig0 sentinels.
	Verify func(key *dns.KEY) error
	Now    time.Time
}

// Decision is what to do with a Request. Unless Rcode is success, nothing
// is stored or published.
type Decision struct {
	Rcode  int
	Reason string // why it is refused, for the log
	// Claim is the claim to store: a new one (New: only if none is stored
	// meanwhile) or Current refreshed.
	Claim Claim
	New   bool
	// Release: the update deleted the name's KEY, and the claim ends once
	// the rest of the update is published.
	Release bool
	// Update is the UPDATE to evaluate (dnsupdate.Evaluate) with Policy:
	// the request without its KEY records and SIG(0), TTLs lowered to
	// the policy's maximum.
	Update *dns.Msg
	Policy dnsupdate.Policy
	Lease  time.Duration // of the published records
	// Echo is what the reply's update section says was stored: the added
	// records with the TTLs kept, and the KEY.
	Echo []dns.RR
	// Lease is echoed as an EDNS(0) Update Lease option when the request
	// carried one.
	EchoLease *dns.EDNS0_UL
}

func refuse(rcode int, format string, args ...any) Decision {
	return Decision{Rcode: rcode, Reason: fmt.Sprintf(format, args...)}
}

// Decide checks req against p. Policy refusals answer REFUSED; a name
// held by another key YXDOMAIN (RFC 9665 section 3.3.3: a name conflict);
// a signature that fails or is stale NOTAUTH, as TSIG failures do (RFC
// 8945 section 5.2).
func Decide(p Policy, req Request) Decision {
	name := req.Signer
	label, err := Label(name, req.Zone)
	if err != nil {
		return refuse(dns.RcodeRefused, "%v", err)
	}
	if slices.Contains(p.Reserved, label) {
		return refuse(dns.RcodeRefused, "%s is reserved", name)
	}
	upd, offered, release, d := p.split(req.Msg, name)
	if d.Rcode != 0 {
		return d
	}
	lease, keyLease, echoLease := p.leases(req.Msg)
	cur := req.Current
	if cur != nil && !cur.Live(req.Now) {
		cur = nil
	}
	var c Claim
	isNew := false
	switch {
	case cur != nil:
		if offered != nil && KeyData(offered) != cur.Key {
			return refuse(dns.RcodeYXDomain, "%s is claimed by another key", name)
		}
		k, err := cur.PublicKey()
		if err != nil {
			return refuse(dns.RcodeServerFailure, "%v", err)
		}
		if err := req.Verify(k); err != nil {
			if errors.Is(err, sig0.ErrTime) {
				return refuse(dns.RcodeNotAuth, "SIG(0) of %s outside its time window: %v", name, err)
			}
			return refuse(dns.RcodeRefused, "%s is claimed by another key (the update's signature: %v)", name, err)
		}
		if !p.UpdatesFromAnywhere && !p.allowedFrom(req.From) {
			return refuse(dns.RcodeRefused, "updates of %s are not accepted from %s", name, req.From)
		}
		c = *cur
	default:
		if release {
			return refuse(dns.RcodeRefused, "%s is not claimed: there is no KEY to delete", name)
		}
		if offered == nil {
			return refuse(dns.RcodeRefused, "%s is not claimed: a claim adds the KEY that signs it", name)
		}
		if !p.allowedFrom(req.From) {
			return refuse(dns.RcodeRefused, "claims are not accepted from %s", req.From)
		}
		if p.PerSubnet > 0 {
			if n := req.SubnetClaims(); n >= p.PerSubnet {
				return refuse(dns.RcodeRefused, "%s already holds %d claims", Subnet(req.From), n)
			}
		}
		if err := req.Verify(offered); err != nil {
			if errors.Is(err, sig0.ErrTime) {
				return refuse(dns.RcodeNotAuth, "SIG(0) of %s outside its time window: %v", name, err)
			}
			return refuse(dns.RcodeNotAuth, "SIG(0) of %s does not verify with the KEY it adds: %v", name, err)
		}
		c = Claim{Name: name, Zone: req.Zone, Key: KeyData(offered), Source: req.From.String(), Created: req.Now.UTC()}
		isNew = true
	}
	c.Refreshed = req.Now.UTC()
	c.KeyLeaseSeconds = int64(keyLease / time.Second)
	echo := []dns.RR{}
	for _, rr := range upd.Ns {
		if rr.Header().Class == dns.ClassINET {
			echo = append(echo, rr)
		}
	}
	if offered != nil {
		echo = append(echo, offered)
	}
	return Decision{Rcode: dns.RcodeSuccess, Claim: c, New: isNew, Release: release, Update: upd,
		Policy: dnsupdate.Policy{Zones: []string{req.Zone}, Names: []string{name}, Types: p.Types},
		Lease:  lease, Echo: echo, EchoLease: echoLease}
}

// split takes the KEY records out of m's update section, checking that
// they are name's, and returns the rest as the UPDATE to evaluate (TTLs
// lowered to MaxTTL, the SIG(0) left out), the KEY added (nil: none) and
// whether the name's KEY is deleted.
func (p Policy) split(m *dns.Msg, name string) (*dns.Msg, *dns.KEY, bool, Decision) {
	upd := m.Copy()
	upd.Ns = upd.Ns[:0]
	var offered *dns.KEY
	release := false
	for _, rr := range m.Ns {
		h := rr.Header()
		if h.Rrtype != dns.TypeKEY {
			rr = dns.Copy(rr)
			if h.Class == dns.ClassINET && rr.Header().Ttl > p.MaxTTL {
				rr.Header().Ttl = p.MaxTTL
			}
			upd.Ns = append(upd.Ns, rr)
			continue
		}
		if dns.CanonicalName(h.Name) != name {
			return nil, nil, false, refuse(dns.RcodeRefused, "KEY for %s in an update signed for %s", dns.CanonicalName(h.Name), name)
		}
		switch k, ok := rr.(*dns.KEY); {
		case h.Class == dns.ClassINET && ok:
			if offered != nil && KeyData(offered) != KeyData(k) {
				return nil, nil, false, refuse(dns.RcodeRefused, "two KEYs for %s", name)
			}
			offered = k
		case h.Class == dns.ClassANY || h.Class == dns.ClassNONE:
			release = true
		default:
			return nil, nil, false, refuse(dns.RcodeFormatError, "KEY of %s with class %d", name, h.Class)
		}
	}
	if offered != nil && release {
		return nil, nil, false, refuse(dns.RcodeRefused, "an update of %s that both adds and deletes its KEY", name)
	}
	if n := len(upd.Extra); n > 0 {
		if _, ok := upd.Extra[n-1].(*dns.SIG); ok {
			upd.Extra = upd.Extra[:n-1]
		}
	}
	return upd, offered, release, Decision{}
}

// leases returns the record and key leases granted to m: the policy's,
// or shorter ones an EDNS(0) Update Lease option asks for (the key lease
// never shorter than the lease), and the option to echo (nil: m had none).
func (p Policy) leases(m *dns.Msg) (lease, keyLease time.Duration, echo *dns.EDNS0_UL) {
	lease, keyLease = p.Lease, p.KeyLease
	opt := m.IsEdns0()
	if opt == nil {
		return lease, keyLease, nil
	}
	for _, o := range opt.Option {
		ul, ok := o.(*dns.EDNS0_UL)
		if !ok {
			continue
		}
		if ul.Lease > 0 {
			lease = min(lease, time.Duration(ul.Lease)*time.Second)
		}
		if ul.KeyLease > 0 {
			keyLease = min(keyLease, time.Duration(ul.KeyLease)*time.Second)
		}
		keyLease = max(keyLease, lease)
		return lease, keyLease, &dns.EDNS0_UL{Code: dns.EDNS0UL,
			Lease: uint32(lease / time.Second), KeyLease: uint32(keyLease / time.Second)}
	}
	return lease, keyLease, nil
}
