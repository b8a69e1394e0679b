package pdnsapi

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/rrset"
	"github.com/zonecast/zonecast/internal/testpdns"
)

// TestSignedContentAsPowerDNSReturnsIt: a presigned zone signed by
// internal/dnssec (with NSEC, NSEC3 unsalted and NSEC3 salted), its apex
// CDS and CDNSKEY and a delegation's DS, written through the API as the
// signer makes them, is returned by PowerDNS with every record equal to
// rrset.CanonicalContent of what was written, and PowerDNS's content is a
// fixed point of rrset.CanonicalContent: a reconciler comparing the two
// sees no drift.
func TestSignedContentAsPowerDNSReturnsIt(t *testing.T) {
	t.Parallel()
	s := testpdns.StartWith(t, "gsqlite3", "gsqlite3-dnssec=yes\ndomain-metadata-cache-ttl=0")
	c, _ := realClient(s)
	// The subtests run one after the other: pdnsutil and zone creation
	// write the database beside the client, and SQLite takes one writer.
	for name, tc := range map[string]struct {
		zone  string
		nsec3 *dnssec.NSEC3Params
	}{
		"nsec":         {zone: "nsec.test."},
		"nsec3":        {zone: "nsec3.test.", nsec3: &dnssec.NSEC3Params{Iterations: 0, Salt: ""}},
		"nsec3 salted": {zone: "salted.nsec3.test.", nsec3: &dnssec.NSEC3Params{Iterations: 1, Salt: "ab12"}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			createPresigned(t, ctx, c, s, tc.zone)
			written := signedZone(t, tc.zone, tc.nsec3)
			types := map[string]bool{}
			for _, set := range written {
				types[set.Type] = true
			}
			for _, typ := range []string{"SOA", "DNSKEY", "CDS", "CDNSKEY", "DS", "RRSIG", "NSEC3PARAM", "NSEC3"} {
				if !types[typ] && (tc.nsec3 != nil || !strings.HasPrefix(typ, "NSEC3")) {
					t.Fatalf("the signed zone has no %s RRset", typ)
				}
			}
			if tc.nsec3 == nil && !types["NSEC"] {
				t.Fatal("the signed zone has no NSEC RRset")
			}
			writeAndCompare(t, ctx, c, tc.zone, written)
		})
	}
	// Every type a signed zone may hold, in an NSEC and an NSEC3 bitmap and
	// covered by an RRSIG: PowerDNS names them as rrset does.
	t.Run("type names", func(t *testing.T) {
		ctx := context.Background()
		const zone = "types.test."
		createPresigned(t, ctx, c, s, zone)
		// PowerDNS refuses a bitmap not in type code order (it takes
		// other letter cases): it is written as CanonicalContent orders it.
		byCode, err := rrset.CanonicalContent("NSEC", zone+" "+strings.Join(rrset.SignedTypes, " "))
		if err != nil {
			t.Fatal(err)
		}
		all := strings.TrimPrefix(byCode, zone+" ")
		sig := " 13 2 300 20300101000000 20231114221320 12345 " + zone +
			" mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
		var sigs []string
		for _, typ := range rrset.SignedTypes {
			sigs = append(sigs, strings.ToLower(typ)+sig)
		}
		writeAndCompare(t, ctx, c, zone, []rrset.Set{
			{Key: rrset.Key{Name: "a." + zone, Type: "NSEC"}, TTL: 300, Records: []string{"b." + zone + " " + strings.ToLower(all)}},
			{Key: rrset.Key{Name: "a." + zone, Type: "RRSIG"}, TTL: 300, Records: sigs},
			{Key: rrset.Key{Name: "b." + zone, Type: "NSEC3"}, TTL: 300,
				Records: []string{"1 0 0 - abcdefghijklmnopqrstuv0123456789 " + all, "1 0 3 AB12CD 0123456789ABCDEFGHIJKLMNOPQRSTUV"}},
		})
	})
	// PowerDNS folds the case of hex and base32hex (above) but keeps that
	// of names as written: a writer must write canonical content, or a
	// comparison of PowerDNS's raw content with it sees drift. Zone
	// canonicalises what it reads, and so sees none.
	t.Run("name case kept", func(t *testing.T) {
		ctx := context.Background()
		const zone = "case.test."
		createPresigned(t, ctx, c, s, zone)
		written := "B.Case.Test. A RRSIG NSEC"
		key := rrset.Key{Name: "a." + zone, Type: "NSEC"}
		if err := c.Patch(ctx, zone, []Change{{Set: rrset.Set{Key: key, TTL: 300, Records: []string{written}}}}); err != nil {
			t.Fatal(err)
		}
		raw, err := c.pdns.Zones.Get(ctx, zone)
		if err != nil {
			t.Fatal(err)
		}
		var contents []string
		for _, rs := range raw.RRsets {
			if *rs.Name == key.Name && string(*rs.Type) == key.Type {
				for _, r := range rs.Records {
					contents = append(contents, *r.Content)
				}
			}
		}
		if !slices.Equal(contents, []string{written}) {
			t.Fatalf("PowerDNS returned %q, want %q as written", contents, written)
		}
		got, found, err := c.RRset(ctx, zone, key)
		if err != nil || !found || !slices.Equal(got.Records, []string{"b.case.test. A RRSIG NSEC"}) {
			t.Fatalf("RRset(%s) = %+v, %v, %v; want the canonical content", key, got, found, err)
		}
	})
}

