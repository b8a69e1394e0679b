package dnsupdate

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

const (
	zone   = "example.test."
	origin = "tsig-k1"
)

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return r
}

func rrs(t *testing.T, ss ...string) []dns.RR {
	out := make([]dns.RR, len(ss))
	for i, s := range ss {
		out[i] = rr(t, s)
	}
	return out
}

// wire packs and unpacks m, as the server sees it (sets RDLENGTHs).
func wire(t *testing.T, m *dns.Msg) *dns.Msg {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("packing: %v", err)
	}
	out := new(dns.Msg)
	if err := out.Unpack(b); err != nil {
		t.Fatalf("unpacking: %v", err)
	}
	return out
}

// state: www A from origin and from another origin, mail MX from other,
// alias CNAME from origin.
func testIndex() *Index {
	x := NewIndex()
	for _, m := range []events.Message{
		{Name: "www." + zone, Type: "A", Origin: origin, TTL: 300, Records: []string{"192.0.2.1"}},
		{Name: "www." + zone, Type: "A", Origin: "lxd-host1", TTL: 60, Records: []string{"192.0.2.9"}},
		{Name: "www." + zone, Type: "AAAA", Origin: origin, TTL: 300, Records: []string{"2001:db8::1"}},
		{Name: "mail." + zone, Type: "MX", Origin: "lxd-host1", TTL: 60, Records: []string{"10 mx." + zone}},
		{Name: "alias." + zone, Type: "CNAME", Origin: origin, TTL: 60, Records: []string{"www." + zone}},
	} {
		m.Version = 1
		x.Apply(m)
	}
	return x
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	all := Policy{Zones: []string{zone}}
	type tc struct {
		build  func(m *dns.Msg)
		zone   string // default zone
		policy *Policy
		rcode  int
		want   []string // "name type ttl rec,rec" or "name type -" for a tombstone
	}
	cases := map[string]tc{
		"add to new rrset": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "host.example.test. 120 IN A 192.0.2.5")) },
			want:  []string{"host.example.test. A 120 192.0.2.5"},
		},
		"add to own rrset keeps own records": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.example.test. 300 IN A 192.0.2.2")) },
			want:  []string{"www.example.test. A 300 192.0.2.1,192.0.2.2"},
		},
		"add existing record is no change": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.example.test. 300 IN A 192.0.2.1")) },
		},
		"add existing record with new ttl": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.example.test. 30 IN A 192.0.2.1")) },
			want:  []string{"www.example.test. A 30 192.0.2.1"},
		},
		"two adds in one message": {
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "a.example.test. 60 IN AAAA 2001:DB8:0::5", "a.example.test. 60 IN TXT \"hi there\""))
			},
			want: []string{"a.example.test. AAAA 60 2001:db8::5", `a.example.test. TXT 60 "hi there"`},
		},
		"upper case name is canonicalised": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "HOST.Example.Test. 60 IN A 192.0.2.5")) },
			want:  []string{"host.example.test. A 60 192.0.2.5"},
		},
		"ttl 0 clamped to 1": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "h.example.test. 0 IN A 192.0.2.5")) },
			want:  []string{"h.example.test. A 1 192.0.2.5"},
		},
		"delete own record": {
			build: func(m *dns.Msg) { m.Remove(rrs(t, "www.example.test. 0 IN AAAA 2001:db8::1")) },
			want:  []string{"www.example.test. AAAA -"},
		},
		"delete other origin's record is no change": {
			build: func(m *dns.Msg) { m.Remove(rrs(t, "www.example.test. 0 IN A 192.0.2.9")) },
		},
		"delete rrset withdraws own contribution only": {
			build: func(m *dns.Msg) { m.RemoveRRset(rrs(t, "www.example.test. 0 IN A 0.0.0.0")) },
			want:  []string{"www.example.test. A -"},
		},
		"delete name": {
			build: func(m *dns.Msg) { m.RemoveName(rrs(t, "www.example.test. 0 IN A 0.0.0.0")) },
			want:  []string{"www.example.test. A -", "www.example.test. AAAA -"},
		},
		"delete then add replaces": {
			build: func(m *dns.Msg) {
				m.RemoveRRset(rrs(t, "www.example.test. 0 IN A 0.0.0.0"))
				m.Insert(rrs(t, "www.example.test. 60 IN A 192.0.2.7"))
			},
			want: []string{"www.example.test. A 60 192.0.2.7"},
		},
		"add then delete in one message is no change": {
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "new.example.test. 60 IN A 192.0.2.7"))
				m.Remove(rrs(t, "new.example.test. 60 IN A 192.0.2.7"))
			},
		},
		"cname replaces own cname": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "alias.example.test. 60 IN CNAME mail.example.test.")) },
			want:  []string{"alias.example.test. CNAME 60 mail.example.test."},
		},
		"cname beside other data ignored": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.example.test. 60 IN CNAME mail.example.test.")) },
		},
		"data beside cname ignored": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "alias.example.test. 60 IN A 192.0.2.1")) },
		},
		"soa update ignored": {
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "example.test. 60 IN SOA ns. host. 99 1 1 1 1"))
			},
		},
		"dhcid beside an address stored": {
			build: func(m *dns.Msg) {
				m.RemoveRRset(rrs(t, "host.example.test. 0 IN DHCID AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="))
				m.Insert(rrs(t, "host.example.test. 60 IN A 192.0.2.9"))
				m.Insert(rrs(t, "host.example.test. 60 IN DHCID AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="))
			},
			want: []string{"host.example.test. A 60 192.0.2.9", "host.example.test. DHCID 60 AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="},
		},
		"dhcid allowed to a key limited to addresses": {
			policy: &Policy{Zones: []string{zone}, Types: []string{"A", "PTR"}},
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "host.example.test. 60 IN A 192.0.2.9"))
				m.Insert(rrs(t, "host.example.test. 60 IN DHCID AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="))
			},
			want: []string{"host.example.test. A 60 192.0.2.9", "host.example.test. DHCID 60 AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="},
		},
		"dhcid refused to a key limited to other types": {
			policy: &Policy{Zones: []string{zone}, Types: []string{"TXT"}},
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "host.example.test. 60 IN DHCID AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="))
			},
			rcode: dns.RcodeRefused,
		},
		"apex ns add and delete ignored": {
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "example.test. 60 IN NS ns9.example.net."))
				m.RemoveRRset(rrs(t, "example.test. 0 IN NS ns1.example.net."))
			},
		},
		"ns below apex allowed": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "sub.example.test. 60 IN NS ns1.example.net.")) },
			want:  []string{"sub.example.test. NS 60 ns1.example.net."},
		},
		"prereq name in use": {
			build: func(m *dns.Msg) {
				m.NameUsed(rrs(t, "mail.example.test. 0 IN A 0.0.0.0"))
				m.Insert(rrs(t, "mail.example.test. 60 IN A 192.0.2.3"))
			},
			want: []string{"mail.example.test. A 60 192.0.2.3"},
		},
		"prereq apex name in use": {
			build: func(m *dns.Msg) {
				m.NameUsed(rrs(t, "example.test. 0 IN A 0.0.0.0"))
				m.Insert(rrs(t, "x.example.test. 60 IN A 192.0.2.3"))
			},
			want: []string{"x.example.test. A 60 192.0.2.3"},
		},
		"prereq name in use fails": {
			build: func(m *dns.Msg) {
				m.NameUsed(rrs(t, "nothing.example.test. 0 IN A 0.0.0.0"))
				m.Insert(rrs(t, "mail.example.test. 60 IN A 192.0.2.3"))
			},
			rcode: dns.RcodeNameError,
		},
		"prereq name not in use fails": {
			build: func(m *dns.Msg) {
				m.NameNotUsed(rrs(t, "mail.example.test. 0 IN A 0.0.0.0"))
				m.Insert(rrs(t, "mail.example.test. 60 IN A 192.0.2.3"))
			},
			rcode: dns.RcodeYXDomain,
		},
		"prereq name not in use": {
			build: func(m *dns.Msg) {
				m.NameNotUsed(rrs(t, "fresh.example.test. 0 IN A 0.0.0.0"))
				m.Insert(rrs(t, "fresh.example.test. 60 IN A 192.0.2.3"))
			},
			want: []string{"fresh.example.test. A 60 192.0.2.3"},
		},
		"prereq rrset exists (other origin)": {
			build: func(m *dns.Msg) {
				m.RRsetUsed(rrs(t, "mail.example.test. 0 IN MX 0 ."))
				m.Insert(rrs(t, "mail.example.test. 60 IN A 192.0.2.3"))
			},
			want: []string{"mail.example.test. A 60 192.0.2.3"},
		},
		"prereq rrset exists fails": {
			build: func(m *dns.Msg) {
				m.RRsetUsed(rrs(t, "mail.example.test. 0 IN TXT x"))
				m.Insert(rrs(t, "mail.example.test. 60 IN A 192.0.2.3"))
			},
			rcode: dns.RcodeNXRrset,
		},
		"prereq rrset does not exist fails": {
			build: func(m *dns.Msg) {
				m.RRsetNotUsed(rrs(t, "www.example.test. 0 IN A 0.0.0.0"))
				m.Insert(rrs(t, "www.example.test. 60 IN A 192.0.2.3"))
			},
			rcode: dns.RcodeYXRrset,
		},
		"prereq value-dependent matches merged rrset": {
			build: func(m *dns.Msg) {
				m.Used(rrs(t, "www.example.test. 0 IN A 192.0.2.9", "www.example.test. 0 IN A 192.0.2.1"))
				m.Insert(rrs(t, "www.example.test. 60 IN TXT ok"))
			},
			want: []string{`www.example.test. TXT 60 "ok"`},
		},
		"prereq value-dependent subset fails": {
			build: func(m *dns.Msg) {
				m.Used(rrs(t, "www.example.test. 0 IN A 192.0.2.1"))
				m.Insert(rrs(t, "www.example.test. 60 IN TXT ok"))
			},
			rcode: dns.RcodeNXRrset,
		},
		"prereq with ttl is formerr": {
			build: func(m *dns.Msg) {
				p := rr(t, "www.example.test. 0 IN A 192.0.2.1")
				m.Used([]dns.RR{p})
				m.Answer[0].Header().Ttl = 5
			},
			rcode: dns.RcodeFormatError,
		},
		"prereq outside zone": {
			build: func(m *dns.Msg) { m.NameUsed(rrs(t, "www.other.test. 0 IN A 0.0.0.0")) },
			rcode: dns.RcodeNotZone,
		},
		"update outside zone": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.other.test. 60 IN A 192.0.2.1")) },
			rcode: dns.RcodeNotZone,
		},
		"zone not served": {
			zone:  "other.test.",
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.other.test. 60 IN A 192.0.2.1")) },
			rcode: dns.RcodeNotAuth,
		},
		"zone outside key scope": {
			zone:  "second.test.",
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.second.test. 60 IN A 192.0.2.1")) },
			rcode: dns.RcodeRefused,
		},
		"name outside key scope": {
			policy: &Policy{Zones: []string{zone}, Names: []string{"*.dhcp.example.test."}},
			build:  func(m *dns.Msg) { m.Insert(rrs(t, "www.example.test. 60 IN A 192.0.2.1")) },
			rcode:  dns.RcodeRefused,
		},
		"name inside key scope": {
			policy: &Policy{Zones: []string{zone}, Names: []string{"*.dhcp.example.test."}},
			build:  func(m *dns.Msg) { m.Insert(rrs(t, "h1.dhcp.example.test. 60 IN A 192.0.2.1")) },
			want:   []string{"h1.dhcp.example.test. A 60 192.0.2.1"},
		},
		"type outside key scope": {
			policy: &Policy{Zones: []string{zone}, Types: []string{"A", "AAAA"}},
			build:  func(m *dns.Msg) { m.Insert(rrs(t, "www.example.test. 60 IN TXT x")) },
			rcode:  dns.RcodeRefused,
		},
		"delete name with type scope deletes those types only": {
			policy: &Policy{Zones: []string{zone}, Types: []string{"A"}},
			build:  func(m *dns.Msg) { m.RemoveName(rrs(t, "www.example.test. 0 IN A 0.0.0.0")) },
			want:   []string{"www.example.test. A -"},
		},
		"delete name outside name scope refused": {
			policy: &Policy{Zones: []string{zone}, Names: []string{"mail.example.test."}},
			build:  func(m *dns.Msg) { m.RemoveName(rrs(t, "www.example.test. 0 IN A 0.0.0.0")) },
			rcode:  dns.RcodeRefused,
		},
		"unsupported type refused": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, "www.example.test. 60 IN HINFO a b")) },
			rcode: dns.RcodeRefused,
		},
		"all or nothing": {
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "ok.example.test. 60 IN A 192.0.2.1", "bad.example.test. 60 IN HINFO a b"))
			},
			rcode: dns.RcodeRefused,
		},
		"name with bad characters refused": {
			build: func(m *dns.Msg) { m.Insert(rrs(t, `b\@d.example.test. 60 IN A 192.0.2.1`)) },
			rcode: dns.RcodeRefused,
		},
		"meta type add is formerr": {
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "www.example.test. 60 IN A 192.0.2.1"))
				m.Ns[0].Header().Rrtype = dns.TypeAXFR
			},
			rcode: dns.RcodeFormatError,
		},
		"delete rrset with ttl is formerr": {
			build: func(m *dns.Msg) {
				m.RemoveRRset(rrs(t, "www.example.test. 0 IN A 0.0.0.0"))
				m.Ns[0].Header().Ttl = 7
			},
			rcode: dns.RcodeFormatError,
		},
		"odd class is formerr": {
			build: func(m *dns.Msg) {
				m.Insert(rrs(t, "www.example.test. 60 IN A 192.0.2.1"))
				m.Ns[0].Header().Class = dns.ClassCHAOS
			},
			rcode: dns.RcodeFormatError,
		},
		"too many records refused": {
			build: func(m *dns.Msg) {
				for i := 0; i < events.MaxRecords+1; i++ {
					m.Insert([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "many.example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
						A: []byte{192, 0, 2, byte(i)}}})
				}
			},
			rcode: dns.RcodeRefused,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			z := zone
			if c.zone != "" {
				z = c.zone
			}
			m := new(dns.Msg)
			m.SetUpdate(z)
			c.build(m)
			p := all
			if c.policy != nil {
				p = *c.policy
			}
			res := Evaluate(testIndex(), Request{Msg: wire(t, m), Zones: []string{zone, "second.test."}, Policy: p, Origin: origin})
			if res.Rcode != c.rcode {
				t.Fatalf("rcode %s (%s), want %s", dns.RcodeToString[res.Rcode], res.Reason, dns.RcodeToString[c.rcode])
			}
			if res.Rcode != dns.RcodeSuccess && len(res.Messages) > 0 {
				t.Fatalf("failed update carries %d messages", len(res.Messages))
			}
			var got []string
			for _, m := range res.Messages {
				if m.Origin != origin {
					t.Errorf("message with origin %s", m.Origin)
				}
				if m.Tombstone() {
					got = append(got, m.Name+" "+m.Type+" -")
				} else {
					got = append(got, m.Name+" "+m.Type+" "+itoa(m.TTL)+" "+strings.Join(m.Records, ","))
				}
			}
			slices.Sort(got)
			slices.Sort(c.want)
			if !slices.Equal(got, c.want) {
				t.Fatalf("messages\n got  %q\n want %q", got, c.want)
			}
		})
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// TestConflictResolution plays RFC 4703's exchanges, as kea's D2 sends
// them, for two DHCP clients that ask for one name: the second, with
// another DHCID, cannot take the name; the first renews and releases it.
func TestConflictResolution(t *testing.T) {
	t.Parallel()
	const (
		name  = "laptop.example.test."
		dhcA  = "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="
		dhcB  = "AAIBxEn7sg8nqgZqkOT85ApQaP6WH6Dr9JjBhbl8EnCQ0ZU="
		other = "lxd-host1"
	)
	x := NewIndex()
	// The same gateway key for both clients: one origin, as with one kea.
	send := func(build func(m *dns.Msg)) Result {
		t.Helper()
		m := new(dns.Msg)
		m.SetUpdate(zone)
		build(m)
		res := Evaluate(x, Request{Msg: wire(t, m), Zones: []string{zone}, Policy: Policy{Zones: []string{zone}}, Origin: origin})
		for _, msg := range res.Messages {
			x.Apply(msg)
		}
		return res
	}
	add := func(addr, dhcid string) func(m *dns.Msg) {
		return func(m *dns.Msg) { // 4703 5.3.1: the name is not in use
			m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name}}})
			m.Insert(rrs(t, name+" 60 IN A "+addr, name+" 60 IN DHCID "+dhcid))
		}
	}
	replace := func(addr, dhcid string) func(m *dns.Msg) {
		return func(m *dns.Msg) { // 5.3.2: the name is ours (our DHCID)
			m.Used(rrs(t, name+" 0 IN DHCID "+dhcid))
			m.RemoveRRset(rrs(t, name+" 0 IN A 0.0.0.0"))
			m.Insert(rrs(t, name+" 60 IN A "+addr))
		}
	}
	expect := func(what string, res Result, rcode int) {
		t.Helper()
		if res.Rcode != rcode {
			t.Fatalf("%s: rcode %s (%s), want %s", what, dns.RcodeToString[res.Rcode], res.Reason, dns.RcodeToString[rcode])
		}
	}
	records := func(typ string) []string {
		return merged(rrset.Key{Name: name, Type: typ}, x.Parts(rrset.Key{Name: name, Type: typ})).Records
	}

	expect("A adds", send(add("192.0.2.10", dhcA)), dns.RcodeSuccess)
	expect("B adds", send(add("192.0.2.11", dhcB)), dns.RcodeYXDomain)
	expect("B replaces", send(replace("192.0.2.11", dhcB)), dns.RcodeNXRrset)
	if got := records("A"); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Fatalf("after B's attempts: A %v, want A's address", got)
	}
	expect("A renews with a new address", send(replace("192.0.2.12", dhcA)), dns.RcodeSuccess)
	if got := records("A"); !slices.Equal(got, []string{"192.0.2.12"}) {
		t.Fatalf("after A's renewal: A %v", got)
	}

	// 5.5: removal. B may not remove A's address; A removes it, then the
	// DHCID once no address is left, here another origin's included.
	removeAddr := func(addr, dhcid string) func(m *dns.Msg) {
		return func(m *dns.Msg) {
			m.Used(rrs(t, name+" 0 IN DHCID "+dhcid))
			m.Remove(rrs(t, name+" 0 IN A "+addr))
		}
	}
	removeRest := func(dhcid string) func(m *dns.Msg) {
		return func(m *dns.Msg) {
			m.Used(rrs(t, name+" 0 IN DHCID "+dhcid))
			m.RRsetNotUsed(rrs(t, name+" 0 IN A 0.0.0.0", name+" 0 IN AAAA ::"))
			m.RemoveRRset(rrs(t, name+" 0 IN DHCID "+dhcid))
		}
	}
	expect("B removes", send(removeAddr("192.0.2.12", dhcB)), dns.RcodeNXRrset)
	x.Apply(events.Message{Name: name, Type: "AAAA", Origin: other, TTL: 60, Records: []string{"2001:db8::12"}})
	expect("A removes its address", send(removeAddr("192.0.2.12", dhcA)), dns.RcodeSuccess)
	expect("A removes the DHCID beside another's AAAA", send(removeRest(dhcA)), dns.RcodeYXRrset)
	x.Withdraw(rrset.Key{Name: name, Type: "AAAA"}, other)
	expect("A removes the DHCID", send(removeRest(dhcA)), dns.RcodeSuccess)
	if a, d := records("A"), records("DHCID"); len(a) != 0 || len(d) != 0 {
		t.Fatalf("after the release: A %v, DHCID %v", a, d)
	}
	expect("B adds once the name is free", send(add("192.0.2.11", dhcB)), dns.RcodeSuccess)
}

