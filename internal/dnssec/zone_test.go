package dnssec

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/rrset"
)

// served is what a nameserver would hold after the published changes.
type served map[rrset.Key]rrset.Set

func (s served) take(ch Change) {
	for _, k := range ch.Deletes {
		delete(s, k)
	}
	for _, set := range ch.Upserts {
		s[set.Key] = set
	}
}

// text renders the served RRsets as a zone file (RRSIG RRsets record by
// record, as they are served).
func (s served) text(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, set := range s {
		for _, c := range set.Records {
			rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", set.Name, set.TTL, set.Type, c))
			if err != nil {
				t.Fatalf("%s %q: %v", set.Key, c, err)
			}
			fmt.Fprintln(&b, rr.String())
		}
	}
	return b.String()
}

func mustVerify(t *testing.T, step string, s served) {
	t.Helper()
	if out, err := verify(t, s.text(t)); err != nil {
		t.Fatalf("%s: dnssec-verify refused the served zone: %v\n%s", step, err, out)
	}
}

func del(name, typ string) rrset.Set { return rrset.Set{Key: rrset.Key{Name: name, Type: typ}} }

// TestZoneIncremental: a zone signed change by change stays valid for
// dnssec-verify after adds, deletions that change the NSEC chain, a new
// delegation and a type leaving a name; a new name re-signs only its own
// RRsets and its neighbour's NSEC.
func TestZoneIncremental(t *testing.T) {
	t.Parallel()
	modes := map[string]struct {
		nsec3  *NSEC3Params
		newMax int // RRsets a new name publishes
	}{
		"NSEC":              {nil, 5},
		"NSEC3":             {&NSEC3Params{}, 6},
		"NSEC3 with a salt": {&NSEC3Params{Iterations: 2, Salt: "aabbccdd"}, 6},
	}
	for name, m := range modes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testZoneIncremental(t, m.nsec3, m.newMax)
		})
	}
}

func testZoneIncremental(t *testing.T, nsec3 *NSEC3Params, newMax int) {
	now := time.Now()
	w := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(14 * 24 * time.Hour)}
	ksk, zsk := keyPair(t, ECDSAP256SHA256)
	z := NewZone(zone, ksk, zsk, 60, nsec3)
	s := served{}
	apply := func(step string, sets ...rrset.Set) Change {
		t.Helper()
		ch, err := z.Apply(sets, w)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		s.take(ch)
		mustVerify(t, step, s)
		return ch
	}
	initial := append(testSets(), z.DNSKEY(3600))
	if nsec3 != nil {
		initial = append(initial, NSEC3PARAM(zone, *nsec3, 0))
	}
	apply("initial", initial...)

	ch := apply("a new name", rrset.Set{Key: rrset.Key{Name: "new." + zone, Type: "AAAA"}, TTL: 60, Records: []string{"2001:db8::7"}})
	// The AAAA, RRSIG and denial record of new, and the denial record and
	// RRSIG of the one before it: nothing else.
	if len(ch.Upserts) > newMax || len(ch.Deletes) > 0 {
		var keys []string
		for _, u := range ch.Upserts {
			keys = append(keys, u.Key.String())
		}
		t.Errorf("a new name published %d RRsets (%v) and deleted %v; want at most %d", len(ch.Upserts), keys, ch.Deletes, newMax)
	}
	apply("a changed record", rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "A"}, TTL: 300, Records: []string{"192.0.2.2"}})
	apply("a name gone", del("deep.name."+zone, "TXT"))
	apply("a type leaving a name", del("www."+zone, "A"))
	apply("a new delegation with glue",
		rrset.Set{Key: rrset.Key{Name: "other." + zone, Type: "NS"}, TTL: 3600, Records: []string{"ns.other." + zone}},
		rrset.Set{Key: rrset.Key{Name: "ns.other." + zone, Type: "A"}, TTL: 3600, Records: []string{"192.0.2.55"}})
	apply("the delegation gone", del("other."+zone, "NS"), del("ns.other."+zone, "A"))
	var burst []rrset.Set
	for i := range 50 {
		burst = append(burst, rrset.Set{Key: rrset.Key{Name: fmt.Sprintf("h%02d.%s", i, zone), Type: "AAAA"}, TTL: 60,
			Records: []string{fmt.Sprintf("2001:db8::%x", i+1)}})
	}
	apply("a burst of 50", burst...)
	for i := range burst {
		burst[i].Records = nil
	}
	apply("the burst deleted", burst...)
	for k := range s {
		if (k.Type == "NSEC" || k.Type == "NSEC3") && strings.HasPrefix(k.Name, "h00.") {
			t.Error("the denial record of a deleted name is still served")
		}
	}
	denials := 0
	for k := range s {
		if k.Type == "NSEC" || k.Type == "NSEC3" {
			denials++
		}
	}
	// The apex, ns1, www, sub and new: deep.name went, and with it
	// (NSEC3) its empty non-terminal.
	if denials != 5 {
		t.Errorf("%d denial records served after the burst was deleted, want 5", denials)
	}
	if _, err := z.Apply([]rrset.Set{{Key: rrset.Key{Name: "www.example.com.", Type: "A"}, TTL: 60, Records: []string{"192.0.2.1"}}}, w); err == nil {
		t.Error("a name outside the zone was signed")
	}
}