// createPresigned creates zone and marks it presigned.
func createPresigned(t *testing.T, ctx context.Context, c *Client, s *testpdns.Server, zone string) {
	t.Helper()
	if err := c.CreateZone(ctx, ZoneSpec{Name: zone, SOA: soaSet(zone, 1), NS: []string{"ns1." + zone}}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("pdnsutil", "--config-dir="+s.Dir, "set-presigned", zone).CombinedOutput(); err != nil {
		t.Fatalf("pdnsutil set-presigned %s: %v\n%s", zone, err, out)
	}
}

// signedZone returns zone's RRsets as a signer publishes them: data,
// DNSKEY, CDS and CDNSKEY, a delegation with its DS, NSEC3PARAM (with
// NSEC3), the RRSIG RRsets and the NSEC or NSEC3 chain, in the signer's
// own content (which is not always the canonical one: DS digests in upper
// case, NSEC3 next hashes in lower case).
func signedZone(t *testing.T, zone string, nsec3 *dnssec.NSEC3Params) []rrset.Set {
	t.Helper()
	key := func(z string, ksk bool) dnssec.Key {
		k, err := dnssec.Generate(z, dnssec.ECDSAP256SHA256, ksk, 3600)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ksk, zsk, child := key(zone, true), key(zone, false), key("child."+zone, true)
	cds := &dns.CDS{DS: *ksk.DS()}
	cdnskey := &dns.CDNSKEY{DNSKEY: *ksk.DNSKEY}
	set := func(name, typ string, ttl uint32, records ...string) rrset.Set {
		return rrset.Set{Key: rrset.Key{Name: name, Type: typ}, TTL: ttl, Records: records}
	}
	sets := []rrset.Set{
		soaSet(zone, 2),
		set(zone, "NS", 3600, "ns1."+zone),
		set("ns1."+zone, "A", 3600, "192.0.2.53"),
		set("www."+zone, "AAAA", 60, "2001:db8::1"),
		set("*.wild."+zone, "TXT", 60, `"any"`),
		set(zone, "MX", 60, "10 mail."+zone),
		set(zone, "CDS", 3600, dnssec.Content(cds)),
		set(zone, "CDNSKEY", 3600, dnssec.Content(cdnskey)),
		set("child."+zone, "NS", 3600, "ns.child.example."),
		set("child."+zone, "DS", 3600, dnssec.Content(child.DS())),
	}
	z := dnssec.NewZone(zone, ksk, zsk, 3600, nsec3) // the SOA minimum
	sets = append(sets, z.DNSKEY(3600))
	if nsec3 != nil {
		sets = append(sets, dnssec.NSEC3PARAM(zone, *nsec3, 3600))
	}
	now := time.Now()
	ch, err := z.Apply(sets, dnssec.Window{Inception: now.Add(-time.Hour), Expiration: now.Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Deletes) > 0 {
		t.Fatalf("a new zone's signing deletes %v", ch.Deletes)
	}
	return ch.Upserts
}

// writeAndCompare PATCHes sets into zone, reads the zone back (raw, as
// PowerDNS returns it, and through Zone) and checks that every record
// written comes back as its canonical content, and that PowerDNS's
// content is canonical already.
func writeAndCompare(t *testing.T, ctx context.Context, c *Client, zone string, sets []rrset.Set) {
	t.Helper()
	changes := make([]Change, 0, len(sets))
	for _, set := range sets {
		changes = append(changes, Change{Set: set})
	}
	rejected, err := c.Apply(ctx, zone, changes, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rejected {
		t.Errorf("PowerDNS refused %s %q: %s", r.Change.Set.Key, r.Change.Set.Records, r.Reason)
	}
	raw, err := c.pdns.Zones.Get(ctx, zone)
	if err != nil {
		t.Fatal(err)
	}
	returned := map[rrset.Key][]string{}
	for _, rs := range raw.RRsets {
		k := rrset.Key{Name: *rs.Name, Type: string(*rs.Type)}
		for _, r := range rs.Records {
			content := *r.Content
			returned[k] = append(returned[k], content)
			canon, err := rrset.CanonicalContent(k.Type, content)
			if err != nil {
				t.Errorf("%s: PowerDNS's content %q refused: %v", k, content, err)
			} else if canon != content {
				t.Errorf("%s: PowerDNS's content %q is not canonical: %q", k, content, canon)
			}
		}
	}
	read, found, err := c.Zone(ctx, zone)
	if err != nil || !found {
		t.Fatalf("Zone(%s) = found %v, %v", zone, found, err)
	}
	byKey := map[rrset.Key]rrset.Set{}
	for _, s := range read {
		byKey[s.Key] = s
	}
	for _, set := range sets {
		want := rrset.Set{Key: set.Key, TTL: set.TTL}
		for _, r := range set.Records {
			canon, err := rrset.CanonicalContent(set.Type, r)
			if err != nil {
				t.Errorf("%s: written content %q refused: %v", set.Key, r, err)
				continue
			}
			want.Records = append(want.Records, canon)
		}
		want = rrset.Normalize(want)
		got := slices.Sorted(slices.Values(returned[set.Key]))
		if !slices.Equal(got, want.Records) {
			t.Errorf("%s: PowerDNS returned\n%q\nwant the canonical content of what was written\n%q\n(written %q)",
				set.Key, got, want.Records, set.Records)
		}
		if s := byKey[set.Key]; !s.Equal(want) {
			t.Errorf("%s: Zone read %+v, want %+v", set.Key, s, want)
		}
	}
}
