package dnssec

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/rrset"
)

// TestCompareWithoutEscapes: the allocation-free Compare orders names as
// the label-splitting one does (compareEscaped), case folded.
func TestCompareWithoutEscapes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	labels := []string{"a", "A", "ab", "b", "z", "-", "0", "9a", "aa", "xn--d1a", "Zz", "*"}
	name := func() string {
		var parts []string
		for range r.IntN(4) {
			parts = append(parts, labels[r.IntN(len(labels))])
		}
		return strings.Join(append(parts, "example", "org", ""), ".")
	}
	sign := func(c int) int { return min(max(c, -1), 1) }
	for range 20000 {
		a, b := name(), name()
		if got, want := sign(Compare(a, b)), sign(compareEscaped(a, b)); got != want {
			t.Fatalf("Compare(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"example.org.", "a.example.org.", -1},
		{"example.org", "example.org.", 0},
		{"Z.example.org.", "a.b.example.org.", 1},
		{".", "org.", -1},
		{`a\.b.example.org.`, "a.example.org.", 1},
	} {
		if got := sign(Compare(c.a, c.b)); got != c.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Compare("www.Sub.example.org.", "www.sub.example.org.") }); n != 0 {
		t.Errorf("Compare allocates %.0f times per call", n)
	}
}

// TestChainInPlace: a large zone changed name by name keeps the chain that
// a rebuild would make, through adds, deletions, types that come and go,
// names below delegations (glue) and delegations that come and go; the
// served zone passes dnssec-verify at the end.
func TestChainInPlace(t *testing.T) {
	t.Parallel()
	now := time.Now()
	w := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(14 * 24 * time.Hour)}
	ksk, zsk := keyPair(t, ECDSAP256SHA256)
	z := NewZone(zone, ksk, zsk, 60, nil)
	s := served{}
	apply := func(step string, sets ...rrset.Set) {
		t.Helper()
		ch, err := z.Apply(sets, w)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		s.take(ch)
	}
	aaaa := func(name string, i int) rrset.Set {
		return rrset.Set{Key: rrset.Key{Name: name, Type: "AAAA"}, TTL: 60, Records: []string{fmt.Sprintf("2001:db8::%x", i+1)}}
	}
	initial := append(testSets(), z.DNSKEY(3600))
	for i := range 300 {
		initial = append(initial, aaaa(fmt.Sprintf("h%03d.%s", i*2, zone), i))
	}
	apply("initial", initial...)
	if !z.relinks(1, false) {
		t.Fatal("a change of one name in a zone of 300 names rebuilds the chain")
	}

	r := rand.New(rand.NewPCG(3, 4))
	// Glue below the delegations, and data at them, which they hide.
	names := []string{"ns.sub." + zone, "ns.deleg." + zone, "a.ns.deleg." + zone, "a.b.c." + zone, "b.c." + zone, zone,
		"sub." + zone, "deleg." + zone}
	for i := range 200 {
		names = append(names, fmt.Sprintf("h%03d.%s", i*3, zone), fmt.Sprintf("x.h%03d.%s", i*5, zone))
	}
	for step := range 150 {
		var sets []rrset.Set
		for range 1 + r.IntN(4) {
			n := names[r.IntN(len(names))]
			switch r.IntN(5) {
			case 0, 1:
				sets = append(sets, aaaa(n, step))
			case 2:
				sets = append(sets, del(n, "AAAA"))
			case 3:
				sets = append(sets, rrset.Set{Key: rrset.Key{Name: n, Type: "TXT"}, TTL: 60, Records: []string{fmt.Sprintf(`"%d"`, step)}})
			default:
				sets = append(sets, del(n, "TXT"))
			}
		}
		if step%40 == 20 { // a delegation comes or goes: the chain is rebuilt
			ns := rrset.Set{Key: rrset.Key{Name: "deleg." + zone, Type: "NS"}, TTL: 3600, Records: []string{"ns1." + zone}}
			if step%80 == 60 {
				ns.Records = nil
			}
			sets = append(sets, ns)
		}
		sets = slices.CompactFunc(sets, func(a, b rrset.Set) bool { return a.Key == b.Key })
		apply(fmt.Sprintf("step %d", step), sets...)
		checkChain(t, fmt.Sprintf("step %d", step), z, s)
	}
	mustVerify(t, "after the steps", s)
}

// checkChain compares the zone's and the served NSEC records with the
// chain built from scratch.
func checkChain(t *testing.T, step string, z *Zone, s served) {
	t.Helper()
	var owners []Owner
	for n, ts := range z.types {
		owners = append(owners, Owner{Name: n, Types: ts})
	}
	want := map[string]string{}
	for _, set := range NSECChain(zone, owners, 60) {
		want[set.Name] = set.Records[0]
	}
	got, servedNSEC := map[string]string{}, map[string]string{}
	for n, set := range z.denial {
		got[n] = set.Records[0]
	}
	for k, set := range s {
		if k.Type == "NSEC" {
			servedNSEC[k.Name] = set.Records[0]
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("%s: the zone's chain differs from a rebuilt one:\n got %v\nwant %v", step, got, want)
	}
	if !maps.Equal(servedNSEC, want) {
		t.Fatalf("%s: the served chain differs from a rebuilt one:\n got %v\nwant %v", step, servedNSEC, want)
	}
	for _, o := range Authoritative(zone, owners) {
		if !z.auth[o.Name] {
			t.Fatalf("%s: %s is not marked authoritative", step, o.Name)
		}
	}
	if len(z.auth) != len(want) || len(z.order) != len(want) {
		t.Fatalf("%s: %d authoritative names and %d in order, want %d", step, len(z.auth), len(z.order), len(want))
	}
	if n := len(z.sigs); n == 0 {
		t.Fatalf("%s: no signatures", step)
	}
}

// BenchmarkNewNameIn20k: one new name into a signed zone of 20,000 names,
// the chain changed in place (relink).
func BenchmarkNewNameIn20k(b *testing.B) {
	now := time.Now()
	w := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(14 * 24 * time.Hour)}
	ksk, zsk := keyPair(b, ECDSAP256SHA256)
	z := NewZone(zone, ksk, zsk, 60, nil)
	sets := append(testSets(), z.DNSKEY(3600))
	for i := range 20000 {
		sets = append(sets, rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("h%05d.%s", i*2, zone), Type: "AAAA"}, TTL: 60,
			Records: []string{"2001:db8::1"}})
	}
	if _, err := z.Apply(sets, w); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		set := rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("n%07d.h%05d.%s", i, (i%20000)*2, zone), Type: "AAAA"}, TTL: 60,
			Records: []string{"2001:db8::2"}}
		if _, err := z.Apply([]rrset.Set{set}, w); err != nil {
			b.Fatal(err)
		}
	}
}
