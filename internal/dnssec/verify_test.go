package dnssec

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

// tool returns the path of a program of bind9-utils (scripts/deps.sh
// dnssec installs it; make test does).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (scripts/deps.sh dnssec installs bind9-utils): %v", name, err)
	}
	return p
}

// signedZone returns zone's text, signed with ksk and zsk: every
// authoritative RRset with its RRSIG, the DNSKEY RRset by the KSK, and the
// NSEC chain. Delegations (but their DS), what they hide and glue are not
// signed.
func signedZone(t *testing.T, sets []rrset.Set, ksk, zsk Key, w Window) string {
	t.Helper()
	keys := rrset.Set{Key: rrset.Key{Name: zone, Type: "DNSKEY"}, TTL: 3600,
		Records: []string{Content(ksk.DNSKEY), Content(zsk.DNSKEY)}}
	sets = append(sets, keys)
	byName := map[string][]string{}
	var order []string
	for _, s := range sets {
		if _, ok := byName[s.Name]; !ok {
			order = append(order, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s.Type)
	}
	var owners []Owner
	for _, n := range order {
		owners = append(owners, Owner{Name: n, Types: byName[n]})
	}
	auth := map[string]bool{}
	for _, o := range Authoritative(zone, owners) {
		auth[o.Name] = true
	}
	all := append(sets, NSECChain(zone, owners, 60)...)
	var b strings.Builder
	for _, s := range all {
		rrs, err := RRs(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, rr := range rrs {
			fmt.Fprintln(&b, rr.String())
		}
		delegation := IsCut(zone, Owner{Name: s.Name, Types: byName[s.Name]}) && s.Type != "DS" && s.Type != "NSEC"
		if !auth[s.Name] || delegation {
			continue
		}
		key := zsk
		if s.Type == "DNSKEY" {
			key = ksk
		}
		sig, err := Sign(s, key, w)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, sig.String())
	}
	return b.String()
}

// keyPair makes a KSK and a ZSK of alg for zone.
func keyPair(t testing.TB, alg uint8) (ksk, zsk Key) {
	t.Helper()
	var err error
	if ksk, err = Generate(zone, alg, true, 3600); err != nil {
		t.Fatal(err)
	}
	if zsk, err = Generate(zone, alg, false, 3600); err != nil {
		t.Fatal(err)
	}
	return ksk, zsk
}

func testSets() []rrset.Set {
	return []rrset.Set{
		{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 3600, Records: []string{"ns1." + zone + " hostmaster." + zone + " 7 10800 3600 604800 60"}},
		{Key: rrset.Key{Name: zone, Type: "NS"}, TTL: 3600, Records: []string{"ns1." + zone}},
		{Key: rrset.Key{Name: "ns1." + zone, Type: "A"}, TTL: 3600, Records: []string{"192.0.2.53"}},
		{Key: rrset.Key{Name: "www." + zone, Type: "AAAA"}, TTL: 300, Records: []string{"2001:db8::1", "2001:db8::2"}},
		{Key: rrset.Key{Name: "www." + zone, Type: "A"}, TTL: 300, Records: []string{"192.0.2.1"}},
		{Key: rrset.Key{Name: "sub." + zone, Type: "NS"}, TTL: 3600, Records: []string{"ns.sub." + zone}},
		{Key: rrset.Key{Name: "ns.sub." + zone, Type: "A"}, TTL: 3600, Records: []string{"192.0.2.54"}},
		// Data beside a delegation is hidden by it: neither signed nor in
		// the NSEC bitmap.
		{Key: rrset.Key{Name: "sub." + zone, Type: "AAAA"}, TTL: 3600, Records: []string{"2001:db8::54"}},
		{Key: rrset.Key{Name: "deep.name." + zone, Type: "TXT"}, TTL: 60, Records: []string{`"an empty non-terminal above"`}},
	}
}

func verify(t *testing.T, text string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "zone.db")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool(t, "dnssec-verify"), "-o", zone, file).CombinedOutput()
	return string(out), err
}

// TestDNSSECVerify: BIND's dnssec-verify accepts a zone signed here, with
// either algorithm, and refuses it once a signed record changes.
func TestDNSSECVerify(t *testing.T) {
	t.Parallel()
	now := time.Now()
	w := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(30 * 24 * time.Hour)}
	for name, alg := range map[string]uint8{"ECDSAP256SHA256": ECDSAP256SHA256, "ED25519": ED25519} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ksk, zsk := keyPair(t, alg)
			text := signedZone(t, testSets(), ksk, zsk, w)
			if out, err := verify(t, text); err != nil {
				t.Fatalf("dnssec-verify refused the signed zone: %v\n%s\n%s", err, out, text)
			}
			bad := strings.Replace(text, "192.0.2.1", "192.0.2.99", 1)
			if out, err := verify(t, bad); err == nil {
				t.Fatalf("dnssec-verify accepted a record changed after signing:\n%s", out)
			}
		})
	}
}

// TestImportsDNSSECKeygen: a key made by BIND's dnssec-keygen is read from
// its K*.key and K*.private files and signs a zone dnssec-verify accepts.
func TestImportsDNSSECKeygen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gen := func(args ...string) Key {
		out, err := exec.Command(tool(t, "dnssec-keygen"), append([]string{"-K", dir, "-a", "ECDSAP256SHA256"}, append(args, zone)...)...).Output()
		if err != nil {
			t.Fatalf("dnssec-keygen %v: %v", args, err)
		}
		base := filepath.Join(dir, strings.TrimSpace(string(out)))
		pub, err := os.Open(base + ".key")
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		priv, err := os.Open(base + ".private")
		if err != nil {
			t.Fatal(err)
		}
		defer priv.Close()
		k, err := ParseBIND(pub, priv, base)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ksk, zsk := gen("-f", "KSK"), gen()
	if !ksk.KSK() || zsk.KSK() {
		t.Fatalf("KSK flag: ksk %v, zsk %v", ksk.KSK(), zsk.KSK())
	}
	now := time.Now()
	text := signedZone(t, testSets(), ksk, zsk, Window{Inception: now.Add(-time.Hour), Expiration: now.Add(24 * time.Hour)})
	if out, err := verify(t, text); err != nil {
		t.Fatalf("dnssec-verify refused a zone signed with dnssec-keygen's keys: %v\n%s", err, out)
	}
}