func TestEvaluateRejectsNonUpdates(t *testing.T) {
	t.Parallel()
	q := new(dns.Msg)
	q.SetQuestion(zone, dns.TypeSOA)
	if r := Evaluate(NewIndex(), Request{Msg: q, Zones: []string{zone}}); r.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("query: rcode %s", dns.RcodeToString[r.Rcode])
	}
	u := new(dns.Msg)
	u.SetUpdate(zone)
	u.Question = append(u.Question, u.Question[0])
	if r := Evaluate(NewIndex(), Request{Msg: u, Zones: []string{zone}}); r.Rcode != dns.RcodeFormatError {
		t.Fatalf("two zones: rcode %s", dns.RcodeToString[r.Rcode])
	}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	x := testIndex()
	key := rrset.Key{Name: "www." + zone, Type: "A"}
	if got := x.Get(key); got.TTL != 60 || !slices.Equal(got.Records, []string{"192.0.2.1", "192.0.2.9"}) {
		t.Fatalf("merged %v", got)
	}
	x.Withdraw(key, "lxd-host1")
	x.Apply(events.Message{Version: 1, Name: "www." + zone, Type: "A", Origin: origin})
	if got := x.Get(key); len(got.Records) != 0 {
		t.Fatalf("after withdrawal %v", got)
	}
	if types := x.Types("www." + zone); !slices.Equal(types, []string{"AAAA"}) {
		t.Fatalf("types %v", types)
	}
}

