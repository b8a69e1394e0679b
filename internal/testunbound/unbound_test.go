package testunbound

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testpdns"
)

const soaMinimum = 3600 // also the NSEC TTL: PowerDNS's AXFR uses it

func soaSet(zone string, serial uint32) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 3600,
		Records: []string{fmt.Sprintf("ns1.%s hostmaster.%s %d 10800 3600 604800 %d", zone, zone, serial, soaMinimum)}}
}

// signedZone is a presigned zone in a real pdns_server, fed through the
// API the way the syncer feeds it.
type signedZone struct {
	s    *testpdns.Server
	c    *pdnsapi.Client
	z    *dnssec.Zone
	name string
	ksk  dnssec.Key
	w    dnssec.Window
}

func newSignedZone(t *testing.T, zone, backend string) *signedZone {
	t.Helper()
	ctx := context.Background()
	extra := "gsqlite3-dnssec=yes\ndomain-metadata-cache-ttl=0"
	if backend == "lmdb" {
		extra = "domain-metadata-cache-ttl=0"
	}
	s := testpdns.StartWith(t, backend, extra)
	c := pdnsapi.New(s.APIURL, s.APIKey, "localhost", 30*time.Second)
	if err := c.CreateZone(ctx, pdnsapi.ZoneSpec{Name: zone, SOA: soaSet(zone, 1), NS: []string{"ns1." + zone}}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("pdnsutil", "--config-dir="+s.Dir, "set-presigned", zone).CombinedOutput(); err != nil {
		t.Fatalf("pdnsutil set-presigned: %v\n%s", err, out)
	}
	ksk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, true, 3600)
	if err != nil {
		t.Fatal(err)
	}
	zsk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, false, 3600)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sz := &signedZone{s: s, c: c, name: zone, ksk: ksk,
		z: dnssec.NewZone(zone, ksk, zsk, soaMinimum, nil),
		w: dnssec.Window{Inception: now.Add(-time.Hour), Expiration: now.Add(7 * 24 * time.Hour)}}
	sz.apply(t, "initial", soaSet(zone, 2), sz.z.DNSKEY(3600),
		rrset.Set{Key: rrset.Key{Name: zone, Type: "NS"}, TTL: 3600, Records: []string{"ns1." + zone}},
		rrset.Set{Key: rrset.Key{Name: "ns1." + zone, Type: "A"}, TTL: 3600, Records: []string{"192.0.2.53"}},
		rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "AAAA"}, TTL: 60, Records: []string{"2001:db8::1"}})
	return sz
}

// apply signs sets and PATCHes the changes into PowerDNS.
func (sz *signedZone) apply(t *testing.T, step string, sets ...rrset.Set) {
	t.Helper()
	ch, err := sz.z.Apply(sets, sz.w)
	if err != nil {
		t.Fatal(err)
	}
	var changes []pdnsapi.Change
	for _, u := range ch.Upserts {
		changes = append(changes, pdnsapi.Change{Set: u})
	}
	for _, k := range ch.Deletes {
		changes = append(changes, pdnsapi.Change{Set: rrset.Set{Key: k, TTL: 60}, Delete: true})
	}
	rejected, err := sz.c.Apply(context.Background(), sz.name, changes, nil)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	for _, r := range rejected {
		t.Errorf("%s: PowerDNS refused %s: %s", step, r.Change.Set.Key, r.Reason)
	}
}

func hasType(rrs []dns.RR, typ uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == typ {
			return true
		}
	}
	return false
}

func rrText(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestValidatesPresignedZone: unbound, with the KSK's DS as its only trust
// anchor, validates what PowerDNS serves from a zone signed by
// internal/dnssec: data, NXDOMAIN and NODATA come back with AD, and each
// query reaches PowerDNS (a change shows at once). An anchor for another
// key makes the zone bogus: SERVFAIL.
//
// gsqlite3 does not serve the stored NSEC records in a denial: PowerDNS
// 4.7 builds the NSEC from the records' ordername column, which nothing
// fills for a presigned zone fed through the API (the API does not
// rectify presigned zones, API-RECTIFY=1 included, and pdnsutil
// rectify-zone refuses them). With every ordername empty it answers
// "APEX NSEC APEX <apex types>" beside the stored RRSIG of the real apex
// NSEC, which fails validation. lmdb keeps its own order and serves the
// stored chain. The gsqlite3 case pins that: SERVFAIL on every denial.
func TestValidatesPresignedZone(t *testing.T) {
	t.Parallel()
	for _, backend := range testpdns.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testValidates(t, backend, backend == "lmdb")
		})
	}
}

