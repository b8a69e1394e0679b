package signer

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zonecast/zonecast/internal/dnssec"
	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/rrset"
)

const zone = "signed.example."

func config(t *testing.T) Config {
	t.Helper()
	ksk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, true, 3600)
	if err != nil {
		t.Fatal(err)
	}
	zsk, err := dnssec.Generate(zone, dnssec.ECDSAP256SHA256, false, 3600)
	if err != nil {
		t.Fatal(err)
	}
	return Config{Zone: zone, KSK: ksk, ZSK: zsk, NS: []string{"ns1." + zone}, NSTTL: 3600, KeyTTL: 3600,
		SOA:      SOA{Refresh: 10800, Retry: 3600, Expire: 604800, Minimum: 60, TTL: 3600},
		Validity: 14 * 24 * time.Hour, Refresh: 3 * 24 * time.Hour, Jitter: 24 * time.Hour}
}

func set(name, typ string, records ...string) rrset.Set {
	return rrset.Set{Key: rrset.Key{Name: name, Type: typ}, TTL: 60, Records: records}
}

func source() []rrset.Set {
	return []rrset.Set{
		set("ns1."+zone, "A", "192.0.2.53"),
		set("www."+zone, "AAAA", "2001:db8::1"),
		set("mail."+zone, "A", "192.0.2.25"),
	}
}

// state is what the stream holds after the published changes.
type state map[rrset.Key]rrset.Set

func (st state) take(ch Change) {
	for _, k := range ch.Deletes {
		delete(st, k)
	}
	for _, s := range ch.Upserts {
		st[s.Key] = s
	}
}

func (st state) sets() []rrset.Set {
	var out []rrset.Set
	for _, s := range st {
		out = append(out, s)
	}
	return out
}

func keys(ch Change) []string {
	var out []string
	for _, u := range ch.Upserts {
		out = append(out, "+"+u.Key.String())
	}
	for _, k := range ch.Deletes {
		out = append(out, "-"+k.String())
	}
	slices.Sort(out)
	return out
}

func TestSignerPublishesTheSignedZone(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := New(config(t))
	ch, err := s.Apply(source(), 10, now)
	if err != nil {
		t.Fatal(err)
	}
	st := state{}
	st.take(ch)
	for _, k := range []rrset.Key{{Name: zone, Type: "SOA"}, {Name: zone, Type: "NS"}, {Name: zone, Type: "DNSKEY"},
		{Name: zone, Type: "NSEC"}, {Name: zone, Type: "RRSIG"}, {Name: "www." + zone, Type: "RRSIG"},
		{Name: "www." + zone, Type: "NSEC"}, {Name: "www." + zone, Type: "AAAA"}} {
		if _, ok := st[k]; !ok {
			t.Errorf("%s not published", k)
		}
	}
	if soa := st[rrset.Key{Name: zone, Type: "SOA"}]; len(soa.Records) != 1 || !strings.Contains(soa.Records[0], " 10 10800 ") {
		t.Errorf("SOA = %v, want serial 10 (the stream sequence)", soa.Records)
	}
	if len(ch.Deletes) != 0 {
		t.Errorf("a first run withdrew %v", ch.Deletes)
	}

	// A change publishes its RRset, its name's signatures, the SOA and
	// the apex's signatures: nothing else.
	ch, err = s.Apply([]rrset.Set{set("www."+zone, "AAAA", "2001:db8::2")}, 11, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"+" + zone + " RRSIG", "+" + zone + " SOA", "+www." + zone + " AAAA", "+www." + zone + " RRSIG"}
	if got := keys(ch); !slices.Equal(got, want) {
		t.Errorf("a changed RRset published %v, want %v", got, want)
	}
	if _, err := s.Apply([]rrset.Set{set(zone, "SOA", "x. y. 1 2 3 4 5")}, 12, now); err == nil {
		t.Error("a source's SOA was signed")
	}
}

// TestSignerRestart: a new run that adopts what the last one published
// publishes nothing for an unchanged zone, and only the difference for a
// zone that changed while it was down.
func TestSignerRestart(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	first := New(cfg)
	ch, err := first.Apply(source(), 10, now)
	if err != nil {
		t.Fatal(err)
	}
	st := state{}
	st.take(ch)

	later := now.Add(2 * time.Hour)
	again := New(cfg)
	again.Adopt(st.sets(), later)
	ch, err = again.Apply(source(), 10, later)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Empty() {
		t.Errorf("a restart over an unchanged zone published %v", keys(ch))
	}

	// mail went and www changed while the signer was down.
	down := New(cfg)
	down.Adopt(st.sets(), later)
	changed := []rrset.Set{set("ns1."+zone, "A", "192.0.2.53"), set("www."+zone, "AAAA", "2001:db8::9")}
	ch, err = down.Apply(changed, 14, later)
	if err != nil {
		t.Fatal(err)
	}
	got := keys(ch)
	for _, w := range []string{"-mail." + zone + " A", "-mail." + zone + " NSEC", "-mail." + zone + " RRSIG",
		"+www." + zone + " AAAA", "+" + zone + " SOA"} {
		if !slices.Contains(got, w) {
			t.Errorf("restart after changes: %s missing from %v", w, got)
		}
	}
	if slices.Contains(got, "+ns1."+zone+" RRSIG") || slices.Contains(got, "+"+zone+" DNSKEY") {
		t.Errorf("restart after changes re-signed what had not changed: %v", got)
	}
}