// TestZoneResign: signatures near their expiry are found and replaced,
// and the zone stays valid.
func TestZoneResign(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ksk, zsk := keyPair(t, ED25519)
	z := NewZone(zone, ksk, zsk, 60, nil)
	short := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(2 * time.Hour)}
	ch, err := z.Apply(append(testSets(), z.DNSKEY(3600)), short)
	if err != nil {
		t.Fatal(err)
	}
	s := served{}
	s.take(ch)
	due := z.Expiring(now.Add(3 * time.Hour))
	if len(due) == 0 {
		t.Fatal("no signature found expiring within 3 h of a 2 h window")
	}
	long := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(30 * 24 * time.Hour)}
	sigs, err := z.Resign(due, long)
	if err != nil {
		t.Fatal(err)
	}
	s.take(Change{Upserts: sigs})
	if left := z.Expiring(now.Add(3 * time.Hour)); len(left) != 0 {
		t.Fatalf("still expiring after re-signing: %v", left)
	}
	mustVerify(t, "re-signed", s)
}

// TestZoneAdopt: a zone rebuilt from the same data, offered the
// signatures published before, publishes exactly what was published: it
// re-signs nothing still valid. A changed RRset, a signature by another
// key and one expiring before the horizon are signed anew.
func TestZoneAdopt(t *testing.T) {
	t.Parallel()
	now := time.Now()
	w := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(14 * 24 * time.Hour)}
	ksk, zsk := keyPair(t, ECDSAP256SHA256)
	first := NewZone(zone, ksk, zsk, 60, nil)
	sets := append(testSets(), first.DNSKEY(3600))
	if _, err := first.Apply(sets, w); err != nil {
		t.Fatal(err)
	}
	published := first.All()

	second := NewZone(zone, ksk, zsk, 60, nil)
	for _, s := range published {
		if s.Type == "RRSIG" {
			second.Adopt(s, now.Add(24*time.Hour))
		}
	}
	changed := rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "A"}, TTL: 300, Records: []string{"192.0.2.9"}}
	sets2 := append(testSets(), second.DNSKEY(3600))
	for i := range sets2 {
		if sets2[i].Key == changed.Key {
			sets2[i] = changed
		}
	}
	if _, err := second.Apply(sets2, w); err != nil {
		t.Fatal(err)
	}
	before := map[rrset.Key]rrset.Set{}
	for _, s := range published {
		before[s.Key] = s
	}
	s := served{}
	for _, set := range second.All() {
		s[set.Key] = set
		old := before[set.Key]
		switch {
		case set.Key == rrset.Key{Name: "www." + zone, Type: "RRSIG"}:
			if set.Equal(old) {
				t.Error("the RRSIG RRset of a changed RRset was not re-signed")
			}
		case set.Key == changed.Key:
		case !set.Equal(old):
			t.Errorf("%s differs after adopting the published signatures:\n%v\n%v", set.Key, old.Records, set.Records)
		}
	}
	mustVerify(t, "adopted", s)

	// Past the horizon, or by another key: signed anew.
	third := NewZone(zone, ksk, zsk, 60, nil)
	otherKSK, otherZSK := keyPair(t, ECDSAP256SHA256)
	foreign := NewZone(zone, otherKSK, otherZSK, 60, nil)
	if _, err := foreign.Apply(append(testSets(), foreign.DNSKEY(3600)), w); err != nil {
		t.Fatal(err)
	}
	for _, set := range foreign.All() {
		if set.Type == "RRSIG" {
			third.Adopt(set, now)
		}
	}
	for _, set := range published {
		if set.Type == "RRSIG" {
			third.Adopt(set, now.Add(15*24*time.Hour)) // all expire before
		}
	}
	if _, err := third.Apply(sets, w); err != nil {
		t.Fatal(err)
	}
	for _, set := range third.All() {
		if set.Type == "RRSIG" && set.Equal(before[set.Key]) {
			t.Errorf("%s adopted although every offered signature expires before the horizon", set.Key)
		}
	}
}