// TestIndexLeases: a contribution with a lease leaves the view when it
// ends, unless published again; one without a lease stays.
func TestIndexLeases(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_700_000_000, 0)
	x := NewIndex()
	m := func(name string) events.Message {
		return events.Message{Version: 1, Name: name + "." + zone, Type: "A", Origin: origin, TTL: 60, Records: []string{"192.0.2.1"}}
	}
	x.ApplyLease(m("short"), t0.Add(time.Second))
	x.ApplyLease(m("renewed"), t0.Add(time.Second))
	x.ApplyLease(m("renewed"), t0.Add(time.Hour))
	x.Apply(m("forever"))
	if n := x.ExpireDue(t0); n != 0 {
		t.Fatalf("%d ended early", n)
	}
	if n := x.ExpireDue(t0.Add(time.Second)); n != 1 {
		t.Fatalf("%d ended, want 1", n)
	}
	for name, want := range map[string]int{"short": 0, "renewed": 1, "forever": 1} {
		if got := len(x.Get(m(name).Key()).Records); got != want {
			t.Errorf("%s: %d records, want %d", name, got, want)
		}
	}
	if types := x.Types("short." + zone); len(types) != 0 {
		t.Errorf("ended name still has types %v", types)
	}
	if end := x.LeaseEnd(m("renewed").Key(), origin); !end.Equal(t0.Add(time.Hour)) {
		t.Errorf("lease end %v", end)
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"dhcp-key.":                   "tsig-dhcp-key",
		"DHCP.Key":                    "tsig-dhcp-key",
		"k1":                          "tsig-k1",
		"a+b":                         "tsig-a-b-",
		"x" + strings.Repeat("y", 80): "tsig-xyyyy",
	}
	for in, prefix := range cases {
		got := Origin("tsig", in)
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("Origin(%q) = %q, want prefix %q", in, got, prefix)
		}
		if err := events.CheckOrigin(got); err != nil {
			t.Errorf("Origin(%q) = %q: %v", in, got, err)
		}
	}
	if Origin("tsig", "a+b") == Origin("tsig", "a/b") {
		t.Error("lossy ids share an origin")
	}
}

