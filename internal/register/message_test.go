package register

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/claim"
	"github.com/zonecast/zonecast/internal/sig0"
)

const (
	zone = "lan.example.com."
	name = "laptop.lan.example.com."
)

func testClaim(t *testing.T) (Claim, *dns.KEY) {
	t.Helper()
	k, _, err := NewKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return Claim{Zone: zone, Name: name, Key: k, TTL: 300, Lease: 2 * time.Hour, KeyLease: 168 * time.Hour}, k
}

// rrs renders an update section one record a line, the KEY's data cut.
func rrs(rs []dns.RR) []string {
	var out []string
	for _, rr := range rs {
		s := strings.Join(strings.Fields(rr.String()), " ")
		if k, ok := rr.(*dns.KEY); ok {
			s = strings.TrimSuffix(s, " "+k.PublicKey)
		}
		out = append(out, s)
	}
	return out
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	c, _ := testClaim(t)
	addrs := []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("::ffff:192.0.2.1"), netip.MustParseAddr("2001:db8::10")}
	m := c.Update(addrs)
	if m.Opcode != dns.OpcodeUpdate || len(m.Question) != 1 || m.Question[0].Name != zone || m.Question[0].Qtype != dns.TypeSOA {
		t.Fatalf("zone section %v, opcode %d", m.Question, m.Opcode)
	}
	if len(m.Answer) != 0 {
		t.Errorf("prerequisites %v, want none", m.Answer)
	}
	want := []string{
		name + " 300 IN KEY 512 3 13",
		name + " 0 CLASS255 A",
		name + " 0 CLASS255 AAAA",
		name + " 300 IN A 198.51.100.7",
		name + " 300 IN A 192.0.2.1",
		name + " 300 IN AAAA 2001:db8::10",
	}
	if got := rrs(m.Ns); !slices.Equal(got, want) {
		t.Errorf("update section\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	o := m.IsEdns0()
	if o == nil || o.UDPSize() != UDPSize || len(o.Option) != 1 {
		t.Fatalf("OPT %v", o)
	}
	ul, ok := o.Option[0].(*dns.EDNS0_UL)
	if !ok || ul.Lease != 7200 || ul.KeyLease != 604800 {
		t.Errorf("update lease option %v, want 7200 604800", o.Option[0])
	}
	if c.Key.Hdr.Name != name || c.Key.Hdr.Ttl != 0 {
		t.Errorf("the claim's key was changed: %v", c.Key.Hdr)
	}

	// No addresses: the records are withdrawn, the claim kept.
	w := c.Update(nil)
	if got := rrs(w.Ns); !slices.Equal(got, want[:3]) {
		t.Errorf("withdrawal\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want[:3], "\n"))
	}

	// No lease asked: no option.
	c.Lease, c.KeyLease = 0, 0
	if o := c.Update(addrs).IsEdns0(); o == nil || len(o.Option) != 0 {
		t.Errorf("OPT without a lease: %v", o)
	}
}

// The update, signed, is what a gateway's claim policy (internal/claim)
// accepts: the first claim of a free name, and what it echoes.
func TestSignedUpdateIsAClaim(t *testing.T) {
	t.Parallel()
	k, priv, err := NewKey(name)
	if err != nil {
		t.Fatal(err)
	}
	c := Claim{Zone: zone, Name: name, Key: k, TTL: 7200, Lease: 3 * time.Second, KeyLease: 6 * time.Second}
	now := time.Now()
	m := c.Update([]netip.Addr{netip.MustParseAddr("2001:db8::10")})
	raw, err := Sign(m, k, priv, now)
	if err != nil {
		t.Fatal(err)
	}
	var got dns.Msg
	if err := got.Unpack(raw); err != nil {
		t.Fatal(err)
	}
	sig, ok := sig0.Find(&got)
	if !ok {
		t.Fatal("no SIG(0) last in the additional section")
	}
	if sig.Inception != uint32(now.Add(-5*time.Minute).Unix()) || sig.Expiration != uint32(now.Add(5*time.Minute).Unix()) {
		t.Errorf("signed from %d to %d, want now-5min to now+5min (%d)", sig.Inception, sig.Expiration, now.Unix())
	}
	if err := sig0.Verify(raw, &got, k, now, 0); err != nil {
		t.Fatalf("SIG(0) does not verify: %v", err)
	}
	p, err := claim.Policy{Zones: []string{zone}}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	d := claim.Decide(p, claim.Request{Msg: &got, Zone: zone, Signer: name, From: netip.MustParseAddr("2001:db8::10"), Now: now,
		Verify: func(key *dns.KEY) error { return sig0.Verify(raw, &got, key, now, 0) }})
	if d.Rcode != dns.RcodeSuccess || !d.New {
		t.Fatalf("the claim is refused: %s %s", dns.RcodeToString[d.Rcode], d.Reason)
	}
	if d.Lease != 3*time.Second || d.EchoLease == nil || d.EchoLease.Lease != 3 || d.EchoLease.KeyLease != 6 {
		t.Errorf("lease %v, echoed %v; want 3s and 3 6", d.Lease, d.EchoLease)
	}
	if got := rrs(d.Echo); !slices.Equal(got, []string{name + " 3600 IN AAAA 2001:db8::10", name + " 7200 IN KEY 512 3 13"}) {
		t.Errorf("echo %v", got)
	}
}

func TestParseReply(t *testing.T) {
	t.Parallel()
	c, k := testClaim(t)
	q := c.Update([]netip.Addr{netip.MustParseAddr("2001:db8::10")})
	reply := func(f func(r *dns.Msg)) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(q)
		f(r)
		return r
	}
	aaaa := &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300}, AAAA: netip.MustParseAddr("2001:db8::10").AsSlice()}
	withLease := func(r *dns.Msg) {
		r.Ns = []dns.RR{aaaa, k}
		r.SetEdns0(dns.DefaultMsgSize, false)
		o := r.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_UL{Code: dns.EDNS0UL, Lease: 3, KeyLease: 6})
	}
	tests := map[string]struct {
		r       *dns.Msg
		err     bool
		want    Reply
		refresh time.Duration
		records []string
	}{
		"stored, with leases": {r: reply(withLease), want: Reply{Lease: 3 * time.Second, KeyLease: 6 * time.Second},
			refresh: 1500 * time.Millisecond, records: []string{name + " 300 IN AAAA 2001:db8::10"}},
		"no lease option: half the lease asked": {r: reply(func(r *dns.Msg) { r.Ns = []dns.RR{aaaa} }), refresh: time.Hour,
			records: []string{name + " 300 IN AAAA 2001:db8::10"}},
		"YXDOMAIN":     {r: reply(func(r *dns.Msg) { r.Rcode = dns.RcodeYXDomain }), want: Reply{Rcode: dns.RcodeYXDomain}, refresh: time.Hour, records: []string{}},
		"another id":   {r: reply(func(r *dns.Msg) { r.Id++ }), err: true},
		"a query":      {r: reply(func(r *dns.Msg) { r.Response = false }), err: true},
		"not UPDATE":   {r: reply(func(r *dns.Msg) { r.Opcode = dns.OpcodeQuery }), err: true},
		"another zone": {r: reply(func(r *dns.Msg) { r.Question[0].Name = "other.example." }), err: true},
		"zone in another case": {r: reply(func(r *dns.Msg) { r.Question[0].Name = "LAN.example.com." }), refresh: time.Hour,
			records: []string{}},
		"nothing": {r: nil, err: true},
		// miekg/dns's server answers a message it cannot decode so.
		"FORMERR as a QUERY": {r: reply(func(r *dns.Msg) { r.SetRcodeFormatError(q) }), want: Reply{Rcode: dns.RcodeFormatError},
			refresh: time.Hour, records: []string{}},
		"NOTIMP as a QUERY": {r: reply(func(r *dns.Msg) { r.Opcode, r.Rcode = dns.OpcodeQuery, dns.RcodeNotImplemented }), err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseReply(q, tc.r)
			if tc.err {
				if !errors.Is(err, ErrNotReply) {
					t.Fatalf("error %v, want ErrNotReply", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Rcode != tc.want.Rcode || got.Lease != tc.want.Lease || got.KeyLease != tc.want.KeyLease {
				t.Errorf("reply %+v, want %+v", got, tc.want)
			}
			if r := got.Refresh(2 * time.Hour); r != tc.refresh {
				t.Errorf("refresh after %v, want %v", r, tc.refresh)
			}
			if rec := got.Records(); !slices.Equal(rec, tc.records) {
				t.Errorf("records %q, want %q", rec, tc.records)
			}
		})
	}
}
