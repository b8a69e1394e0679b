package register

import (
	"crypto"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/sig0"
)

// SignWindow is how long before and after the moment of signing a SIG(0)
// is valid. BIND signs SIG(0) from now-300s to now+300s (its TSIG fudge),
// so a gateway and a host whose clocks differ by less than that agree.
const SignWindow = 5 * time.Minute

// UDPSize is the EDNS(0) payload size an update offers for its reply: the
// 2020 DNS flag day's 1232 bytes, which no common path fragments. A reply
// echoes every record stored, so a host with many addresses needs more
// than 512 bytes; a larger one comes truncated and is asked again over TCP.
const UDPSize = 1232

// MaxUDPRequest is the largest update sent over UDP. A server reads 512
// bytes of a UDP request unless it says otherwise (miekg/dns's default,
// which zonecast-gateway keeps), and cuts a longer one, answering
// FORMERR; so a larger update goes over TCP, as nsupdate sends it.
const MaxUDPRequest = 512

// Claim is a host's claim of a name: what every update of it carries.
type Claim struct {
	Zone string   // the claim zone, canonical
	Name string   // the name claimed, canonical, one label below Zone
	Key  *dns.KEY // the name's KEY, whose private half signs
	TTL  uint32   // of the address records, and the KEY
	// Lease and KeyLease are asked for in an EDNS(0) Update Lease option
	// (whole seconds); a Lease of 0 sends no option and takes the
	// gateway's.
	Lease, KeyLease time.Duration
}

// Update returns the UPDATE that leaves exactly addrs as the name's
// addresses: in the zone section the claim zone; in the update section
// the KEY (added, so every update claims the name or refreshes the
// claim), the deletion of the name's A and AAAA RRsets, and an A or AAAA
// for each address. Each update carries the whole state, so one that is
// lost or that a gateway missed is made good by the next, and a gateway
// never needs to know what it held before. With no addresses it withdraws
// the records and keeps the claim.
func (c Claim) Update(addrs []netip.Addr) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(c.Zone)
	// Not compressed: miekg's (*dns.SIG).Sign sizes its buffer by the
	// compressed length while packing needs the uncompressed one, and
	// fails. So an update of more than three addresses is longer than
	// MaxUDPRequest and goes over TCP.
	key := *c.Key
	key.Hdr = dns.RR_Header{Name: c.Name, Rrtype: dns.TypeKEY, Class: dns.ClassINET, Ttl: c.TTL}
	m.Ns = append(m.Ns, &key,
		&dns.ANY{Hdr: dns.RR_Header{Name: c.Name, Rrtype: dns.TypeA, Class: dns.ClassANY}},
		&dns.ANY{Hdr: dns.RR_Header{Name: c.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassANY}})
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			m.Ns = append(m.Ns, &dns.A{Hdr: dns.RR_Header{Name: c.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: c.TTL}, A: a.AsSlice()})
		} else {
			m.Ns = append(m.Ns, &dns.AAAA{Hdr: dns.RR_Header{Name: c.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: c.TTL}, AAAA: a.AsSlice()})
		}
	}
	m.SetEdns0(UDPSize, false)
	if c.Lease > 0 {
		o := m.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_UL{Code: dns.EDNS0UL, Lease: seconds(c.Lease), KeyLease: seconds(c.KeyLease)})
	}
	return m
}

func seconds(d time.Duration) uint32 {
	return uint32(min(max(d/time.Second, 0), math.MaxUint32))
}

// Sign returns m's wire form with a SIG(0) by key (priv its private half),
// valid from SignWindow before now to SignWindow after.
func Sign(m *dns.Msg, key *dns.KEY, priv crypto.Signer, now time.Time) ([]byte, error) {
	return sig0.Sign(m, key, priv, now.Add(-SignWindow), now.Add(SignWindow))
}

// ErrNotReply is wrapped by ParseReply's errors: the message does not
// answer the update.
var ErrNotReply = errors.New("not a reply to the update")

// Reply is what a gateway answered to an update.
type Reply struct {
	Rcode int
	// Stored is the reply's update section: the records the gateway
	// stored, with the TTLs it kept, and the KEY.
	Stored []dns.RR
	// Lease and KeyLease are what the reply's Update Lease option
	// granted; 0 without the option.
	Lease, KeyLease time.Duration
}

// ParseReply checks that r answers the update q and returns what it says.
func ParseReply(q, r *dns.Msg) (Reply, error) {
	switch {
	case r == nil:
		return Reply{}, fmt.Errorf("%w: no message", ErrNotReply)
	case !r.Response:
		return Reply{}, fmt.Errorf("%w: a query, not a response", ErrNotReply)
	case r.Id != q.Id:
		return Reply{}, fmt.Errorf("%w: id %d, the update's is %d", ErrNotReply, r.Id, q.Id)
	// A server that cannot decode a message answers FORMERR without
	// knowing its opcode: miekg/dns's says QUERY.
	case r.Opcode != dns.OpcodeUpdate && !(r.Opcode == dns.OpcodeQuery && r.Rcode == dns.RcodeFormatError):
		return Reply{}, fmt.Errorf("%w: opcode %s", ErrNotReply, dns.OpcodeToString[r.Opcode])
	case len(r.Question) > 0 && len(q.Question) > 0 && !strings.EqualFold(r.Question[0].Name, q.Question[0].Name):
		return Reply{}, fmt.Errorf("%w: zone %s, the update's is %s", ErrNotReply, r.Question[0].Name, q.Question[0].Name)
	}
	rep := Reply{Rcode: r.Rcode, Stored: r.Ns}
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if ul, ok := opt.(*dns.EDNS0_UL); ok {
				rep.Lease = time.Duration(ul.Lease) * time.Second
				rep.KeyLease = time.Duration(ul.KeyLease) * time.Second
				break
			}
		}
	}
	return rep, nil
}

// Refresh is how long after this reply the records are sent again: half
// the lease granted, or of asked when the reply granted none (a gateway
// that does not speak Update Lease keeps its own, which the client cannot
// know). Half leaves a whole half lease for a refresh that fails to be
// retried before the records expire.
func (r Reply) Refresh(asked time.Duration) time.Duration {
	lease := r.Lease
	if lease <= 0 {
		lease = asked
	}
	return max(lease/2, time.Second/2)
}

// Records returns the stored records but the KEY, each in presentation
// form on one line, for the log.
func (r Reply) Records() []string {
	out := []string{}
	for _, rr := range r.Stored {
		if rr.Header().Rrtype == dns.TypeKEY {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}
