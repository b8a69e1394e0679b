package pdnsapi

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestPresignedZoneValidates: a presigned zone fed through the API, data,
// RRSIG RRsets, NSEC records and DNSKEY in PATCHes of the usual kind (the
// apex's NSEC among them), is served signed: an AXFR of it passes BIND's
// dnssec-verify, and so it does after a new name and after a name gone.
// PowerDNS's AXFR of a presigned zone adds NSEC records of its own with
// the SOA minimum as TTL: the signer's NSEC TTL must be the SOA minimum
// (as RFC 4034 says), or the two disagree and the transfer fails
// validation.
func TestPresignedZoneValidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := testpdns.StartWith(t, "gsqlite3", "gsqlite3-dnssec=yes\ndomain-metadata-cache-ttl=0")
	c, _ := realClient(s)
	const zone = "signed.test."
	soa := soaSet(zone, 1)
	ns := rrset.Set{Key: rrset.Key{Name: zone, Type: "NS"}, TTL: 3600, Records: []string{"ns1." + zone}}
	if err := c.CreateZone(ctx, ZoneSpec{Name: zone, SOA: soa, NS: ns.Records}); err != nil {
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
	w := dnssec.Window{Inception: now.Add(-time.Hour), Expiration: now.Add(7 * 24 * time.Hour)}
	z := dnssec.NewZone(zone, ksk, zsk, 3600, nil) // the SOA minimum
	apply := func(step string, sets ...rrset.Set) {
		t.Helper()
		ch, err := z.Apply(sets, w)
		if err != nil {
			t.Fatal(err)
		}
		var changes []Change
		for _, u := range ch.Upserts {
			changes = append(changes, Change{Set: u})
		}
		for _, k := range ch.Deletes {
			changes = append(changes, Change{Set: rrset.Set{Key: k, TTL: 60}, Delete: true})
		}
		rejected, err := c.Apply(ctx, zone, changes, nil)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		for _, r := range rejected {
			t.Errorf("%s: PowerDNS refused %s: %s", step, r.Change.Set.Key, r.Reason)
		}
		axfr := s.AXFR(t, zone)
		file := filepath.Join(t.TempDir(), "axfr.db")
		if err := os.WriteFile(file, []byte(axfr), 0o600); err != nil {
			t.Fatal(err)
		}
		verify, err := exec.LookPath("dnssec-verify")
		if err != nil {
			t.Fatalf("dnssec-verify not found (scripts/deps.sh dnssec): %v", err)
		}
		if out, err := exec.Command(verify, "-o", zone, file).CombinedOutput(); err != nil {
			t.Fatalf("%s: dnssec-verify refused the AXFR: %v\n%s\n%s", step, err, out, axfr)
		}
	}
	www := rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "AAAA"}, TTL: 60, Records: []string{"2001:db8::1"}}
	apply("initial", soaSet(zone, 2), ns, www, z.DNSKEY(3600),
		rrset.Set{Key: rrset.Key{Name: "ns1." + zone, Type: "A"}, TTL: 3600, Records: []string{"192.0.2.53"}})
	if got := s.Dig(t, "www."+zone, "AAAA"); len(got) != 1 || !strings.Contains(got[0], "2001:db8::1") {
		t.Fatalf("dig www AAAA = %v", got)
	}
	apply("a new name and a changed SOA", soaSet(zone, 3),
		rrset.Set{Key: rrset.Key{Name: "a." + zone, Type: "TXT"}, TTL: 60, Records: []string{`"first in the chain"`}})
	apply("a name gone", soaSet(zone, 4), rrset.Set{Key: www.Key})
}
