package claim

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/sig0"
)

const zone = "dyn.example.test."

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func policy(t *testing.T) Policy {
	t.Helper()
	p, err := Policy{Zones: []string{zone}, Subnets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Reserved: []string{"www"}, PerSubnet: 2}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func key(t *testing.T, name string) *dns.KEY {
	t.Helper()
	k := &dns.KEY{DNSKEY: dns.DNSKEY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeKEY, Class: dns.ClassINET},
		Flags: 512, Protocol: 3, Algorithm: dns.ED25519}}
	if _, err := k.Generate(256); err != nil {
		t.Fatal(err)
	}
	return k
}

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// update returns an UPDATE of zone adding rrs (a KEY among them makes it
// a claim).
func update(rrs ...dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(zone)
	m.Ns = rrs
	return m
}

// signedBy is a Verify that accepts only k's signature.
func signedBy(k *dns.KEY) func(*dns.KEY) error {
	return func(got *dns.KEY) error {
		if KeyData(got) != KeyData(k) {
			return fmt.Errorf("key tag %d: %w", got.KeyTag(), sig0.ErrBadSig)
		}
		return nil
	}
}

func request(m *dns.Msg, signer string, from string, cur *Claim, verify func(*dns.KEY) error) Request {
	return Request{Msg: m, Zone: zone, Signer: signer, From: netip.MustParseAddr(from), Current: cur, Verify: verify, Now: t0,
		SubnetClaims: func() int { return 0 }}
}

// TestDecideClaims: the first key that adds its KEY holds the name; later
// updates must be signed by it, another key is refused, and the name is
// free once the claim lapses.
func TestDecideClaims(t *testing.T) {
	t.Parallel()
	p := policy(t)
	name := "laptop." + zone
	k1, k2 := key(t, name), key(t, name)

	d := Decide(p, request(update(rr(t, name+" 86400 IN AAAA 2001:db8::1"), k1), name, "192.0.2.7", nil, signedBy(k1)))
	if d.Rcode != dns.RcodeSuccess || !d.New {
		t.Fatalf("a first claim: %s %s", dns.RcodeToString[d.Rcode], d.Reason)
	}
	c := d.Claim
	if c.Key != KeyData(k1) || c.Source != "192.0.2.7" || !c.Expires().Equal(t0.Add(DefaultKeyLease)) || c.Origin() != Origin(name) {
		t.Errorf("claim %+v", c)
	}
	if len(d.Update.Ns) != 1 || d.Update.Ns[0].Header().Ttl != DefaultMaxTTL || d.Lease != DefaultLease {
		t.Errorf("update to evaluate %v, lease %s: want the AAAA alone, TTL lowered to %d", d.Update.Ns, d.Lease, DefaultMaxTTL)
	}
	if len(d.Echo) != 2 || d.Echo[0].Header().Ttl != DefaultMaxTTL {
		t.Errorf("echo %v: want the AAAA with the TTL kept, and the KEY", d.Echo)
	}
	if !d.Policy.Allows(name, "AAAA") || d.Policy.Allows(name, "TXT") || d.Policy.Allows("other."+zone, "AAAA") {
		t.Errorf("policy %+v", d.Policy)
	}

	steps := []struct {
		what  string
		m     *dns.Msg
		from  string
		k     *dns.KEY
		now   time.Time
		rcode int
	}{
		{"the holder updates, from anywhere else refused", update(rr(t, name+" 60 IN A 192.0.2.9")), "198.51.100.1", k1, t0, dns.RcodeRefused},
		{"the holder updates", update(rr(t, name+" 60 IN A 192.0.2.9")), "192.0.2.8", k1, t0.Add(time.Hour), dns.RcodeSuccess},
		{"another key claims", update(rr(t, name+" 60 IN A 192.0.2.10"), k2), "192.0.2.8", k2, t0, dns.RcodeYXDomain},
		{"another key updates", update(rr(t, name+" 60 IN A 192.0.2.10")), "192.0.2.8", k2, t0, dns.RcodeRefused},
		{"another key once the claim lapsed", update(rr(t, name+" 60 IN A 192.0.2.10"), k2), "192.0.2.8", k2, t0.Add(DefaultKeyLease), dns.RcodeSuccess},
	}
	for _, s := range steps {
		req := request(s.m, name, s.from, &c, signedBy(s.k))
		req.Now = s.now
		if d := Decide(p, req); d.Rcode != s.rcode {
			t.Errorf("%s: %s (%s), want %s", s.what, dns.RcodeToString[d.Rcode], d.Reason, dns.RcodeToString[s.rcode])
		} else if s.rcode == dns.RcodeSuccess && !d.Claim.Refreshed.Equal(s.now) {
			t.Errorf("%s: refreshed %s", s.what, d.Claim.Refreshed)
		}
	}

	p.UpdatesFromAnywhere = true
	if d := Decide(p, request(update(rr(t, name+" 60 IN A 192.0.2.9")), name, "198.51.100.1", &c, signedBy(k1))); d.Rcode != dns.RcodeSuccess {
		t.Errorf("with updates from anywhere: %s %s", dns.RcodeToString[d.Rcode], d.Reason)
	}
	d = Decide(p, request(update(&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeKEY, Class: dns.ClassANY}}), name, "192.0.2.7", &c, signedBy(k1)))
	if d.Rcode != dns.RcodeSuccess || !d.Release {
		t.Errorf("the holder deletes its KEY: %s %s, release %v", dns.RcodeToString[d.Rcode], d.Reason, d.Release)
	}
}