// TestWindowJitter: each RRset's expiry moves earlier by a fixed share of
// the jitter, different between RRsets, and never outside it.
func TestWindowJitter(t *testing.T) {
	t.Parallel()
	w := Window{Inception: window.Inception, Expiration: window.Expiration, Jitter: 24 * time.Hour}
	seen := map[time.Time]bool{}
	for i := range 20 {
		k := rrset.Key{Name: fmt.Sprintf("h%d.%s", i, zone), Type: "AAAA"}
		got := w.For(k)
		if got.Expiration.After(w.Expiration) || !got.Expiration.After(w.Expiration.Add(-w.Jitter-time.Second)) {
			t.Errorf("%s expires at %s, outside [%s, %s]", k, got.Expiration, w.Expiration.Add(-w.Jitter), w.Expiration)
		}
		if got != w.For(k) {
			t.Errorf("%s: two windows for one RRset", k)
		}
		seen[got.Expiration] = true
	}
	if len(seen) < 15 {
		t.Errorf("20 RRsets share %d expiry times: the jitter does not spread them", len(seen))
	}
	if plain := window.For(rrset.Key{Name: zone, Type: "SOA"}); plain != window {
		t.Errorf("a window without jitter changed: %v", plain)
	}
}

// sigsOver returns the signatures in the RRSIG RRset sigs that verify
// over set with key.
func sigsOver(t *testing.T, sigs, set rrset.Set, key Key) int {
	t.Helper()
	rrs, err := RRs(set)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range sigs.Records {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN RRSIG %s", sigs.Name, sigs.TTL, c))
		if err != nil {
			t.Fatal(err)
		}
		if sig := rr.(*dns.RRSIG); sig.TypeCovered == rrs[0].Header().Rrtype && sig.Verify(key.DNSKEY, rrs) == nil {
			n++
		}
	}
	return n
}

// TestZoneDropsEarlierSignatures: after changes, a name's RRSIG RRset
// holds one signature per type, over what the RRset holds now: none of
// what it held before, which a validator that stops at the first
// signature that fails (BIND) could try first.
func TestZoneDropsEarlierSignatures(t *testing.T) {
	t.Parallel()
	now := time.Now()
	w := Window{Inception: now.Add(-time.Hour), Expiration: now.Add(48 * time.Hour)}
	ksk, zsk := keyPair(t, ECDSAP256SHA256)
	z := NewZone(zone, ksk, zsk, 60, nil)
	s := served{}
	ch, err := z.Apply(append(testSets(), z.DNSKEY(3600)), w)
	if err != nil {
		t.Fatal(err)
	}
	s.take(ch)
	soa := func(serial int) rrset.Set {
		return rrset.Set{Key: rrset.Key{Name: zone, Type: "SOA"}, TTL: 3600,
			Records: []string{fmt.Sprintf("ns1.%s hostmaster.%s %d 10800 3600 604800 60", zone, zone, serial)}}
	}
	www := func(addr string) rrset.Set {
		return rrset.Set{Key: rrset.Key{Name: "www." + zone, Type: "AAAA"}, TTL: 300, Records: []string{addr}}
	}
	for serial := 8; serial <= 12; serial++ {
		ch, err := z.Apply([]rrset.Set{soa(serial), www(fmt.Sprintf("2001:db8::%d", serial))}, w)
		if err != nil {
			t.Fatal(err)
		}
		s.take(ch)
	}
	apex, names := s[rrset.Key{Name: zone, Type: "RRSIG"}], s[rrset.Key{Name: "www." + zone, Type: "RRSIG"}]
	for serial := 8; serial <= 12; serial++ {
		want := 0
		if serial == 12 {
			want = 1
		}
		if got := sigsOver(t, apex, soa(serial), zsk); got != want {
			t.Errorf("signatures of SOA serial %d at the apex: %d, want %d", serial, got, want)
		}
	}
	for addr, want := range map[string]int{"2001:db8::12": 1, "2001:db8::11": 0, "2001:db8::10": 0} {
		if got := sigsOver(t, names, www(addr), zsk); got != want {
			t.Errorf("signatures of www AAAA %s: %d, want %d", addr, got, want)
		}
	}
	mustVerify(t, "after changes", s)
	for _, name := range []string{zone, "www." + zone} {
		if n, types := len(s[rrset.Key{Name: name, Type: "RRSIG"}].Records), len(z.types[name])+1; n != types {
			t.Errorf("%s: %d signatures for %d types (its NSEC included)", name, n, types)
		}
	}
}
