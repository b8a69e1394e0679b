package dnssec

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/rrset"
)

const zone = "example.org."

var window = Window{Inception: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Expiration: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	set := rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "AAAA"}, TTL: 300,
		Records: []string{"2001:db8::1", "2001:db8::2"}}
	for name, alg := range map[string]uint8{"ECDSAP256SHA256": ECDSAP256SHA256, "ED25519": ED25519} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			key, err := Generate(zone, alg, false, 3600)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := Sign(set, key, window)
			if err != nil {
				t.Fatal(err)
			}
			mid := window.Inception.Add(24 * time.Hour)
			if err := Verify(set, sig, key, mid); err != nil {
				t.Fatalf("a fresh signature does not verify: %v", err)
			}
			if err := Verify(set, sig, key, window.Expiration.Add(time.Hour)); err == nil {
				t.Error("an expired signature verifies")
			}
			changed := set
			changed.Records = []string{"2001:db8::1"}
			if err := Verify(changed, sig, key, mid); err == nil {
				t.Error("a signature verifies over other records")
			}
			other, err := Generate(zone, alg, false, 3600)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(set, sig, other, mid); err == nil {
				t.Error("a signature verifies with another key")
			}
			// Covered type, algorithm, labels, original TTL: what PowerDNS's
			// API takes as an RRSIG record's content.
			if c, want := Content(sig), fmt.Sprintf("AAAA %d 3 300 ", alg); !strings.HasPrefix(c, want) {
				t.Errorf("RRSIG content %q, want it to start with %q", c, want)
			}
		})
	}
}

func TestBINDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []uint8{ECDSAP256SHA256, ED25519} {
		key, err := Generate(zone, alg, true, 3600)
		if err != nil {
			t.Fatal(err)
		}
		if !key.KSK() || key.DNSKEY.Flags != 257 {
			t.Fatalf("a KSK has flags %d", key.DNSKEY.Flags)
		}
		back, err := ParseBIND(strings.NewReader(key.PublicText()), strings.NewReader(key.PrivateText()), key.BaseName())
		if err != nil {
			t.Fatalf("%s: %v", dns.AlgorithmToString[alg], err)
		}
		if back.Tag() != key.Tag() || !back.KSK() {
			t.Fatalf("read back tag %d KSK %v, want %d true", back.Tag(), back.KSK(), key.Tag())
		}
		set := rrset.Set{Key: rrset.Key{Name: zone, Type: "TXT"}, TTL: 60, Records: []string{`"hello"`}}
		sig, err := Sign(set, back, window)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(set, sig, key, window.Inception.Add(time.Hour)); err != nil {
			t.Fatalf("a signature by the key read back does not verify with the original: %v", err)
		}
		if ds := key.DS(); ds == nil || ds.KeyTag != key.Tag() || ds.DigestType != dns.SHA256 {
			t.Fatalf("DS %v", ds)
		}
		if want := "K" + zone + "+"; !strings.HasPrefix(key.BaseName(), want) {
			t.Errorf("base name %s", key.BaseName())
		}
	}
	if _, err := ParseBIND(strings.NewReader("example.org. 3600 IN A 192.0.2.1\n"), strings.NewReader(""), "Kbad"); err == nil {
		t.Error("an A record was taken for a key")
	}
	if _, err := ParseAlgorithm("RSASHA1"); err == nil {
		t.Error("RSASHA1 accepted")
	}
}

func TestCanonicalOrder(t *testing.T) {
	t.Parallel()
	// RFC 4034, section 6.1's example, shuffled.
	want := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.",
		"z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example."}
	got := slices.Clone(want)
	slices.Reverse(got)
	got[0], got[4] = got[4], got[0]
	slices.SortFunc(got, Compare)
	// The escaped labels are compared as written here; the plain ones
	// are the RFC's order.
	plain := func(s []string) []string {
		return slices.DeleteFunc(slices.Clone(s), func(n string) bool { return strings.Contains(n, "\\") || strings.HasPrefix(n, "*") })
	}
	if !slices.Equal(plain(got), plain(want)) {
		t.Fatalf("canonical order:\n got %v\nwant %v", plain(got), plain(want))
	}
}

func TestNSECChain(t *testing.T) {
	t.Parallel()
	owners := []Owner{
		{Name: "www." + zone, Types: []string{"AAAA", "A"}},
		{Name: zone, Types: []string{"SOA", "NS", "DNSKEY"}},
		{Name: "sub." + zone, Types: []string{"NS"}},
		{Name: "glue.sub." + zone, Types: []string{"A"}},
		{Name: "a." + zone, Types: []string{"TXT"}},
	}
	chain := NSECChain(zone, owners, 60)
	var names []string
	for _, s := range chain {
		names = append(names, s.Name)
	}
	if want := []string{zone, "a." + zone, "sub." + zone, "www." + zone}; !slices.Equal(names, want) {
		t.Fatalf("NSEC owners %v, want %v (glue below the cut left out)", names, want)
	}
	if got := chain[len(chain)-1].Records[0]; !strings.HasPrefix(got, zone+" ") || !strings.Contains(got, "A AAAA RRSIG NSEC") {
		t.Errorf("last NSEC %q: want the apex as next and A AAAA RRSIG NSEC", got)
	}
	if got := chain[0].Records[0]; !strings.HasPrefix(got, "a."+zone+" ") || !strings.Contains(got, "NS SOA RRSIG NSEC DNSKEY") {
		t.Errorf("apex NSEC %q", got)
	}
	key, err := Generate(zone, ECDSAP256SHA256, false, 3600)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range chain {
		sig, err := Sign(set, key, window)
		if err != nil {
			t.Fatalf("signing %s: %v", set.Key, err)
		}
		if err := Verify(set, sig, key, window.Inception.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
}