// TestDecideRefusals: each bad claim gets its rcode, and nothing to store.
func TestDecideRefusals(t *testing.T) {
	t.Parallel()
	p := policy(t)
	name := "laptop." + zone
	k := key(t, name)
	stale := func(*dns.KEY) error { return fmt.Errorf("signed an hour ago: %w", sig0.ErrTime) }
	cases := []struct {
		what   string
		req    Request
		rcode  int
		reason string
	}{
		{"a bad signature", request(update(k), name, "192.0.2.7", nil, signedBy(key(t, name))), dns.RcodeNotAuth, "does not verify"},
		{"a stale time", request(update(k), name, "192.0.2.7", nil, stale), dns.RcodeNotAuth, "time window"},
		{"a KEY for another name", request(update(key(t, "other."+zone)), name, "192.0.2.7", nil, signedBy(k)), dns.RcodeRefused, "KEY for other"},
		{"a claim from a subnet not allowed", request(update(k), name, "198.51.100.7", nil, signedBy(k)), dns.RcodeRefused, "not accepted from"},
		{"a reserved name", request(update(key(t, "www."+zone)), "www."+zone, "192.0.2.7", nil, signedBy(k)), dns.RcodeRefused, "reserved"},
		{"a name two labels deep", request(update(key(t, "a.b."+zone)), "a.b."+zone, "192.0.2.7", nil, signedBy(k)), dns.RcodeRefused, "more than one label"},
		{"a label that is not a host name", request(update(key(t, "a_b."+zone)), "a_b."+zone, "192.0.2.7", nil, signedBy(k)), dns.RcodeRefused, "not a host name"},
		{"an update of a name not claimed", request(update(rr(t, name+" 60 IN A 192.0.2.1")), name, "192.0.2.7", nil, signedBy(k)), dns.RcodeRefused, "not claimed"},
	}
	full := request(update(k), name, "192.0.2.7", nil, signedBy(k))
	full.SubnetClaims = func() int { return 2 }
	cases = append(cases, struct {
		what   string
		req    Request
		rcode  int
		reason string
	}{"a subnet over its cap", full, dns.RcodeRefused, "already holds 2"})
	for _, c := range cases {
		d := Decide(p, c.req)
		if d.Rcode != c.rcode || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: %s %q, want %s with %q", c.what, dns.RcodeToString[d.Rcode], d.Reason, dns.RcodeToString[c.rcode], c.reason)
		}
		if d.Update != nil || d.Claim.Name != "" {
			t.Errorf("%s: a refusal carries something to store or publish", c.what)
		}
	}
	// The type policy is dnsupdate's: a claim may publish only p.Types.
	d := Decide(p, request(update(rr(t, name+` 60 IN TXT "x"`), k), name, "192.0.2.7", nil, signedBy(k)))
	if d.Rcode != dns.RcodeSuccess || d.Policy.Allows(name, "TXT") {
		t.Errorf("a claim with a TXT: %s, policy allows TXT %v", dns.RcodeToString[d.Rcode], d.Policy.Allows(name, "TXT"))
	}
}

// TestDecideLeaseOption: an EDNS(0) Update Lease option asks for shorter
// leases, never longer than the policy's; it is echoed.
func TestDecideLeaseOption(t *testing.T) {
	t.Parallel()
	p := policy(t)
	name := "laptop." + zone
	k := key(t, name)
	for _, c := range []struct {
		lease, keyLease uint32
		want, wantKey   time.Duration
	}{
		{600, 3600, 10 * time.Minute, time.Hour},
		{86400, 30 * 86400, DefaultLease, DefaultKeyLease},
		{600, 60, 10 * time.Minute, 10 * time.Minute},
	} {
		m := update(k)
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_UL{Code: dns.EDNS0UL, Lease: c.lease, KeyLease: c.keyLease})
		d := Decide(p, request(m, name, "192.0.2.7", nil, signedBy(k)))
		if d.Rcode != dns.RcodeSuccess || d.Lease != c.want || d.Claim.KeyLeaseSeconds != int64(c.wantKey/time.Second) || d.EchoLease == nil ||
			d.EchoLease.Lease != uint32(c.want/time.Second) {
			t.Errorf("lease %d, key lease %d: granted %s and %d s (echo %v), want %s and %s", c.lease, c.keyLease, d.Lease,
				d.Claim.KeyLeaseSeconds, d.EchoLease, c.want, c.wantKey)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	if _, err := (Policy{Zones: []string{zone}, Lease: 2 * time.Hour, KeyLease: time.Hour}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("a key lease shorter than the lease: %v", err)
	}
	if _, err := (Policy{Zones: []string{zone}, Reserved: []string{"a.b"}}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("a reserved name of two labels: %v", err)
	}
	if got := Subnet(netip.MustParseAddr("::ffff:192.0.2.77")); got.String() != "192.0.2.0/24" {
		t.Errorf("subnet of a mapped address: %s", got)
	}
}
