package signer

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/rrset"
)

// validates checks that every signed RRset of st has a signature that
// verifies at now with a key of st's DNSKEY RRset, and that the DNSKEY
// RRset is signed by every KSK in wantKSKs; it returns the tags of the
// DNSKEY RRset.
func (st state) validates(t *testing.T, step string, now time.Time, wantKSKs ...uint16) []uint16 {
	t.Helper()
	dnskeys := map[uint16]*dns.DNSKEY{}
	var tags []uint16
	for _, c := range st[rrset.Key{Name: zone, Type: "DNSKEY"}].Records {
		rr, err := dns.NewRR(zone + " 3600 IN DNSKEY " + c)
		if err != nil {
			t.Fatal(err)
		}
		k := rr.(*dns.DNSKEY)
		dnskeys[k.KeyTag()] = k
		tags = append(tags, k.KeyTag())
	}
	slices.Sort(tags)
	for key, set := range st {
		if set.Type == "RRSIG" || (set.Type == "NS" && set.Name != zone) || set.Name == "ns.sub."+zone {
			continue
		}
		rrs, err := dnssec.RRs(set)
		if err != nil {
			t.Fatal(err)
		}
		signedBy := map[uint16]bool{}
		for _, c := range st[rrset.Key{Name: set.Name, Type: "RRSIG"}].Records {
			rr, err := dns.NewRR(fmt.Sprintf("%s 60 IN RRSIG %s", set.Name, c))
			if err != nil {
				t.Fatal(err)
			}
			sig := rr.(*dns.RRSIG)
			k := dnskeys[sig.KeyTag]
			if k != nil && sig.TypeCovered == rrs[0].Header().Rrtype && sig.Verify(k, rrs) == nil && sig.ValidityPeriod(now) {
				signedBy[sig.KeyTag] = true
			}
		}
		if len(signedBy) == 0 {
			t.Errorf("%s: %s has no signature that validates with the DNSKEY RRset %v", step, key, tags)
		}
		if set.Type == "DNSKEY" {
			for _, k := range wantKSKs {
				if !signedBy[k] {
					t.Errorf("%s: DNSKEY not signed by KSK %d", step, k)
				}
			}
		}
	}
	return tags
}

func generator(t *testing.T, ksk bool) func() (dnssec.Key, error) {
	return func() (dnssec.Key, error) { return dnssec.Generate(zone, dnssec.ECDSAP256SHA256, ksk, 3600) }
}

// TestZSKRollover: a ZSK rollover by pre-publication publishes the new
// ZSK first, signs with it from its Activate on, and withdraws the old
// one after Retire; the zone validates at every step.
func TestZSKRollover(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cfg.KSK.Created, cfg.ZSK.Created = t0, t0
	keys := []dnssec.Key{cfg.KSK, cfg.ZSK}
	s := New(cfg)
	st := state{}
	ch, err := s.Apply(source(), 10, t0)
	if err != nil {
		t.Fatal(err)
	}
	st.take(ch)

	if ZSKDue(zone, keys, t0.Add(29*24*time.Hour), 30*24*time.Hour) || !ZSKDue(zone, keys, t0.Add(30*24*time.Hour), 30*24*time.Hour) {
		t.Error("a 30-day ZSK lifetime is not due at 30 days, or due before")
	}
	r := Rollover{Prepublish: 2 * time.Hour, Retire: 24 * time.Hour}
	next, old, err := ZSKRollover(zone, keys, t0, r, generator(t, false))
	if err != nil {
		t.Fatal(err)
	}
	keys = []dnssec.Key{cfg.KSK, old, next}
	if _, _, err := ZSKRollover(zone, keys, t0.Add(time.Minute), r, generator(t, false)); !errors.Is(err, ErrRolloverInProgress) {
		t.Errorf("a second rollover before the first ends: %v", err)
	}
	if ZSKDue(zone, keys, t0.Add(time.Hour), time.Minute) {
		t.Error("a scheduled rollover is due while one is in progress")
	}
	steps := []struct {
		name      string
		at        time.Duration
		zsk       uint16
		published []uint16
	}{
		{"pre-published", 0, cfg.ZSK.Tag(), []uint16{cfg.KSK.Tag(), cfg.ZSK.Tag(), next.Tag()}},
		{"new ZSK signs", 2 * time.Hour, next.Tag(), []uint16{cfg.KSK.Tag(), cfg.ZSK.Tag(), next.Tag()}},
		{"old ZSK withdrawn", 26 * time.Hour, next.Tag(), []uint16{cfg.KSK.Tag(), next.Tag()}},
	}
	for _, step := range steps {
		now := t0.Add(step.at)
		ks, _, err := Plan(zone, keys, now)
		if err != nil {
			t.Fatal(err)
		}
		if ks.ZSK.Tag() != step.zsk {
			t.Errorf("%s: ZSK %d, want %d", step.name, ks.ZSK.Tag(), step.zsk)
		}
		ch, err := s.SetKeys(ks, now)
		if err != nil {
			t.Fatal(err)
		}
		st.take(ch)
		want := slices.Clone(step.published)
		slices.Sort(want)
		if got := st.validates(t, step.name, now, cfg.KSK.Tag()); !slices.Equal(got, want) {
			t.Errorf("%s: DNSKEY RRset %v, want %v", step.name, got, want)
		}
	}
	// Once the new ZSK signs, no signature of the old one is left.
	for _, set := range st {
		if set.Type != "RRSIG" {
			continue
		}
		for _, c := range set.Records {
			rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN RRSIG %s", set.Name, c))
			if sig := rr.(*dns.RRSIG); sig.KeyTag == cfg.ZSK.Tag() {
				t.Errorf("%s still has a signature of the old ZSK", set.Name)
			}
		}
	}
}