// TestSignerRefresh: signatures are made again before they expire, and
// only those due.
func TestSignerRefresh(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := New(cfg)
	if _, err := s.Apply(source(), 10, now); err != nil {
		t.Fatal(err)
	}
	if ch, err := s.Refresh(now.Add(time.Hour)); err != nil || !ch.Empty() {
		t.Fatalf("refresh an hour after signing: %v, %v", keys(ch), err)
	}
	// Between the first and the last jittered expiry minus the refresh
	// horizon: some are due, not all.
	at := now.Add(cfg.Validity - cfg.Refresh - cfg.Jitter/2)
	due, all := len(s.zone.Expiring(at.Add(cfg.Refresh))), len(s.zone.Expiring(now.Add(cfg.Validity+time.Hour)))
	if due == 0 || due == all {
		t.Errorf("half way through the jitter %d of %d signatures are due: the jitter does not spread them", due, all)
	}
	ch, err := s.Refresh(at)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ch.Upserts {
		if u.Type != "RRSIG" {
			t.Errorf("refresh published %s", u.Key)
		}
	}
	if len(ch.Upserts) == 0 {
		t.Error("refresh with signatures due published nothing")
	}
	if _, err := s.Refresh(now.Add(cfg.Validity - cfg.Refresh + time.Minute)); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.Refresh(now.Add(cfg.Validity - cfg.Refresh + time.Minute)); !left.Empty() {
		t.Errorf("signatures still due after a refresh: %v", keys(left))
	}
}

// TestSignerRestartFromTheStream: what the stream gives back (each RRset
// encoded and decoded as a signer's message, in canonical form) is what a
// new run would publish: nothing is published again, with NSEC3 too.
func TestSignerRestartFromTheStream(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.NSEC3 = &dnssec.NSEC3Params{Iterations: 1, Salt: "ab12"}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ch, err := New(cfg).Apply(source(), 10, now)
	if err != nil {
		t.Fatal(err)
	}
	var replayed []rrset.Set
	for _, u := range ch.Upserts {
		b, err := events.EncodeSigned(events.Message{Version: 1, Name: u.Name, Type: u.Type, Origin: "signer", TTL: u.TTL, Records: u.Records})
		if err != nil {
			t.Fatalf("%s: %v", u.Key, err)
		}
		m, err := events.DecodeSigned(b)
		if err != nil {
			t.Fatal(err)
		}
		replayed = append(replayed, rrset.Set{Key: m.Key(), TTL: m.TTL, Records: m.Records})
	}
	again := New(cfg)
	again.Adopt(replayed, now.Add(time.Hour))
	if ch, err := again.Apply(source(), 10, now.Add(time.Hour)); err != nil || !ch.Empty() {
		t.Errorf("a restart from the stream published %v (%v)", keys(ch), err)
	}
}

// TestSignerPacesTheSOA: with SOAEvery, changes that come quicker than it
// are signed without moving the SOA; the serial of the last one follows
// once SOAEvery has passed (FlushSOA), and a later change moves it at once.
func TestSignerPacesTheSOA(t *testing.T) {
	t.Parallel()
	cfg := config(t)
	cfg.SOAEvery = time.Second
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := New(cfg)
	if _, err := s.Apply(source(), 10, now); err != nil {
		t.Fatal(err)
	}
	soaIn := func(ch Change) bool {
		return slices.ContainsFunc(ch.Upserts, func(u rrset.Set) bool { return u.Type == "SOA" })
	}
	ch, err := s.Apply([]rrset.Set{set("www."+zone, "AAAA", "2001:db8::2")}, 11, now.Add(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if soaIn(ch) || !slices.ContainsFunc(ch.Upserts, func(u rrset.Set) bool { return u.Name == "www."+zone && u.Type == "RRSIG" }) {
		t.Errorf("a change within SOAEvery published %v, want www's RRsets and no SOA", keys(ch))
	}
	if at, ok := s.SOADue(); !ok || !at.Equal(now.Add(time.Second)) {
		t.Fatalf("SOA due %v %v, want %v", at, ok, now.Add(time.Second))
	}
	if ch, _ := s.FlushSOA(now.Add(900 * time.Millisecond)); !ch.Empty() {
		t.Errorf("the SOA was flushed early: %v", keys(ch))
	}
	ch, err = s.FlushSOA(now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if serial, _ := s.Serial(); !soaIn(ch) || serial != 11 {
		t.Errorf("the flushed SOA: %v, serial %d; want the SOA at serial 11", keys(ch), serial)
	}
	if _, ok := s.SOADue(); ok {
		t.Error("an SOA still waits after the flush")
	}
	ch, _ = s.Apply([]rrset.Set{set("mail."+zone, "A", "192.0.2.26")}, 12, now.Add(3*time.Second))
	if serial, _ := s.Serial(); !soaIn(ch) || serial != 12 {
		t.Errorf("a change after a quiet SOAEvery: %v, serial %d; want the SOA at 12", keys(ch), serial)
	}
}