func testValidates(t *testing.T, backend string, denialWorks bool) {
	const zone = "signed.test."
	sz := newSignedZone(t, zone, backend)
	anchors := []string{sz.ksk.DS().String()}
	start := time.Now()
	r := Start(t, Config{Zone: zone, Stub: sz.s.DNSAddr, Anchors: anchors})
	t.Logf("unbound ready in %s", time.Since(start).Round(time.Millisecond))

	tests := []struct {
		name, qname, qtype string
		rcode              int
		answer             bool // an answer of qtype expected
		denial             bool // NSEC and RRSIG expected in the authority section
	}{
		{"existing name", "www." + zone, "AAAA", dns.RcodeSuccess, true, false},
		{"apex DNSKEY", zone, "DNSKEY", dns.RcodeSuccess, true, false},
		{"missing name", "nope." + zone, "A", dns.RcodeNameError, false, true},
		{"missing name after the last", "zzz." + zone, "A", dns.RcodeNameError, false, true},
		{"missing type", "www." + zone, "TXT", dns.RcodeSuccess, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			a := r.Query(t, tt.qname, tt.qtype)
			t.Logf("%s %s: %s AD=%v in %s", tt.qname, tt.qtype, a.Status(), a.AD, time.Since(start).Round(time.Microsecond))
			if tt.denial && !denialWorks {
				if a.Rcode != dns.RcodeServerFailure || a.AD {
					t.Errorf("%s %s = %s AD=%v: %s now validates a denial, update the comment of TestValidatesPresignedZone",
						tt.qname, tt.qtype, a.Status(), a.AD, backend)
				}
				return
			}
			if a.Rcode != tt.rcode || !a.AD {
				t.Fatalf("%s %s = %s AD=%v, want %s AD=true\nanswer:\n%sauthority:\n%s%s", tt.qname, tt.qtype,
					a.Status(), a.AD, dns.RcodeToString[tt.rcode], rrText(a.Answer), rrText(a.Authority), r.LogTail(10))
			}
			if got := hasType(a.Answer, dns.StringToType[tt.qtype]); got != tt.answer {
				t.Errorf("answer has %s = %v, want %v:\n%s", tt.qtype, got, tt.answer, rrText(a.Answer))
			}
			if tt.denial && (!hasType(a.Authority, dns.TypeNSEC) || !hasType(a.Authority, dns.TypeRRSIG)) {
				t.Errorf("no signed NSEC in the authority section:\n%s", rrText(a.Authority))
			}
		})
	}

	t.Run("delv", func(t *testing.T) {
		start := time.Now()
		ok, out := Delv(t, sz.s.DNSAddr, zone, anchors, "www."+zone, "AAAA")
		t.Logf("delv in %s", time.Since(start).Round(time.Millisecond))
		if !ok {
			t.Errorf("delv did not fully validate www AAAA:\n%s", out)
		}
	})

	t.Run("no cache", func(t *testing.T) {
		sz.apply(t, "www changed, nope added", soaSet(zone, 3),
			rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "AAAA"}, TTL: 60, Records: []string{"2001:db8::2"}},
			rrset.Set{Key: rrset.Key{Name: "nope." + zone, Type: "A"}, TTL: 60, Records: []string{"192.0.2.1"}})
		if a := r.Query(t, "www."+zone, "AAAA"); !a.AD || !strings.Contains(rrText(a.Answer), "2001:db8::2") {
			t.Errorf("www AAAA after the change = %s AD=%v:\n%s", a.Status(), a.AD, rrText(a.Answer))
		}
		if a := r.Query(t, "nope."+zone, "A"); a.Rcode != dns.RcodeSuccess || !a.AD || !hasType(a.Answer, dns.TypeA) {
			t.Errorf("nope A after it was added = %s AD=%v:\n%s", a.Status(), a.AD, rrText(a.Answer))
		}
		sz.apply(t, "nope gone", soaSet(zone, 4), rrset.Set{Key: rrset.Key{Name: "nope." + zone, Type: "A"}})
		want := dns.RcodeNameError
		if !denialWorks {
			want = dns.RcodeServerFailure
		}
		if a := r.Query(t, "nope."+zone, "A"); a.Rcode != want {
			t.Errorf("nope A after it was removed = %s AD=%v, want %s", a.Status(), a.AD, dns.RcodeToString[want])
		}
	})

	t.Run("anchor for another key", func(t *testing.T) {
		other, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, true, 3600)
		if err != nil {
			t.Fatal(err)
		}
		wrong := []string{other.DS().String()}
		bad := Start(t, Config{Zone: zone, Stub: sz.s.DNSAddr, Anchors: wrong})
		if a := bad.Query(t, "www."+zone, "AAAA"); a.Rcode != dns.RcodeServerFailure || a.AD {
			t.Errorf("www AAAA with a wrong anchor = %s AD=%v, want SERVFAIL", a.Status(), a.AD)
		}
		if ok, out := Delv(t, sz.s.DNSAddr, zone, wrong, "www."+zone, "AAAA"); ok {
			t.Errorf("delv fully validated with a wrong anchor:\n%s", out)
		}
	})
}

func TestConfigRejects(t *testing.T) {
	t.Parallel()
	ds := "signed.test. 3600 IN DS 1 13 2 " + strings.Repeat("ab", 32)
	tests := map[string]Config{
		"no zone":        {Stub: "127.0.0.1:5300", Anchors: []string{ds}},
		"stub not IP":    {Zone: "signed.test.", Stub: "localhost:5300", Anchors: []string{ds}},
		"stub no port":   {Zone: "signed.test.", Stub: "127.0.0.1", Anchors: []string{ds}},
		"no anchors":     {Zone: "signed.test.", Stub: "127.0.0.1:5300"},
		"anchor not DS":  {Zone: "signed.test.", Stub: "127.0.0.1:5300", Anchors: []string{"signed.test. 60 IN A 192.0.2.1"}},
		"anchor garbage": {Zone: "signed.test.", Stub: "127.0.0.1:5300", Anchors: []string{"not a record"}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := conf(cfg, 5353, "/tmp"); err == nil {
				t.Errorf("conf(%+v) accepted", cfg)
			}
		})
	}
	if _, err := conf(Config{Zone: "signed.test", Stub: "127.0.0.1:5300", Anchors: []string{ds}}, 5353, "/tmp"); err != nil {
		t.Errorf("a good config refused: %v", err)
	}
}