// fastContent gives exactly the canonical content of the presentation form
// (slowContent), or declines.
func TestFastContent(t *testing.T) {
	for _, tc := range []struct {
		rr   string
		want string // "" when the fast path must decline
	}{
		{"h.example.test. 60 IN A 192.0.2.1", "192.0.2.1"},
		{"h.example.test. 60 IN A 10.0.0.255", "10.0.0.255"},
		{"h.example.test. 60 IN AAAA 2001:DB8:0:0::0001", "2001:db8::1"},
		{"h.example.test. 60 IN AAAA ::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"h.example.test. 60 IN AAAA ::", "::"},
		{"h.example.test. 60 IN AAAA fe80::1:2:3:4", "fe80::1:2:3:4"},
		{"h.example.test. 60 IN CNAME WWW.Example.TEST.", "www.example.test."},
		{"h.example.test. 60 IN NS ns1.example.test.", "ns1.example.test."},
		{"h.example.test. 60 IN PTR _x-y.example.test.", "_x-y.example.test."},
		{`h.example.test. 60 IN CNAME a\.b.example.test.`, ""},
		{`h.example.test. 60 IN CNAME a\032b.example.test.`, ""},
		{"h.example.test. 60 IN CNAME *.example.test.", ""},
		{"h.example.test. 60 IN MX 10 mx.example.test.", ""},
		{`h.example.test. 60 IN TXT "a"`, ""},
	} {
		for _, via := range []string{"parsed", "wire"} {
			r := rr(t, tc.rr)
			if via == "wire" {
				m := new(dns.Msg)
				m.SetUpdate(zone)
				m.Insert([]dns.RR{r})
				r = wire(t, m).Ns[0]
			}
			got, ok := fastContent(r)
			if tc.want == "" {
				if ok {
					t.Errorf("%s (%s): fast path took it: %q", tc.rr, via, got)
				}
				continue
			}
			slow, err := slowContent(dns.TypeToString[r.Header().Rrtype], r)
			if !ok || got != tc.want || slow != got || err != nil {
				t.Errorf("%s (%s): fast %q %v, slow %q %v, want %q", tc.rr, via, got, ok, slow, err, tc.want)
			}
		}
	}
	// Every A and AAAA a client can send (as unpacked: 16-byte net.IP).
	for _, ip := range []net.IP{net.IPv4(0, 0, 0, 0), net.IPv4(255, 255, 255, 255), net.IP{1, 2, 3, 4}} {
		r := &dns.A{Hdr: dns.RR_Header{Name: "h." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60, Rdlength: 4}, A: ip}
		fast, ok := fastContent(r)
		slow, err := slowContent("A", r)
		if !ok || err != nil || fast != slow {
			t.Errorf("A %v: fast %q %v, slow %q %v", ip, fast, ok, slow, err)
		}
	}
	// An A record holding an IPv6 address (only from a caller, never
	// unpacked) takes the slow path, which refuses it.
	r := &dns.A{Hdr: dns.RR_Header{Name: "h." + zone, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60, Rdlength: 4}, A: net.ParseIP("2001:db8::1")}
	if c, ok := fastContent(r); ok {
		t.Errorf("A with an IPv6 address: fast path took it: %q", c)
	}
}