// TestKSKRollover: a KSK rollover signs the DNSKEY RRset with both KSKs
// and asks the parent for both DS (CDS, CDNSKEY); completing it leaves
// only the new KSK everywhere.
func TestKSKRollover(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	keys := []dnssec.Key{cfg.KSK, cfg.ZSK}
	s := New(cfg)
	st := state{}
	ch, err := s.Apply(source(), 10, t0)
	if err != nil {
		t.Fatal(err)
	}
	st.take(ch)
	cds := func() int { return len(st[rrset.Key{Name: zone, Type: "CDS"}].Records) }
	if cds() != 1 || len(st[rrset.Key{Name: zone, Type: "CDNSKEY"}].Records) != 1 {
		t.Fatalf("CDS %v CDNSKEY %v, want the KSK's", st[rrset.Key{Name: zone, Type: "CDS"}], st[rrset.Key{Name: zone, Type: "CDNSKEY"}])
	}

	next, err := KSKRollover(zone, keys, t0, generator(t, true))
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, next)
	if _, err := KSKRollover(zone, keys, t0, generator(t, true)); !errors.Is(err, ErrRolloverInProgress) {
		t.Errorf("a second KSK rollover: %v", err)
	}
	ks, _, err := Plan(zone, keys, t0)
	if err != nil {
		t.Fatal(err)
	}
	if ch, err = s.SetKeys(ks, t0); err != nil {
		t.Fatal(err)
	}
	st.take(ch)
	st.validates(t, "both KSKs", t0, cfg.KSK.Tag(), next.Tag())
	if cds() != 2 {
		t.Errorf("during the rollover CDS holds %d records, want both KSKs'", cds())
	}

	retired, err := CompleteKSKRollover(zone, keys, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(retired) != 1 || retired[0].Tag() != cfg.KSK.Tag() {
		t.Fatalf("completing retired %v, want the old KSK", retired)
	}
	keys = []dnssec.Key{retired[0], cfg.ZSK, next}
	now := t0.Add(time.Hour)
	if ks, _, err = Plan(zone, keys, now); err != nil {
		t.Fatal(err)
	}
	if ch, err = s.SetKeys(ks, now); err != nil {
		t.Fatal(err)
	}
	st.take(ch)
	if tags := st.validates(t, "new KSK only", now, next.Tag()); slices.Contains(tags, cfg.KSK.Tag()) {
		t.Errorf("the old KSK is still in the DNSKEY RRset %v", tags)
	}
	if cds() != 1 {
		t.Errorf("after the rollover CDS holds %d records, want the new KSK's", cds())
	}
	if _, err := CompleteKSKRollover(zone, keys, now); err == nil {
		t.Error("completing a rollover that is not in progress")
	}
}

// TestSupersededZSKRetired: a rollover whose old key file was not
// updated (its successor's was saved) leaves a ZSK without an end;
// Superseded retires it as ZSKRollover would have, and nothing else.
func TestSupersededZSKRetired(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cfg.KSK.Created, cfg.ZSK.Created = t0, t0
	r := Rollover{Prepublish: 2 * time.Hour, Retire: 24 * time.Hour}
	keys := []dnssec.Key{cfg.KSK, cfg.ZSK}
	if got := Superseded(keys, r); len(got) != 0 {
		t.Fatalf("a zone with one ZSK: %d superseded", len(got))
	}
	next, old, err := ZSKRollover(zone, keys, t0.Add(time.Hour), r, generator(t, false))
	if err != nil {
		t.Fatal(err)
	}
	if got := Superseded([]dnssec.Key{cfg.KSK, old, next}, r); len(got) != 0 {
		t.Errorf("a rollover written whole: %d superseded", len(got))
	}
	got := Superseded([]dnssec.Key{cfg.KSK, cfg.ZSK, next}, r) // old's update lost
	if len(got) != 1 || got[0].Tag() != cfg.ZSK.Tag() || !got[0].Inactive.Equal(old.Inactive) || !got[0].Delete.Equal(old.Delete) {
		t.Fatalf("superseded %v, want ZSK %d inactive %s, deleted %s", got, cfg.ZSK.Tag(), old.Inactive, old.Delete)
	}
	ks, _, err := Plan(zone, []dnssec.Key{cfg.KSK, got[0], next}, old.Delete.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Published) != 2 || ks.ZSK.Tag() != next.Tag() {
		t.Errorf("after the retirement: ZSK %d, DNSKEY %v; want ZSK %d beside the KSK only", ks.ZSK.Tag(), tags(ks.Published), next.Tag())
	}
}

func tags(keys []dnssec.Key) []uint16 {
	out := make([]uint16, len(keys))
	for i, k := range keys {
		out[i] = k.Tag()
	}
	return out
}
